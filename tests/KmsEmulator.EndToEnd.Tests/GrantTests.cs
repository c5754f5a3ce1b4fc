using System.Text.Json.Nodes;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using Amazon.Runtime;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>Grant bookkeeping with the official SDK (permissive mode): CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant.</summary>
public sealed class GrantTests(HostFixture fixture) : IClassFixture<HostFixture>
{
    private const string Dave = "arn:aws:iam::111122223333:user/dave";
    private const string Erin = "arn:aws:iam::111122223333:user/erin";

    private readonly EmulatorHost _host = fixture.Host;
    private readonly IAmazonKeyManagementService _kms = fixture.Kms;

    private Task<CreateGrantResponse> GrantAsync(string keyId, string grantee = Dave, string? retiring = null, string? name = null, GrantConstraints? constraints = null, params string[] operations) =>
        _kms.CreateGrantAsync(new CreateGrantRequest
        {
            KeyId = keyId,
            GranteePrincipal = grantee,
            RetiringPrincipal = retiring,
            Name = name,
            Constraints = constraints,
            Operations = operations.Length == 0 ? [GrantOperation.Encrypt, GrantOperation.Decrypt] : [.. operations],
        });

    private async Task<List<GrantListEntry>> GrantsOfAsync(string keyId) =>
        (await _kms.ListGrantsAsync(new ListGrantsRequest { KeyId = keyId })).Grants ?? [];

    [Fact]
    public async Task CreateGrant_returns_a_64_hex_grant_id_and_a_token_and_ListGrants_shows_the_grant_as_AWS_does()
    {
        var key = await _kms.NewKeyAsync();
        // The host runs on a fake clock (time moves only when a test advances it), so that is the clock to compare with.
        var before = _host.Clock.GetUtcNow().UtcDateTime.AddSeconds(-1);

        var created = await GrantAsync(
            key.KeyId,
            retiring: Erin,
            name: "app-grant",
            constraints: new GrantConstraints { EncryptionContextSubset = Blob.Context(("tenant", "acme")) },
            operations: [GrantOperation.Decrypt, GrantOperation.GenerateDataKey]);

        Assert.Matches("^[0-9a-f]{64}$", created.GrantId);
        Assert.False(string.IsNullOrEmpty(created.GrantToken));
        var grant = Assert.Single(await GrantsOfAsync(key.KeyId));
        Assert.Equal(key.Arn, grant.KeyId);
        Assert.Equal(created.GrantId, grant.GrantId);
        Assert.Equal("app-grant", grant.Name);
        Assert.Equal(Dave, grant.GranteePrincipal);
        Assert.Equal(Erin, grant.RetiringPrincipal);
        Assert.Equal(Accounts.RootArn(), grant.IssuingAccount);
        Assert.Equal(["Decrypt", "GenerateDataKey"], grant.Operations);
        Assert.Equal(Blob.Context(("tenant", "acme")), grant.Constraints.EncryptionContextSubset);
        Assert.Null(grant.Constraints.EncryptionContextEquals);
        Assert.InRange(grant.CreationDate!.Value.ToUniversalTime(), before, _host.Clock.GetUtcNow().UtcDateTime.AddSeconds(1));
    }

    [Fact]
    public async Task A_grant_without_a_name_or_constraints_is_listed_with_an_empty_name_and_no_constraints()
    {
        var key = await _kms.NewKeyAsync();

        await GrantAsync(key.Arn, operations: [GrantOperation.DescribeKey]);

        var grant = Assert.Single(await GrantsOfAsync(key.KeyId));
        Assert.Equal(string.Empty, grant.Name);
        Assert.Null(grant.RetiringPrincipal);
        Assert.Null(grant.Constraints);
    }

    [Fact]
    public async Task ListGrants_filters_by_grant_id_and_by_grantee_principal()
    {
        var key = await _kms.NewKeyAsync();
        var forDave = await GrantAsync(key.KeyId);
        var forErin = await GrantAsync(key.KeyId, grantee: Erin);
        await GrantAsync(key.KeyId, grantee: Erin, operations: [GrantOperation.DescribeKey]);

        var byId = await _kms.ListGrantsAsync(new ListGrantsRequest { KeyId = key.KeyId, GrantId = forErin.GrantId });
        var byGrantee = await _kms.ListGrantsAsync(new ListGrantsRequest { KeyId = key.KeyId, GranteePrincipal = Dave });

        Assert.Equal(forErin.GrantId, Assert.Single(byId.Grants).GrantId);
        Assert.Equal(forDave.GrantId, Assert.Single(byGrantee.Grants).GrantId);
        Assert.Equal(3, (await GrantsOfAsync(key.KeyId)).Count);
        Assert.Empty((await _kms.ListGrantsAsync(new ListGrantsRequest { KeyId = key.KeyId, GrantId = new string('0', 64) })).Grants ?? []);
        await KmsAssert.ErrorAsync<InvalidGrantIdException>(() => _kms.ListGrantsAsync(new ListGrantsRequest { KeyId = key.KeyId, GrantId = "not-a-grant-id" }));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    public async Task ListGrants_pages_through_every_grant_exactly_once(int limit)
    {
        var key = await _kms.NewKeyAsync();
        var created = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            created.Add((await GrantAsync(key.KeyId)).GrantId);
        }

        var listed = new List<string>();
        string? marker = null;
        for (var pages = 1; ; pages++)
        {
            Assert.True(pages <= 10, "paging does not end");
            var page = await _kms.ListGrantsAsync(new ListGrantsRequest { KeyId = key.KeyId, Limit = limit, Marker = marker });
            listed.AddRange(page.Grants.Select(g => g.GrantId));
            if (page.Truncated != true)
            {
                Assert.Null(page.NextMarker);
                break;
            }

            Assert.Equal(limit, page.Grants.Count);
            marker = page.NextMarker;
        }

        Assert.Equal(created.Order(StringComparer.Ordinal), listed.Order(StringComparer.Ordinal));
        Assert.Equal(listed.Count, listed.Distinct().Count());
        await KmsAssert.ErrorAsync<InvalidMarkerException>(() => _kms.ListGrantsAsync(new ListGrantsRequest { KeyId = key.KeyId, Marker = "garbage" }));
    }

    [Fact]
    public async Task ListGrants_of_an_unknown_key_is_NotFoundException()
    {
        var keyId = Guid.NewGuid().ToString();

        await KmsAssert.KeyDoesNotExistAsync(() => _kms.ListGrantsAsync(new ListGrantsRequest { KeyId = keyId }), Accounts.KeyArn(keyId));
    }

    [Fact]
    public async Task ListRetirableGrants_lists_the_grants_of_every_key_of_the_account_with_that_retiring_principal()
    {
        using var kms = _host.CreateClient(accessKeyId: Accounts.NewAccountId());
        var first = await kms.NewKeyAsync();
        var second = await kms.NewKeyAsync();
        var retiring = "arn:aws:iam::111122223333:role/Retirer";
        var a = await kms.CreateGrantAsync(new CreateGrantRequest { KeyId = first.KeyId, GranteePrincipal = Dave, RetiringPrincipal = retiring, Operations = [GrantOperation.Encrypt] });
        var b = await kms.CreateGrantAsync(new CreateGrantRequest { KeyId = second.KeyId, GranteePrincipal = Erin, RetiringPrincipal = retiring, Operations = [GrantOperation.Decrypt] });
        await kms.CreateGrantAsync(new CreateGrantRequest { KeyId = second.KeyId, GranteePrincipal = Erin, RetiringPrincipal = Dave, Operations = [GrantOperation.Decrypt] });

        var all = await kms.ListRetirableGrantsAsync(new ListRetirableGrantsRequest { RetiringPrincipal = retiring });
        var firstPage = await kms.ListRetirableGrantsAsync(new ListRetirableGrantsRequest { RetiringPrincipal = retiring, Limit = 1 });
        var secondPage = await kms.ListRetirableGrantsAsync(new ListRetirableGrantsRequest { RetiringPrincipal = retiring, Limit = 1, Marker = firstPage.NextMarker });

        Assert.Equal(new[] { a.GrantId, b.GrantId }.Order(StringComparer.Ordinal), all.Grants.Select(g => g.GrantId));
        Assert.Equal(
            new[] { (a.GrantId, first.Arn), (b.GrantId, second.Arn) }.OrderBy(x => x.Item1, StringComparer.Ordinal),
            all.Grants.Select(g => (g.GrantId, g.KeyId)));
        Assert.True(firstPage.Truncated);
        Assert.Equal(all.Grants.Select(g => g.GrantId), firstPage.Grants.Concat(secondPage.Grants).Select(g => g.GrantId));
        Assert.False(secondPage.Truncated);
    }

    [Fact]
    public async Task RetireGrant_by_token_removes_the_grant_and_a_second_retire_is_NotFoundException()
    {
        var key = await _kms.NewKeyAsync();
        var created = await GrantAsync(key.KeyId);

        await _kms.RetireGrantAsync(new RetireGrantRequest { GrantToken = created.GrantToken });

        Assert.Empty(await GrantsOfAsync(key.KeyId));
        await KmsAssert.ErrorAsync<NotFoundException>(
            () => _kms.RetireGrantAsync(new RetireGrantRequest { GrantToken = created.GrantToken }),
            $"Grant ID {created.GrantId} not found");
    }

    [Fact]
    public async Task RetireGrant_by_key_ARN_and_grant_id_removes_only_that_grant()
    {
        var key = await _kms.NewKeyAsync();
        var retired = await GrantAsync(key.KeyId);
        var kept = await GrantAsync(key.KeyId);

        await _kms.RetireGrantAsync(new RetireGrantRequest { KeyId = key.Arn, GrantId = retired.GrantId });

        Assert.Equal(kept.GrantId, Assert.Single(await GrantsOfAsync(key.KeyId)).GrantId);
    }

    [Fact]
    public async Task RetireGrant_rejects_a_token_the_emulator_did_not_issue_and_a_request_that_names_no_grant()
    {
        var key = await _kms.NewKeyAsync();

        await KmsAssert.ErrorAsync<InvalidGrantTokenException>(() => _kms.RetireGrantAsync(new RetireGrantRequest { GrantToken = "AQEBAHhQ-not-a-token" }));
        await KmsAssert.ErrorAsync(() => _kms.RetireGrantAsync(new RetireGrantRequest { KeyId = key.Arn }), "ValidationException");
        await KmsAssert.ErrorAsync<InvalidGrantIdException>(() => _kms.RetireGrantAsync(new RetireGrantRequest { KeyId = key.Arn, GrantId = "1234" }));
        await KmsAssert.ErrorAsync<NotFoundException>(
            () => _kms.RetireGrantAsync(new RetireGrantRequest { KeyId = key.Arn, GrantId = new string('a', 64) }),
            $"Grant ID {new string('a', 64)} not found");
    }

    [Fact]
    public async Task RevokeGrant_removes_the_grant_and_answers_errors_for_unknown_and_malformed_grant_ids()
    {
        var key = await _kms.NewKeyAsync();
        var created = await GrantAsync(key.KeyId);

        await _kms.RevokeGrantAsync(new RevokeGrantRequest { KeyId = key.KeyId, GrantId = created.GrantId });

        Assert.Empty(await GrantsOfAsync(key.KeyId));
        await KmsAssert.ErrorAsync<NotFoundException>(
            () => _kms.RevokeGrantAsync(new RevokeGrantRequest { KeyId = key.KeyId, GrantId = created.GrantId }),
            $"Grant ID {created.GrantId} not found");
        await KmsAssert.ErrorAsync<InvalidGrantIdException>(() => _kms.RevokeGrantAsync(new RevokeGrantRequest { KeyId = key.KeyId, GrantId = "xyz" }));
        await KmsAssert.InvalidKeyIdAsync(() => _kms.RevokeGrantAsync(new RevokeGrantRequest { KeyId = "alias/whatever", GrantId = created.GrantId }), "alias/whatever");
    }

    [Fact]
    public async Task A_CreateGrant_with_the_name_and_parameters_of_an_existing_grant_returns_that_grant_with_a_new_token()
    {
        var key = await _kms.NewKeyAsync();
        var first = await GrantAsync(key.KeyId, name: "retry-me");

        var retry = await GrantAsync(key.KeyId, name: "retry-me");
        var changed = await GrantAsync(key.KeyId, name: "retry-me", operations: [GrantOperation.Decrypt]);
        var unnamed = await GrantAsync(key.KeyId);
        var unnamedAgain = await GrantAsync(key.KeyId);

        Assert.Equal(first.GrantId, retry.GrantId);
        Assert.NotEqual(first.GrantToken, retry.GrantToken);
        Assert.NotEqual(first.GrantId, changed.GrantId);
        Assert.NotEqual(unnamed.GrantId, unnamedAgain.GrantId);
        Assert.Equal(4, (await GrantsOfAsync(key.KeyId)).Count);
        // Either token retires the grant.
        await _kms.RetireGrantAsync(new RetireGrantRequest { GrantToken = retry.GrantToken });
        await KmsAssert.ErrorAsync<NotFoundException>(() => _kms.RetireGrantAsync(new RetireGrantRequest { GrantToken = first.GrantToken }));
    }

    [Fact]
    public async Task Operations_a_key_type_does_not_have_are_rejected_and_its_own_are_accepted()
    {
        var symmetric = await _kms.NewKeyAsync();
        var signing = (await _kms.CreateKeyAsync(new CreateKeyRequest { KeySpec = KeySpec.ECC_NIST_P256, KeyUsage = KeyUsageType.SIGN_VERIFY })).KeyMetadata;
        var hmac = (await _kms.CreateKeyAsync(new CreateKeyRequest { KeySpec = KeySpec.HMAC_256, KeyUsage = KeyUsageType.GENERATE_VERIFY_MAC })).KeyMetadata;

        var onSymmetric = await KmsAssert.ErrorAsync(() => GrantAsync(symmetric.KeyId, operations: [GrantOperation.Encrypt, GrantOperation.Sign]), "ValidationException");
        await KmsAssert.ErrorAsync(() => GrantAsync(signing.KeyId, operations: [GrantOperation.Encrypt]), "ValidationException");
        await KmsAssert.ErrorAsync(() => GrantAsync(hmac.KeyId, operations: [GrantOperation.GenerateDataKey]), "ValidationException");
        await GrantAsync(signing.KeyId, operations: [GrantOperation.Sign, GrantOperation.Verify, GrantOperation.GetPublicKey, GrantOperation.DescribeKey]);
        await GrantAsync(hmac.KeyId, operations: [GrantOperation.GenerateMac, GrantOperation.VerifyMac, GrantOperation.RetireGrant]);

        Assert.Contains("[Sign]", onSymmetric.Message, StringComparison.Ordinal);
        Assert.Empty(await GrantsOfAsync(symmetric.KeyId));
    }

    [Fact]
    public async Task CreateGrant_rejects_constraints_on_an_asymmetric_key_two_constraints_at_once_and_a_grant_of_only_CreateGrant()
    {
        var symmetric = await _kms.NewKeyAsync();
        var rsa = (await _kms.CreateKeyAsync(new CreateKeyRequest { KeySpec = KeySpec.RSA_2048, KeyUsage = KeyUsageType.ENCRYPT_DECRYPT })).KeyMetadata;
        var subset = new GrantConstraints { EncryptionContextSubset = Blob.Context(("a", "b")) };

        await KmsAssert.ErrorAsync(() => GrantAsync(rsa.KeyId, constraints: subset, operations: [GrantOperation.Decrypt]), "ValidationException");
        await KmsAssert.ValidationAsync(
            () => GrantAsync(symmetric.KeyId, constraints: new GrantConstraints { EncryptionContextSubset = Blob.Context(("a", "b")), EncryptionContextEquals = Blob.Context(("a", "b")) }),
            "More than one constraint supplied");
        await KmsAssert.ValidationAsync(
            () => GrantAsync(symmetric.KeyId, operations: [GrantOperation.CreateGrant]),
            "Grants must not contain only the CreateGrant operation.");
        await KmsAssert.ValidationAsync(
            () => _kms.CreateGrantAsync(new CreateGrantRequest { KeyId = symmetric.KeyId, Operations = [GrantOperation.Decrypt] }),
            "1 validation error detected: Value null at 'granteePrincipal' failed to satisfy constraint: Member must not be null");
        await KmsAssert.ErrorAsync(() => GrantAsync(symmetric.KeyId, operations: ["Dance"]), "ValidationException");

        Assert.Empty(await GrantsOfAsync(symmetric.KeyId));
        Assert.Empty(await GrantsOfAsync(rsa.KeyId));
    }

    [Fact]
    public async Task CreateGrant_on_a_disabled_key_is_DisabledException_while_listing_and_revoking_still_work()
    {
        var key = await _kms.NewKeyAsync();
        var created = await GrantAsync(key.KeyId);
        await _kms.DisableKeyAsync(new DisableKeyRequest { KeyId = key.KeyId });

        await KmsAssert.DisabledAsync(() => GrantAsync(key.KeyId), key.Arn);

        Assert.Single(await GrantsOfAsync(key.KeyId));
        await _kms.RevokeGrantAsync(new RevokeGrantRequest { KeyId = key.KeyId, GrantId = created.GrantId });
        Assert.Empty(await GrantsOfAsync(key.KeyId));
    }

    [Fact]
    public async Task CreateGrant_on_a_key_pending_deletion_is_KMSInvalidStateException()
    {
        var key = await _kms.NewKeyAsync();
        await _kms.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = key.KeyId, PendingWindowInDays = 7 });

        await KmsAssert.PendingDeletionAsync(() => GrantAsync(key.KeyId), key.Arn);
    }

    [Fact]
    public async Task DryRun_answers_DryRunOperationException_and_changes_nothing()
    {
        var key = await _kms.NewKeyAsync();
        var created = await GrantAsync(key.KeyId);

        await KmsAssert.ErrorAsync<DryRunOperationException>(
            () => _kms.CreateGrantAsync(new CreateGrantRequest { KeyId = key.KeyId, GranteePrincipal = Erin, Operations = [GrantOperation.Decrypt], DryRun = true }),
            KmsAssert.DryRunMessage);
        await KmsAssert.ErrorAsync<DryRunOperationException>(() => _kms.RetireGrantAsync(new RetireGrantRequest { GrantToken = created.GrantToken, DryRun = true }));
        await KmsAssert.ErrorAsync<DryRunOperationException>(() => _kms.RevokeGrantAsync(new RevokeGrantRequest { KeyId = key.KeyId, GrantId = created.GrantId, DryRun = true }));

        Assert.Equal(created.GrantId, Assert.Single(await GrantsOfAsync(key.KeyId)).GrantId);
        // A DryRun that would fail fails as the real call would.
        await KmsAssert.ErrorAsync(
            () => _kms.CreateGrantAsync(new CreateGrantRequest { KeyId = key.KeyId, GranteePrincipal = Erin, Operations = [GrantOperation.Sign], DryRun = true }),
            "ValidationException");
        await KmsAssert.ErrorAsync<NotFoundException>(
            () => _kms.RevokeGrantAsync(new RevokeGrantRequest { KeyId = key.KeyId, GrantId = new string('b', 64), DryRun = true }));
    }

    [Fact]
    public async Task GrantTokens_in_CreateGrant_must_be_tokens_the_emulator_issued()
    {
        var key = await _kms.NewKeyAsync();
        var parent = await GrantAsync(key.KeyId);

        await KmsAssert.ErrorAsync<InvalidGrantTokenException>(() => _kms.CreateGrantAsync(new CreateGrantRequest
        {
            KeyId = key.KeyId, GranteePrincipal = Erin, Operations = [GrantOperation.Decrypt], GrantTokens = ["garbage"],
        }));
        await _kms.CreateGrantAsync(new CreateGrantRequest
        {
            KeyId = key.KeyId, GranteePrincipal = Erin, Operations = [GrantOperation.Decrypt], GrantTokens = [parent.GrantToken],
        });
    }

    [Fact]
    public async Task GrantTokens_of_cryptographic_operations_must_be_tokens_the_emulator_issued()
    {
        // Needs the pipeline step that checks IGrantTokenRequest.GrantTokens (Pipeline/Operation.cs).
        var key = await _kms.NewKeyAsync();
        var grant = await GrantAsync(key.KeyId);

        await KmsAssert.ErrorAsync<InvalidGrantTokenException>(
            () => _kms.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = Blob.Of("x"), GrantTokens = ["garbage"] }));
        await KmsAssert.ErrorAsync<InvalidGrantTokenException>(
            () => _kms.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = key.KeyId, KeySpec = DataKeySpec.AES_256, GrantTokens = [grant.GrantToken, "garbage"] }));
        // DescribeKey takes GrantTokens but, in the model, never answers InvalidGrantTokenException.
        await _kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = key.KeyId, GrantTokens = ["garbage"] });
        await _kms.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = Blob.Of("x"), GrantTokens = [grant.GrantToken] });
    }

    [Fact]
    public async Task Grants_survive_a_restart_and_go_with_their_key()
    {
        var host = await EmulatorHost.StartNewAsync();
        try
        {
            KeyMetadata key;
            CreateGrantResponse created;
            using (var kms = host.CreateClient())
            {
                key = await kms.NewKeyAsync();
                created = await kms.CreateGrantAsync(new CreateGrantRequest
                {
                    KeyId = key.KeyId, GranteePrincipal = Dave, Name = "durable", Operations = [GrantOperation.Encrypt],
                    Constraints = new GrantConstraints { EncryptionContextEquals = Blob.Context(("tenant", "acme")) },
                });
            }

            host = await host.RestartAsync();

            using var after = host.CreateClient();
            var grant = Assert.Single((await after.ListGrantsAsync(new ListGrantsRequest { KeyId = key.KeyId })).Grants);
            Assert.Equal((created.GrantId, "durable", Dave), (grant.GrantId, grant.Name, grant.GranteePrincipal));
            Assert.Equal(Blob.Context(("tenant", "acme")), grant.Constraints.EncryptionContextEquals);
            await after.RetireGrantAsync(new RetireGrantRequest { GrantToken = created.GrantToken });
            Assert.Empty((await after.ListGrantsAsync(new ListGrantsRequest { KeyId = key.KeyId })).Grants ?? []);
        }
        finally
        {
            await host.DisposeAsync();
        }
    }
}

/// <summary>
/// Strict mode: grants allow exactly their operations, under their constraints, to their grantee, as soon as they
/// exist, and no longer once retired or revoked.
/// </summary>
public sealed class StrictModeGrantTests : IAsyncLifetime
{
    private static readonly Principal Admin = new("arn:aws:iam::111122223333:root", "AKIDGRANTADMIN", "admin-secret");
    private static readonly Principal Dave = new("arn:aws:iam::111122223333:user/dave", "AKIDGRANTDAVE", "dave-secret");
    private static readonly Principal Erin = new("arn:aws:iam::111122223333:user/erin", "AKIDGRANTERIN", "erin-secret");
    private static readonly Principal Worker = new("arn:aws:sts::111122223333:assumed-role/App/worker", "ASIAGRANTWORKER", "worker-secret", SessionToken: "session-1");
    private static readonly Principal Carol = new(
        "arn:aws:iam::444455556666:user/carol", "AKIDGRANTCAROL", "carol-secret", """{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}""");

    private EmulatorHost _host = null!;

    public async Task InitializeAsync() => _host = await EmulatorHost.StartWithConfigAsync(new
    {
        Kms = new
        {
            Auth = new { Mode = "Strict" },
            Principals = new[] { Admin, Dave, Erin, Worker, Carol }.Select(p => p.ToConfiguration()).ToArray(),
        },
    });

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private AmazonKeyManagementServiceClient Client(Principal principal) =>
        principal.SessionToken is null
            ? _host.CreateClient(principal.AccessKeyId, "us-east-1", principal.Secret)
            : new AmazonKeyManagementServiceClient(
                new SessionAWSCredentials(principal.AccessKeyId, principal.Secret, principal.SessionToken),
                new AmazonKeyManagementServiceConfig { ServiceURL = _host.Url, AuthenticationRegion = "us-east-1", MaxErrorRetry = 0 });

    private async Task<KeyMetadata> AdminKeyAsync()
    {
        using var admin = Client(Admin);
        return await admin.NewKeyAsync();
    }

    private async Task<CreateGrantResponse> AdminGrantAsync(string keyId, string grantee, GrantConstraints? constraints = null, string? retiring = null, params string[] operations)
    {
        using var admin = Client(Admin);
        return await admin.CreateGrantAsync(new CreateGrantRequest
        {
            KeyId = keyId, GranteePrincipal = grantee, RetiringPrincipal = retiring, Constraints = constraints, Operations = [.. operations],
        });
    }

    private static Task DeniedAsync(Func<Task> call) => KmsAssert.ErrorAsync(call, "AccessDeniedException");

    [Fact]
    public async Task A_grant_allows_its_grantee_exactly_the_granted_operations_from_the_moment_it_exists()
    {
        var key = await AdminKeyAsync();
        using var dave = Client(Dave);
        await KmsAssert.ErrorAsync(
            () => dave.EncryptTextAsync(key.KeyId, "before"),
            "AccessDeniedException",
            $"User: {Dave.Arn} is not authorized to perform: kms:Encrypt on resource: {key.Arn} because no identity-based policy allows the kms:Encrypt action");

        await AdminGrantAsync(key.KeyId, Dave.Arn, operations: [GrantOperation.Encrypt, GrantOperation.Decrypt]);

        var encrypted = await dave.EncryptTextAsync(key.KeyId, "granted");
        Assert.Equal("granted", Blob.Text((await dave.DecryptBlobAsync(encrypted.CiphertextBlob)).Plaintext));
        await DeniedAsync(() => dave.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = key.KeyId, KeySpec = DataKeySpec.AES_256 }));
        await DeniedAsync(() => dave.DescribeKeyAsync(new DescribeKeyRequest { KeyId = key.KeyId }));
        await DeniedAsync(() => dave.ListGrantsAsync(new ListGrantsRequest { KeyId = key.KeyId }));
    }

    [Fact]
    public async Task A_grant_to_one_principal_does_not_allow_another()
    {
        var key = await AdminKeyAsync();
        await AdminGrantAsync(key.KeyId, Dave.Arn, operations: [GrantOperation.Encrypt]);
        using var dave = Client(Dave);
        using var erin = Client(Erin);

        // Positive control: the same request by the grantee succeeds, so Erin is refused for who she is, not for the
        // key, the operation or the request.
        var allowed = await dave.EncryptTextAsync(key.KeyId, "not mine");
        Assert.Equal(key.Arn, allowed.KeyId);
        await KmsAssert.ErrorAsync(
            () => erin.EncryptTextAsync(key.KeyId, "not mine"),
            "AccessDeniedException",
            $"User: {Erin.Arn} is not authorized to perform: kms:Encrypt on resource: {key.Arn} because no identity-based policy allows the kms:Encrypt action");
    }

    [Fact]
    public async Task EncryptionContextEquals_allows_only_requests_with_exactly_that_context()
    {
        var key = await AdminKeyAsync();
        await AdminGrantAsync(
            key.KeyId, Dave.Arn, new GrantConstraints { EncryptionContextEquals = Blob.Context(("tenant", "acme")) }, operations: [GrantOperation.Encrypt, GrantOperation.Decrypt]);
        using var dave = Client(Dave);

        var encrypted = await dave.EncryptTextAsync(key.KeyId, "acme", Blob.Context(("tenant", "acme")));
        await dave.DecryptBlobAsync(encrypted.CiphertextBlob, Blob.Context(("tenant", "acme")));
        // Constraint keys match ignoring case (values exactly), as AWS documents.
        await dave.EncryptTextAsync(key.KeyId, "acme", Blob.Context(("TENANT", "acme")));

        await DeniedAsync(() => dave.EncryptTextAsync(key.KeyId, "more", Blob.Context(("tenant", "acme"), ("extra", "1"))));
        await DeniedAsync(() => dave.EncryptTextAsync(key.KeyId, "other", Blob.Context(("tenant", "ACME"))));
        await DeniedAsync(() => dave.EncryptTextAsync(key.KeyId, "none"));
        await KmsAssert.ErrorAsync(() => dave.DecryptBlobAsync(encrypted.CiphertextBlob), "AccessDeniedException", KmsAssert.CiphertextKeyGoneMessage);
    }

    [Fact]
    public async Task EncryptionContextSubset_allows_requests_whose_context_includes_its_pairs()
    {
        var key = await AdminKeyAsync();
        await AdminGrantAsync(
            key.KeyId, Dave.Arn, new GrantConstraints { EncryptionContextSubset = Blob.Context(("tenant", "acme")) }, operations: [GrantOperation.GenerateDataKey]);
        using var dave = Client(Dave);

        await dave.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = key.KeyId, KeySpec = DataKeySpec.AES_256, EncryptionContext = Blob.Context(("tenant", "acme")) });
        await dave.GenerateDataKeyAsync(new GenerateDataKeyRequest
        {
            KeyId = key.KeyId, KeySpec = DataKeySpec.AES_128, EncryptionContext = Blob.Context(("tenant", "acme"), ("purpose", "backup")),
        });

        await DeniedAsync(() => dave.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = key.KeyId, KeySpec = DataKeySpec.AES_256, EncryptionContext = Blob.Context(("purpose", "backup")) }));
        await DeniedAsync(() => dave.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = key.KeyId, KeySpec = DataKeySpec.AES_256 }));
    }

    [Fact]
    public async Task After_RetireGrant_by_the_retiring_principal_the_grantee_is_denied_again()
    {
        var key = await AdminKeyAsync();
        var grant = await AdminGrantAsync(key.KeyId, Dave.Arn, retiring: Erin.Arn, operations: [GrantOperation.Encrypt]);
        using var dave = Client(Dave);
        using var erin = Client(Erin);
        await dave.EncryptTextAsync(key.KeyId, "while granted");

        // Dave may not retire it: the grant does not include RetireGrant.
        await DeniedAsync(() => dave.RetireGrantAsync(new RetireGrantRequest { GrantToken = grant.GrantToken }));
        await erin.RetireGrantAsync(new RetireGrantRequest { GrantToken = grant.GrantToken });

        await DeniedAsync(() => dave.EncryptTextAsync(key.KeyId, "after"));
    }

    [Fact]
    public async Task A_grantee_retires_its_grant_by_id_when_the_grant_includes_RetireGrant()
    {
        var key = await AdminKeyAsync();
        var grant = await AdminGrantAsync(key.KeyId, Dave.Arn, operations: [GrantOperation.Encrypt, GrantOperation.RetireGrant]);
        var other = await AdminGrantAsync(key.KeyId, Erin.Arn, operations: [GrantOperation.Encrypt]);
        using var dave = Client(Dave);

        await DeniedAsync(() => dave.RetireGrantAsync(new RetireGrantRequest { KeyId = key.Arn, GrantId = other.GrantId }));
        await dave.RetireGrantAsync(new RetireGrantRequest { KeyId = key.Arn, GrantId = grant.GrantId });

        await DeniedAsync(() => dave.EncryptTextAsync(key.KeyId, "after"));
    }

    [Fact]
    public async Task After_RevokeGrant_by_the_key_administrator_the_grantee_is_denied_again()
    {
        var key = await AdminKeyAsync();
        var grant = await AdminGrantAsync(key.KeyId, Dave.Arn, operations: [GrantOperation.Encrypt, GrantOperation.RetireGrant]);
        using var dave = Client(Dave);
        using var admin = Client(Admin);
        await dave.EncryptTextAsync(key.KeyId, "while granted");

        // Grants never allow RevokeGrant, even to their grantee.
        await DeniedAsync(() => dave.RevokeGrantAsync(new RevokeGrantRequest { KeyId = key.KeyId, GrantId = grant.GrantId }));
        await admin.RevokeGrantAsync(new RevokeGrantRequest { KeyId = key.KeyId, GrantId = grant.GrantId });

        await DeniedAsync(() => dave.EncryptTextAsync(key.KeyId, "after"));
    }

    [Fact]
    public async Task A_grant_to_a_role_allows_the_roles_sessions()
    {
        var key = await AdminKeyAsync();
        using var worker = Client(Worker);
        await DeniedAsync(() => worker.DescribeKeyAsync(new DescribeKeyRequest { KeyId = key.KeyId }));

        await AdminGrantAsync(key.KeyId, "arn:aws:iam::111122223333:role/App", operations: [GrantOperation.DescribeKey]);

        Assert.Equal(key.KeyId, (await worker.DescribeAsync(key.KeyId)).KeyId);
    }

    [Fact]
    public async Task A_grant_with_CreateGrant_lets_its_grantee_pass_on_no_more_than_it_has()
    {
        var key = await AdminKeyAsync();
        var subset = new GrantConstraints { EncryptionContextSubset = Blob.Context(("tenant", "acme")) };
        await AdminGrantAsync(key.KeyId, Dave.Arn, subset, operations: [GrantOperation.CreateGrant, GrantOperation.Encrypt, GrantOperation.Decrypt]);
        using var dave = Client(Dave);
        using var erin = Client(Erin);

        await dave.CreateGrantAsync(new CreateGrantRequest
        {
            KeyId = key.KeyId, GranteePrincipal = Erin.Arn, Operations = [GrantOperation.Encrypt],
            Constraints = new GrantConstraints { EncryptionContextSubset = Blob.Context(("tenant", "acme"), ("team", "red")) },
        });
        await DeniedAsync(() => dave.CreateGrantAsync(new CreateGrantRequest
        {
            KeyId = key.KeyId, GranteePrincipal = Erin.Arn, Operations = [GrantOperation.Encrypt, GrantOperation.GenerateDataKey], Constraints = subset,
        }));
        await DeniedAsync(() => dave.CreateGrantAsync(new CreateGrantRequest { KeyId = key.KeyId, GranteePrincipal = Erin.Arn, Operations = [GrantOperation.Encrypt] }));

        await erin.EncryptTextAsync(key.KeyId, "passed on", Blob.Context(("tenant", "acme"), ("team", "red")));
        await DeniedAsync(() => erin.EncryptTextAsync(key.KeyId, "parent only", Blob.Context(("tenant", "acme"))));
    }

    [Fact]
    public async Task A_grant_to_another_account_lets_its_principals_use_the_key_by_ARN_as_their_identity_policy_allows()
    {
        var key = await AdminKeyAsync();
        using var carol = Client(Carol);
        await DeniedAsync(() => carol.EncryptTextAsync(key.Arn, "before"));

        await AdminGrantAsync(key.KeyId, "arn:aws:iam::444455556666:root", operations: [GrantOperation.Encrypt]);

        await carol.EncryptTextAsync(key.Arn, "across accounts");
        await DeniedAsync(() => carol.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = key.Arn, KeySpec = DataKeySpec.AES_256 }));
    }

    [Fact]
    public async Task DryRun_of_a_granted_operation_answers_DryRunOperationException_and_of_an_ungranted_one_AccessDeniedException()
    {
        var key = await AdminKeyAsync();
        await AdminGrantAsync(key.KeyId, Dave.Arn, operations: [GrantOperation.Encrypt]);
        using var dave = Client(Dave);

        await KmsAssert.ErrorAsync<DryRunOperationException>(() => dave.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = Blob.Of("x"), DryRun = true }));
        await DeniedAsync(() => dave.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = key.KeyId, KeySpec = DataKeySpec.AES_256, DryRun = true }));
    }

    private sealed record Principal(string Arn, string AccessKeyId, string Secret, string? IdentityPolicy = null, string? SessionToken = null)
    {
        public object ToConfiguration() => new
        {
            Arn,
            AccessKeyId,
            SecretAccessKey = Secret,
            SessionToken,
            IdentityPolicies = IdentityPolicy is null ? Array.Empty<JsonNode>() : [JsonNode.Parse(IdentityPolicy)!],
        };
    }
}
