using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using static KmsEmulator.EndToEnd.Tests.StrictPrincipals;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>Strict mode: key policies, identity policies, cross-account access and DryRun decide as AWS does.</summary>
public sealed class AuthorizationTests : IAsyncLifetime
{
    private EmulatorHost _host = null!;

    public async Task InitializeAsync() => _host = await EmulatorHost.StartWithConfigAsync(Configuration());

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private async Task<KeyMetadata> AdminKeyAsync(string? policy = null)
    {
        using var admin = _host.Client(Admin);
        return (await admin.CreateKeyAsync(new CreateKeyRequest { Policy = policy })).KeyMetadata;
    }

    private static string Denied(Principal who, string action, string keyArn, string reason) =>
        $"User: {who.Arn} is not authorized to perform: {action} on resource: {keyArn} {reason}";

    [Fact]
    public async Task A_principal_whose_identity_policy_allows_uses_a_key_with_the_default_policy()
    {
        var key = await AdminKeyAsync();
        using var alice = _host.Client(Alice);

        var encrypted = await alice.EncryptTextAsync(key.KeyId, "for alice");

        Assert.Equal("for alice", Blob.Text((await alice.DecryptBlobAsync(encrypted.CiphertextBlob)).Plaintext));
    }

    [Fact]
    public async Task Without_an_identity_policy_the_default_key_policy_denies_with_AWS_wording()
    {
        var key = await AdminKeyAsync();
        using var bob = _host.Client(Bob);

        await KmsAssert.ErrorAsync(
            () => bob.EncryptTextAsync(key.KeyId, "no"),
            "AccessDeniedException",
            Denied(Bob, "kms:Encrypt", key.Arn, "because no identity-based policy allows the kms:Encrypt action"));
    }

    [Fact]
    public async Task A_key_policy_that_names_the_principal_allows_it_under_its_conditions()
    {
        var policy = """
            {"Version":"2012-10-17","Statement":[
              {"Sid":"Admin","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
              {"Sid":"BobForAcme","Effect":"Allow","Principal":{"AWS":"BOB"},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*",
               "Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"acme"}}}]}
            """.Replace("BOB", Bob.Arn, StringComparison.Ordinal);
        var key = await AdminKeyAsync(policy);
        using var bob = _host.Client(Bob);

        var encrypted = await bob.EncryptTextAsync(key.KeyId, "acme data", Blob.Context(("tenant", "acme")));
        var decrypted = await bob.DecryptBlobAsync(encrypted.CiphertextBlob, Blob.Context(("tenant", "acme")));

        Assert.Equal("acme data", Blob.Text(decrypted.Plaintext));
        var error = await KmsAssert.ErrorAsync(() => bob.EncryptTextAsync(key.KeyId, "other", Blob.Context(("tenant", "globex"))), "AccessDeniedException");
        Assert.StartsWith($"User: {Bob.Arn} is not authorized to perform: kms:Encrypt on resource: {key.Arn}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_explicit_deny_in_the_key_policy_wins_over_every_allow()
    {
        var policy = $$"""
            {"Version":"2012-10-17","Statement":[
              {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
              {"Effect":"Deny","Principal":{"AWS":"{{Alice.Arn}}"},"Action":"kms:Decrypt","Resource":"*"}]}
            """;
        var key = await AdminKeyAsync(policy);
        using var alice = _host.Client(Alice);
        var encrypted = await alice.EncryptTextAsync(key.KeyId, "write only");

        await KmsAssert.ErrorAsync(
            () => alice.DecryptBlobAsync(encrypted.CiphertextBlob, keyId: key.KeyId),
            "AccessDeniedException",
            Denied(Alice, "kms:Decrypt", key.Arn, "with an explicit deny in a resource-based policy"));
    }

    [Fact]
    public async Task Decrypt_without_a_KeyId_hides_a_key_the_caller_may_not_use()
    {
        var key = await AdminKeyAsync();
        using var alice = _host.Client(Alice);
        using var bob = _host.Client(Bob);
        var encrypted = await alice.EncryptTextAsync(key.KeyId, "secret");

        await KmsAssert.ErrorAsync(
            () => bob.DecryptBlobAsync(encrypted.CiphertextBlob),
            "AccessDeniedException",
            "The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access.");
    }

    [Fact]
    public async Task Cross_account_use_needs_the_key_policy_and_the_callers_identity_policy()
    {
        var shared = await AdminKeyAsync($$"""
            {"Version":"2012-10-17","Statement":[
              {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
              {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::{{Other}}:root"},"Action":["kms:Encrypt","kms:Decrypt","kms:DescribeKey"],"Resource":"*"}]}
            """);
        var unshared = await AdminKeyAsync();
        using var carol = _host.Client(Carol);

        var encrypted = await carol.EncryptTextAsync(shared.Arn, "across accounts");
        Assert.Equal("across accounts", Blob.Text((await carol.DecryptBlobAsync(encrypted.CiphertextBlob, keyId: shared.Arn)).Plaintext));
        await KmsAssert.ErrorAsync(
            () => carol.EncryptTextAsync(unshared.Arn, "no"),
            "AccessDeniedException",
            Denied(Carol, "kms:Encrypt", unshared.Arn, "because no resource-based policy allows the kms:Encrypt action"));
        await KmsAssert.ErrorAsync(() => carol.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = shared.Arn, KeySpec = DataKeySpec.AES_256 }), "AccessDeniedException");
    }

    [Fact]
    public async Task Management_operations_never_work_across_accounts_even_when_both_policies_allow_them()
    {
        var shared = await AdminKeyAsync($$"""
            {"Version":"2012-10-17","Statement":[
              {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
              {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::{{Other}}:root"},"Action":"kms:*","Resource":"*"}]}
            """);
        using var carol = _host.Client(Carol);

        Assert.Equal(shared.KeyId, (await carol.DescribeAsync(shared.Arn)).KeyId);
        await KmsAssert.ErrorAsync(
            () => carol.DisableKeyAsync(new DisableKeyRequest { KeyId = shared.Arn }),
            "AccessDeniedException",
            Denied(Carol, "kms:DisableKey", shared.Arn, "because no resource-based policy allows the kms:DisableKey action"));
        await KmsAssert.ErrorAsync(() => carol.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = shared.Arn }), "AccessDeniedException");
        await KmsAssert.ErrorAsync(() => carol.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = shared.Arn }), "AccessDeniedException");
        Assert.Equal(KeyState.Enabled, (await carol.DescribeAsync(shared.Arn)).KeyState);
    }

    [Fact]
    public async Task DryRun_says_whether_the_call_would_be_allowed()
    {
        var key = await AdminKeyAsync();
        using var alice = _host.Client(Alice);
        using var bob = _host.Client(Bob);
        var request = new EncryptRequest { KeyId = key.KeyId, Plaintext = Blob.Of("dry"), DryRun = true };

        await KmsAssert.ErrorAsync(() => alice.EncryptAsync(request), "DryRunOperationException", "The request would have succeeded, but the DryRun option is set.");
        await KmsAssert.ErrorAsync(() => bob.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = Blob.Of("dry"), DryRun = true }), "AccessDeniedException");
    }

    [Fact]
    public async Task CreateKey_is_decided_by_identity_policies_alone()
    {
        using var alice = _host.Client(Alice);
        using var bob = _host.Client(Bob);

        Assert.NotNull((await alice.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata.KeyId);
        await KmsAssert.ErrorAsync(
            () => bob.CreateKeyAsync(new CreateKeyRequest()),
            "AccessDeniedException",
            $"User: {Bob.Arn} is not authorized to perform: kms:CreateKey on resource: * because no identity-based policy allows the kms:CreateKey action");
    }

    [Fact]
    public async Task PutKeyPolicy_refuses_a_policy_that_would_lock_the_caller_out_unless_told_to_bypass()
    {
        var key = await AdminKeyAsync();
        using var alice = _host.Client(Alice);
        var lockout = """{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"kms:*","Resource":"*"}]}""";

        await KmsAssert.ErrorAsync(
            () => alice.PutKeyPolicyAsync(new PutKeyPolicyRequest { KeyId = key.KeyId, PolicyName = "default", Policy = lockout }),
            "MalformedPolicyDocumentException",
            "The new key policy will not allow you to update the key policy in the future.");
        await alice.PutKeyPolicyAsync(new PutKeyPolicyRequest { KeyId = key.KeyId, PolicyName = "default", Policy = lockout, BypassPolicyLockoutSafetyCheck = true });

        // The bypassed policy names only bob: bob can read it, and even the account root is now locked out, as in AWS.
        using var bob = _host.Client(Bob);
        using var admin = _host.Client(Admin);
        Assert.Equal(lockout, (await bob.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = key.KeyId, PolicyName = "default" })).Policy);
        await KmsAssert.ErrorAsync(() => admin.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = key.KeyId, PolicyName = "default" }), "AccessDeniedException");
    }

    [Fact]
    public async Task An_assumed_role_session_signs_with_its_session_token()
    {
        var key = await AdminKeyAsync();
        using var worker = _host.Client(Worker);

        var encrypted = await worker.EncryptTextAsync(key.KeyId, "from a role session");

        Assert.Equal(key.Arn, encrypted.KeyId);
    }

    [Fact]
    public async Task A_key_policy_naming_a_principal_that_does_not_exist_is_malformed()
    {
        using var admin = _host.Client(Admin);
        var policy = """{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:root","arn:aws:iam::111122223333:user/nobody"]},"Action":"kms:*","Resource":"*"}]}""";

        await KmsAssert.ErrorAsync(
            () => admin.CreateKeyAsync(new CreateKeyRequest { Policy = policy }),
            "MalformedPolicyDocumentException",
            "Policy contains a statement with one or more invalid principals.");
    }

    [Fact]
    public async Task DryRun_with_IGNORE_CIPHERTEXT_checks_authorization_without_reading_the_ciphertext()
    {
        var key = await AdminKeyAsync();
        using var alice = _host.Client(Alice);
        using var bob = _host.Client(Bob);
        DecryptRequest Request() => new()
        {
            KeyId = key.KeyId,
            CiphertextBlob = Blob.Of("not a ciphertext at all"),
            DryRun = true,
            DryRunModifiers = [DryRunModifierType.IGNORE_CIPHERTEXT],
        };

        await KmsAssert.ErrorAsync(() => alice.DecryptAsync(Request()), "DryRunOperationException");
        await KmsAssert.ErrorAsync(() => bob.DecryptAsync(Request()), "AccessDeniedException");
        await KmsAssert.ErrorAsync(() => alice.DecryptAsync(new DecryptRequest { KeyId = key.KeyId, CiphertextBlob = Blob.Of("not a ciphertext at all"), DryRun = true }), "InvalidCiphertextException");
    }

    [Fact]
    public async Task Moving_or_deleting_an_alias_needs_permission_on_the_key_it_points_at()
    {
        var guarded = await AdminKeyAsync("""
            {"Version":"2012-10-17","Statement":[
              {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
              {"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:*","Resource":"*"}]}
            """);
        var own = await AdminKeyAsync();
        using var admin = _host.Client(Admin);
        using var alice = _host.Client(Alice);
        var alias = await admin.NewAliasAsync(guarded.KeyId);

        await KmsAssert.ErrorAsync(() => alice.UpdateAliasAsync(new UpdateAliasRequest { AliasName = alias, TargetKeyId = own.KeyId }), "AccessDeniedException");
        await KmsAssert.ErrorAsync(() => alice.DeleteAliasAsync(new DeleteAliasRequest { AliasName = alias }), "AccessDeniedException");
        Assert.Equal(guarded.KeyId, (await admin.DescribeAsync(alias)).KeyId);
    }

    [Fact]
    public async Task A_principal_configured_with_ViaService_meets_kms_ViaService_conditions()
    {
        var key = await AdminKeyAsync("""
            {"Version":"2012-10-17","Statement":[
              {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
              {"Effect":"Deny","Principal":{"AWS":"*"},"Action":"kms:Encrypt","Resource":"*",
               "Condition":{"StringNotEquals":{"kms:ViaService":"ec2.us-east-1.amazonaws.com"}}}]}
            """);
        using var dave = _host.Client(Ebs);
        using var alice = _host.Client(Alice);

        await dave.EncryptTextAsync(key.KeyId, "through EC2");

        await KmsAssert.ErrorAsync(
            () => alice.EncryptTextAsync(key.KeyId, "direct"),
            "AccessDeniedException",
            Denied(Alice, "kms:Encrypt", key.Arn, "with an explicit deny in a resource-based policy"));
    }

    [Fact]
    public async Task Alias_operations_also_need_the_identity_policy_to_allow_the_alias_ARN()
    {
        var key = await AdminKeyAsync();
        var other = await AdminKeyAsync();
        using var erin = _host.Client(Erin);
        var suffix = Guid.NewGuid().ToString("N")[..12];

        var team = await erin.NewAliasAsync(key.KeyId, "alias/team-" + suffix);
        await erin.UpdateAliasAsync(new UpdateAliasRequest { AliasName = team, TargetKeyId = other.KeyId });
        await erin.DeleteAliasAsync(new DeleteAliasRequest { AliasName = team });

        var outside = "alias/other-" + suffix;
        var aliasArn = $"arn:aws:kms:us-east-1:111122223333:{outside}";
        await KmsAssert.ErrorAsync(
            () => erin.NewAliasAsync(key.KeyId, outside),
            "AccessDeniedException",
            $"User: {Erin.Arn} is not authorized to perform: kms:CreateAlias on resource: {aliasArn} because no identity-based policy allows the kms:CreateAlias action");
        using var admin = _host.Client(Admin);
        await admin.NewAliasAsync(key.KeyId, outside);
        await KmsAssert.ErrorAsync(() => erin.DeleteAliasAsync(new DeleteAliasRequest { AliasName = outside }), "AccessDeniedException");
        await KmsAssert.ErrorAsync(() => erin.UpdateAliasAsync(new UpdateAliasRequest { AliasName = outside, TargetKeyId = other.KeyId }), "AccessDeniedException");
        Assert.Equal(key.KeyId, (await admin.DescribeAsync(outside)).KeyId);
    }

    [Fact]
    public async Task Conditions_on_tags_aliases_and_context_keys_follow_changes_to_the_key()
    {
        var aliasName = "alias/bob-" + Guid.NewGuid().ToString("N")[..12];
        var key = await AdminKeyAsync("""
            {"Version":"2012-10-17","Statement":[
              {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
              {"Effect":"Allow","Principal":{"AWS":"BOB"},"Action":"kms:Encrypt","Resource":"*",
               "Condition":{"StringEquals":{"aws:ResourceTag/team":"blue"}}},
              {"Effect":"Allow","Principal":{"AWS":"BOB"},"Action":"kms:Decrypt","Resource":"*",
               "Condition":{"ForAnyValue:StringEquals":{"kms:ResourceAliases":"ALIAS"}}},
              {"Effect":"Allow","Principal":{"AWS":"BOB"},"Action":"kms:GenerateDataKey","Resource":"*",
               "Condition":{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":"tenant"},"Null":{"kms:EncryptionContextKeys":"false"}}}]}
            """.Replace("BOB", Bob.Arn, StringComparison.Ordinal).Replace("ALIAS", aliasName, StringComparison.Ordinal));
        using var admin = _host.Client(Admin);
        using var bob = _host.Client(Bob);
        await admin.TagResourceAsync(new TagResourceRequest { KeyId = key.KeyId, Tags = [new Tag { TagKey = "team", TagValue = "red" }] });

        await KmsAssert.ErrorAsync(() => bob.EncryptTextAsync(key.KeyId, "red"), "AccessDeniedException");
        await admin.TagResourceAsync(new TagResourceRequest { KeyId = key.KeyId, Tags = [new Tag { TagKey = "team", TagValue = "blue" }] });
        var encrypted = await bob.EncryptTextAsync(key.KeyId, "blue");

        await KmsAssert.ErrorAsync(() => bob.DecryptBlobAsync(encrypted.CiphertextBlob), "AccessDeniedException");
        await admin.NewAliasAsync(key.KeyId, aliasName);
        Assert.Equal("blue", Blob.Text((await bob.DecryptBlobAsync(encrypted.CiphertextBlob)).Plaintext));

        GenerateDataKeyRequest DataKey(params (string, string)[] context) =>
            new() { KeyId = key.KeyId, KeySpec = DataKeySpec.AES_256, EncryptionContext = Blob.Context(context) };
        await bob.GenerateDataKeyAsync(DataKey(("tenant", "acme")));
        await KmsAssert.ErrorAsync(() => bob.GenerateDataKeyAsync(DataKey(("tenant", "acme"), ("extra", "x"))), "AccessDeniedException");
        await KmsAssert.ErrorAsync(() => bob.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = key.KeyId, KeySpec = DataKeySpec.AES_256 }), "AccessDeniedException");
    }

    [Fact]
    public async Task ListAliases_with_a_KeyId_is_decided_by_identity_policies_not_the_key_policy()
    {
        var denying = await AdminKeyAsync("""
            {"Version":"2012-10-17","Statement":[
              {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
              {"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:*","Resource":"*"}]}
            """);
        using var admin = _host.Client(Admin);
        using var alice = _host.Client(Alice);
        using var bob = _host.Client(Bob);
        var alias = await admin.NewAliasAsync(denying.KeyId);

        var listed = await alice.ListAliasesAsync(new ListAliasesRequest { KeyId = denying.KeyId });

        Assert.Equal(alias, Assert.Single(listed.Aliases).AliasName);
        await KmsAssert.ErrorAsync(() => bob.ListAliasesAsync(new ListAliasesRequest { KeyId = denying.KeyId }), "AccessDeniedException");
    }
}

