using System.Text.Json;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using KmsEmulator.Api.Hosting;
using Microsoft.Extensions.DependencyInjection;
using static KmsEmulator.EndToEnd.Tests.StrictPrincipals;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>
/// AWS managed keys: the predefined alias/aws/* aliases, the key KMS creates behind one on first use, its managed key
/// policy (usable only through its service, readable by the account) and every change a customer is refused.
/// </summary>
public sealed class AwsManagedKeyTests : IAsyncLifetime
{
    private const string Account = "111122223333";
    private const string Ebs = "alias/aws/ebs";
    private EmulatorHost _host = null!;

    // Permissive mode with dave configured as a caller that comes through EC2 (kms:ViaService ec2.us-east-1.amazonaws.com),
    // which is how EBS uses alias/aws/ebs; unconfigured callers are the account root.
    public async Task InitializeAsync() => _host = await EmulatorHost.StartWithConfigAsync(new
    {
        Kms = new { Principals = new[] { Admin, StrictPrincipals.Ebs }.Select(p => p.ToConfiguration()).ToArray() },
    });

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task A_predefined_alias_is_listed_without_a_key_until_first_use_then_DescribeKey_creates_the_managed_key()
    {
        var account = Accounts.NewAccountId();
        using var kms = _host.CreateClient(accessKeyId: account);

        var before = Assert.Single(await kms.AllAliasesAsync(), a => a.AliasName == "alias/aws/s3");
        Assert.Null(before.TargetKeyId);
        Assert.Equal($"arn:aws:kms:us-east-1:{account}:alias/aws/s3", before.AliasArn);
        Assert.Empty(await kms.AllKeysAsync());

        var key = await kms.DescribeAsync("alias/aws/s3");

        Assert.Equal("AWS", key.KeyManager.Value);
        Assert.Equal(KeyState.Enabled, key.KeyState);
        Assert.Equal("SYMMETRIC_DEFAULT", key.KeySpec.Value);
        Assert.Equal("ENCRYPT_DECRYPT", key.KeyUsage.Value);
        Assert.Equal("AWS_KMS", key.Origin.Value);
        Assert.Equal("Default key that protects my S3 objects when no other key is defined", key.Description);
        Assert.Equal(account, key.AWSAccountId);
        var after = Assert.Single(await kms.AllAliasesAsync(), a => a.AliasName == "alias/aws/s3");
        Assert.Equal(key.KeyId, after.TargetKeyId);
        Assert.NotNull(after.CreationDate);
        Assert.Equal(key.KeyId, Assert.Single(await kms.AllKeysAsync()).KeyId);
        Assert.Equal(key.KeyId, (await kms.DescribeAsync($"arn:aws:kms:us-east-1:{account}:alias/aws/s3")).KeyId);
        Assert.Equal("alias/aws/s3", Assert.Single(await kms.AllAliasesAsync(key.KeyId)).AliasName);
    }

    [Fact]
    public async Task Each_account_and_region_gets_its_own_managed_key()
    {
        using var first = _host.CreateClient(accessKeyId: Accounts.NewAccountId());
        using var second = _host.CreateClient(accessKeyId: Accounts.NewAccountId());
        using var elsewhere = _host.CreateClient(accessKeyId: Accounts.NewAccountId(), region: "eu-west-1");

        var ids = new[]
        {
            (await first.DescribeAsync("alias/aws/s3")).KeyId,
            (await first.DescribeAsync("alias/aws/rds")).KeyId,
            (await second.DescribeAsync("alias/aws/s3")).KeyId,
            (await elsewhere.DescribeAsync("alias/aws/s3")).KeyId,
        };

        Assert.Equal(ids.Length, ids.Distinct().Count());
    }

    [Fact]
    public async Task Concurrent_first_uses_create_one_key()
    {
        using var kms = _host.CreateClient(accessKeyId: Accounts.NewAccountId());

        var described = await Task.WhenAll(Enumerable.Range(0, 12).Select(_ => kms.DescribeAsync("alias/aws/secretsmanager")));

        Assert.Single(described.Select(k => k.KeyId).Distinct());
        Assert.Single(await kms.AllKeysAsync());
    }

    [Fact]
    public async Task The_service_uses_the_key_on_the_callers_behalf_but_direct_use_is_denied()
    {
        using var viaEc2 = _host.Client(StrictPrincipals.Ebs);
        using var root = _host.CreateClient();

        var encrypted = await viaEc2.EncryptTextAsync(Ebs, "volume key");
        var key = await root.DescribeAsync(Ebs);
        Assert.Equal(key.Arn, encrypted.KeyId);
        Assert.Equal("volume key", Blob.Text((await viaEc2.DecryptBlobAsync(encrypted.CiphertextBlob)).Plaintext));
        var dataKey = await viaEc2.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = Ebs, KeySpec = DataKeySpec.AES_256 });
        Assert.Equal(key.Arn, dataKey.KeyId);

        // The account itself may read the key, not use it: the policy allows use only through EC2.
        await KmsAssert.ErrorAsync(
            () => root.EncryptTextAsync(Ebs, "direct"),
            "AccessDeniedException",
            $"User: arn:aws:iam::{Account}:root is not authorized to perform: kms:Encrypt on resource: {key.Arn} because no resource-based policy allows the kms:Encrypt action");
        await KmsAssert.ErrorAsync(() => root.DecryptBlobAsync(encrypted.CiphertextBlob), "AccessDeniedException");
        // Through EC2, but not the service the key belongs to.
        await KmsAssert.ErrorAsync(() => viaEc2.EncryptTextAsync("alias/aws/s3", "wrong service"), "AccessDeniedException");
    }

    [Fact]
    public async Task The_key_has_the_managed_policy_and_yearly_rotation()
    {
        using var root = _host.CreateClient();
        var key = await root.DescribeAsync("alias/aws/lambda");

        var policy = JsonDocument.Parse((await root.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = key.KeyId, PolicyName = "default" })).Policy);
        var statements = policy.RootElement.GetProperty("Statement").EnumerateArray().ToList();
        Assert.Equal(2, statements.Count);
        var use = statements[0];
        Assert.Equal("*", use.GetProperty("Principal").GetProperty("AWS").GetString());
        var condition = use.GetProperty("Condition").GetProperty("StringEquals");
        Assert.Equal(Account, condition.GetProperty("kms:CallerAccount").GetString());
        Assert.Equal("lambda.us-east-1.amazonaws.com", condition.GetProperty("kms:ViaService").GetString());
        Assert.Equal($"arn:aws:iam::{Account}:root", statements[1].GetProperty("Principal").GetProperty("AWS").GetString());

        var rotation = await root.GetKeyRotationStatusAsync(new GetKeyRotationStatusRequest { KeyId = key.KeyId });
        Assert.True(rotation.KeyRotationEnabled);
        Assert.Equal(365, rotation.RotationPeriodInDays);
        Assert.Equal(key.CreationDate!.Value.AddDays(365), rotation.NextRotationDate);
    }

    [Fact]
    public async Task The_key_rotates_itself_after_a_year()
    {
        using var viaEc2 = _host.Client(StrictPrincipals.Ebs);
        using var root = _host.CreateClient();
        var before = await viaEc2.EncryptTextAsync(Ebs, "before rotation");
        var key = await root.DescribeAsync(Ebs);

        await _host.Services.GetRequiredService<EmulatorClock>().AdvanceAsync(TimeSpan.FromDays(366));

        var rotations = await root.ListKeyRotationsAsync(new ListKeyRotationsRequest { KeyId = key.KeyId });
        Assert.Contains(rotations.Rotations, r => r.RotationType == RotationType.AUTOMATIC);
        Assert.NotEqual(key.CurrentKeyMaterialId, (await root.DescribeAsync(Ebs)).CurrentKeyMaterialId);
        Assert.Equal("before rotation", Blob.Text((await viaEc2.DecryptBlobAsync(before.CiphertextBlob)).Plaintext));
    }

    [Fact]
    public async Task Every_change_a_customer_might_try_is_refused()
    {
        using var root = _host.CreateClient();
        var key = await root.DescribeAsync(Ebs);
        var own = await root.NewKeyAsync();
        var id = key.KeyId;

        var denied = new (string Action, Func<Task> Call)[]
        {
            ("ScheduleKeyDeletion", () => root.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = id, PendingWindowInDays = 7 })),
            ("DisableKey", () => root.DisableKeyAsync(new DisableKeyRequest { KeyId = id })),
            ("PutKeyPolicy", () => root.PutKeyPolicyAsync(new PutKeyPolicyRequest { KeyId = id, PolicyName = "default", Policy = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" })),
            ("EnableKeyRotation", () => root.EnableKeyRotationAsync(new EnableKeyRotationRequest { KeyId = id, RotationPeriodInDays = 90 })),
            ("DisableKeyRotation", () => root.DisableKeyRotationAsync(new DisableKeyRotationRequest { KeyId = id })),
            ("RotateKeyOnDemand", () => root.RotateKeyOnDemandAsync(new RotateKeyOnDemandRequest { KeyId = id })),
            ("TagResource", () => root.TagResourceAsync(new TagResourceRequest { KeyId = id, Tags = [new Tag { TagKey = "k", TagValue = "v" }] })),
            ("UpdateKeyDescription", () => root.UpdateKeyDescriptionAsync(new UpdateKeyDescriptionRequest { KeyId = id, Description = "mine" })),
            ("CreateAlias", () => root.CreateAliasAsync(new CreateAliasRequest { AliasName = $"alias/mine-{Guid.NewGuid():N}", TargetKeyId = id })),
        };
        foreach (var (action, call) in denied)
        {
            await KmsAssert.ErrorAsync(
                call,
                "AccessDeniedException",
                $"User: arn:aws:iam::{Account}:root is not authorized to perform: kms:{action} on resource: {key.Arn} because no resource-based policy allows the kms:{action} action");
        }

        // The alias is reserved: it cannot be moved to another key, deleted, or made anew.
        await KmsAssert.ErrorAsync(() => root.UpdateAliasAsync(new UpdateAliasRequest { AliasName = Ebs, TargetKeyId = own.KeyId }), "InvalidAliasNameException");
        await KmsAssert.ErrorAsync(() => root.DeleteAliasAsync(new DeleteAliasRequest { AliasName = Ebs }), "InvalidAliasNameException");
        await KmsAssert.ErrorAsync(() => root.CreateAliasAsync(new CreateAliasRequest { AliasName = "alias/aws/mine", TargetKeyId = own.KeyId }), "InvalidAliasNameException");

        var unchanged = await root.DescribeAsync(Ebs);
        Assert.Equal(KeyState.Enabled, unchanged.KeyState);
        Assert.Equal(key.Description, unchanged.Description);
        Assert.Equal(id, unchanged.KeyId);
    }

    [Fact]
    public async Task The_managed_key_and_its_alias_survive_a_restart()
    {
        var account = Accounts.NewAccountId();
        string keyId;
        using (var kms = _host.CreateClient(accessKeyId: account))
        {
            keyId = (await kms.DescribeAsync("alias/aws/dynamodb")).KeyId;
        }

        _host = await _host.RestartAsync();

        using (var kms = _host.CreateClient(accessKeyId: account))
        {
            Assert.Equal(keyId, Assert.Single(await kms.AllAliasesAsync(), a => a.AliasName == "alias/aws/dynamodb").TargetKeyId);
            Assert.Equal(keyId, (await kms.DescribeAsync("alias/aws/dynamodb")).KeyId);
            Assert.Equal("AWS", (await kms.DescribeAsync(keyId)).KeyManager.Value);
            Assert.Single(await kms.AllKeysAsync());
        }
    }

    [Fact]
    public async Task An_alias_under_aws_that_is_not_predefined_names_nothing()
    {
        using var kms = _host.CreateClient(accessKeyId: Accounts.NewAccountId());

        await KmsAssert.ErrorAsync(() => kms.DescribeAsync("alias/aws/not-a-service"), "NotFoundException");
        Assert.Empty(await kms.AllKeysAsync());
    }
}
