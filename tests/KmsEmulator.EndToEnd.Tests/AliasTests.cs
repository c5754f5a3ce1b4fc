using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>CreateAlias, UpdateAlias, DeleteAlias, ListAliases and the identifier forms operations accept.</summary>
public sealed class AliasTests(HostFixture fixture) : IClassFixture<HostFixture>
{
    private readonly AmazonKeyManagementServiceClient _kms = fixture.Kms;
    private readonly EmulatorHost _host = fixture.Host;

    [Fact]
    public async Task CreateAlias_lists_the_alias_with_name_ARN_target_and_dates()
    {
        var key = await _kms.NewKeyAsync();
        var now = _host.Clock.GetUtcNow();

        var alias = await _kms.NewAliasAsync(key.Arn);

        var entry = Assert.Single(await _kms.AllAliasesAsync(), a => a.AliasName == alias);
        Assert.Equal(Accounts.AliasArn(alias), entry.AliasArn);
        Assert.Equal(key.KeyId, entry.TargetKeyId);
        Assert.NotNull(entry.CreationDate);
        Assert.InRange(new DateTimeOffset(entry.CreationDate.Value.ToUniversalTime()), now.AddSeconds(-1), now.AddSeconds(1));
        Assert.Equal(entry.CreationDate, entry.LastUpdatedDate);
    }

    [Fact]
    public async Task CreateAlias_without_the_alias_prefix_returns_ValidationException()
    {
        var key = await _kms.NewKeyAsync();

        await KmsAssert.ValidationAsync(
            () => _kms.CreateAliasAsync(new CreateAliasRequest { AliasName = "no-prefix", TargetKeyId = key.KeyId }),
            "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html");
    }

    [Fact]
    public async Task CreateAlias_with_a_taken_name_returns_AlreadyExistsException()
    {
        var first = await _kms.NewKeyAsync();
        var second = await _kms.NewKeyAsync();
        var alias = await _kms.NewAliasAsync(first.KeyId);

        await KmsAssert.ErrorAsync<AlreadyExistsException>(
            () => _kms.CreateAliasAsync(new CreateAliasRequest { AliasName = alias, TargetKeyId = second.KeyId }),
            $"An alias with the name {Accounts.AliasArn(alias)} already exists");
        Assert.Equal(first.KeyId, (await _kms.DescribeAsync(alias)).KeyId);
    }

    [Fact]
    public async Task CreateAlias_for_an_unknown_key_returns_NotFoundException()
    {
        var keyId = Guid.NewGuid().ToString();

        await KmsAssert.KeyDoesNotExistAsync(
            () => _kms.CreateAliasAsync(new CreateAliasRequest { AliasName = "alias/e2e-orphan", TargetKeyId = keyId }),
            Accounts.KeyArn(keyId));
    }

    [Fact]
    public async Task CreateAlias_does_not_accept_an_alias_as_its_target()
    {
        var key = await _kms.NewKeyAsync();
        var alias = await _kms.NewAliasAsync(key.KeyId);

        await KmsAssert.InvalidKeyIdAsync(
            () => _kms.CreateAliasAsync(new CreateAliasRequest { AliasName = "alias/e2e-second-" + Guid.NewGuid().ToString("N")[..8], TargetKeyId = alias }),
            alias);
    }

    [Fact]
    public async Task UpdateAlias_moves_the_alias_to_another_key()
    {
        var first = await _kms.NewKeyAsync();
        var second = await _kms.NewKeyAsync();
        var alias = await _kms.NewAliasAsync(first.KeyId);
        var created = Assert.Single(await _kms.AllAliasesAsync(first.KeyId));
        _host.Clock.Advance(TimeSpan.FromMinutes(5));

        await _kms.UpdateAliasAsync(new UpdateAliasRequest { AliasName = alias, TargetKeyId = second.Arn });

        Assert.Empty(await _kms.AllAliasesAsync(first.KeyId));
        var moved = Assert.Single(await _kms.AllAliasesAsync(second.KeyId));
        Assert.Equal(alias, moved.AliasName);
        Assert.Equal(second.KeyId, moved.TargetKeyId);
        Assert.Equal(created.CreationDate, moved.CreationDate);
        Assert.InRange(moved.LastUpdatedDate!.Value - created.CreationDate!.Value, TimeSpan.FromMinutes(5) - TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(5) + TimeSpan.FromMilliseconds(1));
        Assert.Equal(second.Arn, (await _kms.EncryptTextAsync(alias, "via moved alias")).KeyId);
    }

    [Fact]
    public async Task UpdateAlias_of_an_unknown_alias_returns_NotFoundException()
    {
        var key = await _kms.NewKeyAsync();

        await KmsAssert.AliasNotFoundAsync(
            () => _kms.UpdateAliasAsync(new UpdateAliasRequest { AliasName = "alias/e2e-never-created", TargetKeyId = key.KeyId }),
            Accounts.AliasArn("alias/e2e-never-created"));
    }

    [Fact]
    public async Task DeleteAlias_removes_the_alias_but_not_the_key()
    {
        var key = await _kms.NewKeyAsync();
        var alias = await _kms.NewAliasAsync(key.KeyId);

        await _kms.DeleteAliasAsync(new DeleteAliasRequest { AliasName = alias });

        Assert.DoesNotContain(await _kms.AllAliasesAsync(), a => a.AliasName == alias);
        await KmsAssert.AliasNotFoundAsync(() => _kms.EncryptTextAsync(alias, "x"), Accounts.AliasArn(alias));
        await KmsAssert.AliasNotFoundAsync(() => _kms.DeleteAliasAsync(new DeleteAliasRequest { AliasName = alias }), Accounts.AliasArn(alias));
        Assert.Equal(KeyState.Enabled, (await _kms.DescribeAsync(key.KeyId)).KeyState);
    }

    [Fact]
    public async Task Cryptographic_operations_accept_alias_names_and_alias_ARNs()
    {
        var key = await _kms.NewKeyAsync();
        var alias = await _kms.NewAliasAsync(key.KeyId);
        var aliasArn = Accounts.AliasArn(alias);

        foreach (var identifier in new[] { alias, aliasArn })
        {
            var encrypted = await _kms.EncryptTextAsync(identifier, "aliased");
            var dataKey = await _kms.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = identifier, KeySpec = DataKeySpec.AES_256 });
            var withoutPlaintext = await _kms.GenerateDataKeyWithoutPlaintextAsync(new GenerateDataKeyWithoutPlaintextRequest { KeyId = identifier, NumberOfBytes = 16 });
            var decrypted = await _kms.DecryptBlobAsync(encrypted.CiphertextBlob, keyId: identifier);
            var reEncrypted = await _kms.ReEncryptAsync(new ReEncryptRequest
            {
                CiphertextBlob = Blob.Copy(encrypted.CiphertextBlob),
                SourceKeyId = identifier,
                DestinationKeyId = identifier,
            });

            Assert.Equal(key.Arn, encrypted.KeyId);
            Assert.Equal(key.Arn, dataKey.KeyId);
            Assert.Equal(key.Arn, withoutPlaintext.KeyId);
            Assert.Equal("aliased", Blob.Text(decrypted.Plaintext));
            Assert.Equal(key.Arn, reEncrypted.KeyId);
            Assert.Equal(key.Arn, reEncrypted.SourceKeyId);
        }
    }

    [Fact]
    public async Task Operations_that_take_only_key_ids_reject_alias_names_with_NotFoundException()
    {
        var key = await _kms.NewKeyAsync();
        var alias = await _kms.NewAliasAsync(key.KeyId);

        foreach (var identifier in new[] { alias, Accounts.AliasArn(alias) })
        {
            await KmsAssert.InvalidKeyIdAsync(() => _kms.EnableKeyAsync(new EnableKeyRequest { KeyId = identifier }), identifier);
            await KmsAssert.InvalidKeyIdAsync(() => _kms.DisableKeyAsync(new DisableKeyRequest { KeyId = identifier }), identifier);
            await KmsAssert.InvalidKeyIdAsync(() => _kms.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = identifier }), identifier);
            await KmsAssert.InvalidKeyIdAsync(() => _kms.CancelKeyDeletionAsync(new CancelKeyDeletionRequest { KeyId = identifier }), identifier);
            await KmsAssert.InvalidKeyIdAsync(() => _kms.UpdateKeyDescriptionAsync(new UpdateKeyDescriptionRequest { KeyId = identifier, Description = "x" }), identifier);
            await KmsAssert.InvalidKeyIdAsync(() => _kms.TagResourceAsync(new TagResourceRequest { KeyId = identifier, Tags = [new Tag { TagKey = "k", TagValue = "v" }] }), identifier);
            await KmsAssert.InvalidKeyIdAsync(() => _kms.UntagResourceAsync(new UntagResourceRequest { KeyId = identifier, TagKeys = ["k"] }), identifier);
            await KmsAssert.InvalidKeyIdAsync(() => _kms.ListResourceTagsAsync(new ListResourceTagsRequest { KeyId = identifier }), identifier);
            await KmsAssert.InvalidKeyIdAsync(() => _kms.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = identifier, PolicyName = "default" }), identifier);
            await KmsAssert.InvalidKeyIdAsync(() => _kms.PutKeyPolicyAsync(new PutKeyPolicyRequest { KeyId = identifier, PolicyName = "default", Policy = "{}" }), identifier);
            await KmsAssert.InvalidKeyIdAsync(() => _kms.ListKeyPoliciesAsync(new ListKeyPoliciesRequest { KeyId = identifier }), identifier);
            await KmsAssert.InvalidKeyIdAsync(() => _kms.ListAliasesAsync(new ListAliasesRequest { KeyId = identifier }), identifier);
        }

        var described = await _kms.DescribeAsync(key.KeyId);
        Assert.Equal(KeyState.Enabled, described.KeyState);
        Assert.Empty(await _kms.TagsAsync(key.KeyId));
    }

    [Fact]
    public async Task An_unknown_alias_returns_NotFoundException_with_the_alias_ARN()
    {
        const string alias = "alias/e2e-does-not-exist";

        await KmsAssert.AliasNotFoundAsync(() => _kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = alias }), Accounts.AliasArn(alias));
        await KmsAssert.AliasNotFoundAsync(() => _kms.EncryptTextAsync(Accounts.AliasArn(alias), "x"), Accounts.AliasArn(alias));
        await KmsAssert.AliasNotFoundAsync(
            () => _kms.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = alias, KeySpec = DataKeySpec.AES_256 }),
            Accounts.AliasArn(alias));
    }

    [Fact]
    public async Task An_alias_ARN_of_another_region_returns_NotFoundException()
    {
        var key = await _kms.NewKeyAsync();
        var alias = await _kms.NewAliasAsync(key.KeyId);

        await KmsAssert.ErrorAsync<NotFoundException>(
            () => _kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = Accounts.AliasArn(alias, region: "eu-west-1") }),
            "Invalid arn eu-west-1");
    }

    [Fact]
    public async Task Aliases_vanish_with_their_key()
    {
        var key = await _kms.NewKeyAsync();
        var first = await _kms.NewAliasAsync(key.KeyId);
        var second = await _kms.NewAliasAsync(key.KeyId);
        Assert.Equal(2, (await _kms.AllAliasesAsync(key.KeyId)).Count);
        await _kms.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = key.KeyId, PendingWindowInDays = 7 });
        Assert.Equal(2, (await _kms.AllAliasesAsync(key.KeyId)).Count);

        _host.Clock.Advance(TimeSpan.FromDays(8));

        var remaining = await _kms.AllAliasesAsync();
        Assert.DoesNotContain(remaining, a => a.AliasName == first || a.AliasName == second);
        await KmsAssert.AliasNotFoundAsync(() => _kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = first }), Accounts.AliasArn(first));
        await KmsAssert.KeyDoesNotExistAsync(() => _kms.ListAliasesAsync(new ListAliasesRequest { KeyId = key.KeyId }), key.Arn);
    }

    [Fact]
    public async Task An_alias_cannot_point_at_a_key_of_another_account()
    {
        // CreateAlias is not an operation AWS allows across accounts, whatever the key policy says.
        using var other = fixture.Host.CreateClient(accessKeyId: "444455556666");
        var foreign = await other.NewKeyAsync("elsewhere");

        await KmsAssert.ErrorAsync(
            () => _kms.CreateAliasAsync(new CreateAliasRequest { AliasName = "alias/cross-" + Guid.NewGuid().ToString("N")[..8], TargetKeyId = foreign.Arn }),
            "AccessDeniedException");
    }
}

