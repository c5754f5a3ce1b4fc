using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using static KmsEmulator.EndToEnd.Tests.StrictPrincipals;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>
/// The default (permissive) mode relaxes authentication only: key policies, the lockout safety check, grants and the
/// identity policies of configured principals decide exactly as in strict mode.
/// </summary>
public sealed class PermissiveAuthorizationTests : IAsyncLifetime
{
    private const string Root = "arn:aws:iam::111122223333:root";
    private EmulatorHost _host = null!;

    // Permissive mode (the default), with principals configured: their signatures are not checked, their policies are.
    public async Task InitializeAsync() => _host = await EmulatorHost.StartWithConfigAsync(new
    {
        Kms = new { Principals = new[] { Admin, Alice, Bob }.Select(p => p.ToConfiguration()).ToArray() },
    });

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task A_key_policy_that_denies_Encrypt_denies_it_to_an_unconfigured_caller()
    {
        var policy = $$"""
            {"Version":"2012-10-17","Statement":[
              {"Sid":"Admin","Effect":"Allow","Principal":{"AWS":"{{Root}}"},"Action":"kms:*","Resource":"*"},
              {"Sid":"NoEncrypt","Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*"}]}
            """;
        using var kms = _host.CreateClient();
        var key = (await kms.CreateKeyAsync(new CreateKeyRequest { Policy = policy })).KeyMetadata;

        await KmsAssert.ErrorAsync(
            () => kms.EncryptTextAsync(key.KeyId, "no"),
            "AccessDeniedException",
            $"User: {Root} is not authorized to perform: kms:Encrypt on resource: {key.Arn} with an explicit deny in a resource-based policy");
        var dataKey = await kms.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = key.KeyId, NumberOfBytes = 32 });
        Assert.Equal(32, (await kms.DecryptBlobAsync(dataKey.CiphertextBlob)).Plaintext.Length);
    }

    [Fact]
    public async Task A_key_policy_that_does_not_allow_the_caller_denies_everything_but_what_it_allows()
    {
        // Allows the account root only DescribeKey and PutKeyPolicy (so the lockout check passes).
        var policy = $$"""
            {"Version":"2012-10-17","Statement":[
              {"Effect":"Allow","Principal":{"AWS":"{{Root}}"},"Action":["kms:DescribeKey","kms:PutKeyPolicy"],"Resource":"*"}]}
            """;
        using var kms = _host.CreateClient();
        var key = (await kms.CreateKeyAsync(new CreateKeyRequest { Policy = policy })).KeyMetadata;

        await kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = key.KeyId });
        await KmsAssert.ErrorAsync(() => kms.EncryptTextAsync(key.KeyId, "no"), "AccessDeniedException");
        await KmsAssert.ErrorAsync(() => kms.DisableKeyAsync(new DisableKeyRequest { KeyId = key.KeyId }), "AccessDeniedException");
    }

    [Fact]
    public async Task A_policy_that_would_lock_the_caller_out_is_refused_unless_the_safety_check_is_bypassed()
    {
        var lockout = $$"""
            {"Version":"2012-10-17","Statement":[
              {"Effect":"Allow","Principal":{"AWS":"{{Root}}"},"Action":"kms:Encrypt","Resource":"*"}]}
            """;
        using var kms = _host.CreateClient();

        await KmsAssert.ErrorAsync(
            () => kms.CreateKeyAsync(new CreateKeyRequest { Policy = lockout }),
            "MalformedPolicyDocumentException",
            "The new key policy will not allow you to update the key policy in the future.");
        var key = (await kms.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata;
        await KmsAssert.ErrorAsync(
            () => kms.PutKeyPolicyAsync(new PutKeyPolicyRequest { KeyId = key.KeyId, PolicyName = "default", Policy = lockout }),
            "MalformedPolicyDocumentException",
            "The new key policy will not allow you to update the key policy in the future.");

        var bypassed = (await kms.CreateKeyAsync(new CreateKeyRequest { Policy = lockout, BypassPolicyLockoutSafetyCheck = true })).KeyMetadata;
        await kms.EncryptTextAsync(bypassed.KeyId, "allowed");
        await KmsAssert.ErrorAsync(
            () => kms.PutKeyPolicyAsync(new PutKeyPolicyRequest { KeyId = bypassed.KeyId, PolicyName = "default", Policy = lockout }),
            "AccessDeniedException");
    }

    [Fact]
    public async Task Configured_principals_are_held_to_their_identity_policies_without_a_checked_signature()
    {
        using var kms = _host.CreateClient();
        var key = (await kms.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata;

        // Any secret will do in permissive mode; the principal is still who the access key says.
        using var alice = _host.CreateClient(Alice.AccessKeyId, secretAccessKey: "not-alices-secret");
        using var bob = _host.CreateClient(Bob.AccessKeyId, secretAccessKey: "not-bobs-secret");

        await alice.EncryptTextAsync(key.KeyId, "alice may");
        await KmsAssert.ErrorAsync(
            () => bob.EncryptTextAsync(key.KeyId, "bob may not"),
            "AccessDeniedException",
            $"User: {Bob.Arn} is not authorized to perform: kms:Encrypt on resource: {key.Arn} because no identity-based policy allows the kms:Encrypt action");
    }

    [Fact]
    public async Task A_grant_allows_a_configured_principal_what_its_identity_policies_do_not()
    {
        using var kms = _host.CreateClient();
        var key = (await kms.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata;
        using var bob = _host.CreateClient(Bob.AccessKeyId);
        await KmsAssert.ErrorAsync(() => bob.EncryptTextAsync(key.KeyId, "not yet"), "AccessDeniedException");

        await kms.CreateGrantAsync(new CreateGrantRequest { KeyId = key.KeyId, GranteePrincipal = Bob.Arn, Operations = ["Encrypt"] });

        await bob.EncryptTextAsync(key.KeyId, "now allowed");
        await KmsAssert.ErrorAsync(
            () => bob.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = key.KeyId, NumberOfBytes = 16 }),
            "AccessDeniedException");
    }

    [Fact]
    public async Task Another_account_cannot_use_a_key_whose_policy_does_not_allow_it()
    {
        using var owner = _host.CreateClient();
        var key = (await owner.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata;
        using var stranger = _host.CreateClient(accessKeyId: Other);

        await KmsAssert.ErrorAsync(() => stranger.EncryptTextAsync(key.Arn, "no"), "AccessDeniedException");
    }
}
