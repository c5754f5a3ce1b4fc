using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>
/// Two built emulators (separate processes, on different loopback ports) on one PostgreSQL database and one SoftHSM2
/// token directory, in strict mode, used through the official AWS SDK: what one node acknowledges, the other answers
/// from at once (issue 13, item 2), writes to one key through both nodes at once lose nothing, and LookupEvents and
/// GetKeyLastUsage on either node see the calls made through both once their audit trail is flushed (item 5), while
/// each node writes its own log files.
/// </summary>
[Collection(PostgreSqlCollection.Name)]
public sealed class TwoNodeTests(PostgreSqlFixture postgres) : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "kmsemu-e2e-two-nodes-" + Guid.NewGuid().ToString("N"));
    private string? _database;
    private EmulatorProcess? _a;
    private EmulatorProcess? _b;

    private EmulatorProcess A => _a ?? throw new InvalidOperationException("Not started.");

    private EmulatorProcess B => _b ?? throw new InvalidOperationException("Not started.");

    public async Task InitializeAsync()
    {
        _database = await postgres.Server.CreateDatabaseAsync();
        Directory.CreateDirectory(_root);
        var config = Path.Combine(_root, "strict.json");
        await File.WriteAllTextAsync(config, JsonSerializer.Serialize(StrictPrincipals.Configuration()));
        string[] args =
        [
            "--config", config,
            "--Kms:Store:Provider=PostgreSql",
            "--Kms:Store:ConnectionString=" + postgres.Server.ConnectionString(_database),
            "--Kms:Hsm:TokenDirectory=" + Path.Combine(_root, "tokens"),
            "--Kms:Admin:Enabled=true",
        ];
        _a = await EmulatorProcess.StartAsync(Path.Combine(_root, "a"), args);
        _b = await EmulatorProcess.StartAsync(Path.Combine(_root, "b"), args);
    }

    public async Task DisposeAsync()
    {
        foreach (var node in new[] { _a, _b })
        {
            if (node is not null)
            {
                await node.DisposeAsync();
            }
        }

        if (_database is not null)
        {
            await postgres.Server.DropDatabaseAsync(_database);
        }

        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    private static AmazonKeyManagementServiceClient Client(EmulatorProcess node, StrictPrincipals.Principal principal) =>
        EmulatorHost.CreateClient(node.Url, principal.AccessKeyId, "us-east-1", principal.Secret);

    /// <summary>Has the node write out its audit trail now (log files and the shared index) rather than within 200 ms.</summary>
    private static async Task FlushAuditAsync(EmulatorProcess node)
    {
        using var http = new HttpClient { BaseAddress = new Uri(node.Url) };
        using var response = await http.PostAsync("/_emulator/audit/flush", null);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [SkippableFact]
    public async Task LookupEvents_and_GetKeyLastUsage_on_either_node_see_the_calls_made_through_the_other()
    {
        using var adminA = Client(A, StrictPrincipals.Admin);
        using var adminB = Client(B, StrictPrincipals.Admin);
        var key = await adminA.NewKeyAsync("audited across nodes");
        var encrypted = await adminA.EncryptTextAsync(key.KeyId, "through A");
        await FlushAuditAsync(A);

        var onB = await CloudTrailHttp.LookupAsync(B.Url, CloudTrailHttp.Attribute("ResourceName", key.Arn), StrictPrincipals.Admin);
        Assert.Equal(["Encrypt", "CreateKey"], onB.EventNames);
        var encryptEvent = JsonNode.Parse(onB.Events[0].GetProperty("CloudTrailEvent").GetString()!)!;
        Assert.Equal(encrypted.ResponseMetadata.RequestId, (string?)encryptEvent["requestID"]);
        var usageOnB = await adminB.GetKeyLastUsageAsync(new GetKeyLastUsageRequest { KeyId = key.KeyId });
        Assert.Equal("Encrypt", usageOnB.KeyLastUsage.Operation);
        Assert.Equal(encrypted.ResponseMetadata.RequestId, usageOnB.KeyLastUsage.KmsRequestId);
        Assert.Equal((string?)encryptEvent["eventID"], usageOnB.KeyLastUsage.CloudTrailEventId);

        // A later use through B: B reports it at once (its own), A once B has flushed; the tracking start is the same.
        var decrypted = await adminB.DecryptBlobAsync(encrypted.CiphertextBlob);
        Assert.Equal(decrypted.ResponseMetadata.RequestId, (await adminB.GetKeyLastUsageAsync(new GetKeyLastUsageRequest { KeyId = key.KeyId })).KeyLastUsage.KmsRequestId);
        await FlushAuditAsync(B);
        var usageOnA = await adminA.GetKeyLastUsageAsync(new GetKeyLastUsageRequest { KeyId = key.Arn });
        Assert.Equal("Decrypt", usageOnA.KeyLastUsage.Operation);
        Assert.Equal(decrypted.ResponseMetadata.RequestId, usageOnA.KeyLastUsage.KmsRequestId);
        Assert.Equal(usageOnB.TrackingStartDate, usageOnA.TrackingStartDate);
        // (The GetKeyLastUsage calls are in the trail too, as soon as their node's next commit.)
        var onA = await CloudTrailHttp.LookupAsync(A.Url, CloudTrailHttp.Attribute("ResourceName", key.Arn), StrictPrincipals.Admin);
        Assert.Equal(["Decrypt", "Encrypt", "CreateKey"], onA.EventNames.Where(name => name != "GetKeyLastUsage"));

        // Each node delivered its own calls into its own data directory, under file names of its own.
        var filesA = LogFiles("a");
        var filesB = LogFiles("b");
        Assert.NotEmpty(filesA);
        Assert.NotEmpty(filesB);
        Assert.Empty(filesA.Select(Path.GetFileName).Intersect(filesB.Select(Path.GetFileName)));
        AuditTrailReader.Read(Path.Combine(_root, "a", "audit")).ByRequestId(encrypted.ResponseMetadata.RequestId);
        Assert.DoesNotContain(AuditTrailReader.Read(Path.Combine(_root, "a", "audit")), r => (string?)r["requestID"] == decrypted.ResponseMetadata.RequestId);
        AuditTrailReader.Read(Path.Combine(_root, "b", "audit")).ByRequestId(decrypted.ResponseMetadata.RequestId);
        Assert.DoesNotContain(AuditTrailReader.Read(Path.Combine(_root, "b", "audit")), r => (string?)r["requestID"] == encrypted.ResponseMetadata.RequestId);
    }

    /// <summary>The node's delivered log files (not its digests).</summary>
    private string[] LogFiles(string node) =>
        [.. Directory.GetFiles(Path.Combine(_root, node, "audit", "AWSLogs"), "*.json.gz", SearchOption.AllDirectories)
            .Where(f => f.Contains($"{Path.DirectorySeparatorChar}CloudTrail{Path.DirectorySeparatorChar}", StringComparison.Ordinal))];

    [SkippableFact]
    public async Task What_one_node_acknowledges_the_other_answers_from_at_once()
    {
        using var adminA = Client(A, StrictPrincipals.Admin);
        using var adminB = Client(B, StrictPrincipals.Admin);
        using var aliceA = Client(A, StrictPrincipals.Alice);
        using var bobB = Client(B, StrictPrincipals.Bob);

        // Created on A, used on B at once (its metadata from the store, its material from the shared token).
        var key = await adminA.NewKeyAsync("two nodes");
        var ciphertext = (await adminB.EncryptTextAsync(key.KeyId, "through B")).CiphertextBlob;
        Assert.Equal("through B", Blob.Text((await adminA.DecryptBlobAsync(ciphertext)).Plaintext));

        // An alias made on A and moved on B resolves to the new key on A.
        var other = await adminB.NewKeyAsync("other");
        var alias = await adminA.NewAliasAsync(key.KeyId);
        Assert.Equal(key.KeyId, (await adminB.DescribeAsync(alias)).KeyId);
        await adminB.UpdateAliasAsync(new UpdateAliasRequest { AliasName = alias, TargetKeyId = other.KeyId });
        Assert.Equal(other.KeyId, (await adminA.DescribeAsync(alias)).KeyId);
        Assert.Equal(other.KeyId, (await adminA.EncryptTextAsync(alias, "by alias")).KeyId.Split('/')[^1]);
        Assert.Contains((await adminA.AllAliasesAsync()), a => a.AliasName == alias && a.TargetKeyId == other.KeyId);

        // A key policy put on B that denies alice Encrypt: A denies her.
        Assert.NotNull(await aliceA.EncryptTextAsync(key.KeyId, "allowed"));
        await adminB.PutKeyPolicyAsync(new PutKeyPolicyRequest
        {
            KeyId = key.KeyId,
            Policy = $$"""
                {"Version":"2012-10-17","Statement":[
                  {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
                  {"Effect":"Deny","Principal":{"AWS":"{{StrictPrincipals.Alice.Arn}}"},"Action":"kms:Encrypt","Resource":"*"}]}
                """,
        });
        await KmsAssert.ErrorAsync(() => aliceA.EncryptTextAsync(key.KeyId, "denied"), "AccessDeniedException");

        // A grant made on A lets bob (no identity policy) encrypt on B; retired on B, A refuses him.
        await KmsAssert.ErrorAsync(() => Client(A, StrictPrincipals.Bob).EncryptTextAsync(key.KeyId, "no grant yet"), "AccessDeniedException");
        var grant = await adminA.CreateGrantAsync(new CreateGrantRequest
        {
            KeyId = key.KeyId,
            GranteePrincipal = StrictPrincipals.Bob.Arn,
            Operations = [GrantOperation.Encrypt],
        });
        Assert.NotNull(await bobB.EncryptTextAsync(key.KeyId, "granted"));
        await adminB.RevokeGrantAsync(new RevokeGrantRequest { KeyId = key.KeyId, GrantId = grant.GrantId });
        using (var bobA = Client(A, StrictPrincipals.Bob))
        {
            await KmsAssert.ErrorAsync(() => bobA.EncryptTextAsync(key.KeyId, "revoked"), "AccessDeniedException");
        }

        // Disabled on A: B refuses; enabled on B: A serves.
        await adminA.DisableKeyAsync(new DisableKeyRequest { KeyId = key.KeyId });
        await KmsAssert.DisabledAsync(() => adminB.EncryptTextAsync(key.KeyId, "disabled"), key.Arn);
        await adminB.EnableKeyAsync(new EnableKeyRequest { KeyId = key.KeyId });
        Assert.NotNull(await adminA.EncryptTextAsync(key.KeyId, "enabled again"));

        // Deletion scheduled on A: B refuses the key and lists it as pending deletion.
        await adminA.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = key.KeyId, PendingWindowInDays = 7 });
        await KmsAssert.PendingDeletionAsync(() => adminB.EncryptTextAsync(key.KeyId, "pending"), key.Arn);
        Assert.Equal(KeyState.PendingDeletion, (await adminB.DescribeAsync(key.KeyId)).KeyState);
        Assert.Contains(await adminB.AllKeysAsync(), k => k.KeyId == key.KeyId);
    }

    [SkippableFact]
    public async Task Writes_to_one_key_through_both_nodes_at_once_all_succeed_and_none_is_lost()
    {
        const int PerNode = 12;
        using var adminA = Client(A, StrictPrincipals.Admin);
        using var adminB = Client(B, StrictPrincipals.Admin);
        var key = await adminA.NewKeyAsync("contended");

        // Each tag write reads the key's tags, adds one and writes them back: a lost update would drop a tag.
        var writes = new[] { (Name: "a", Kms: adminA), (Name: "b", Kms: adminB) }
            .SelectMany(node => Enumerable.Range(0, PerNode).Select(i => (Tag: $"{node.Name}{i:D2}", node.Kms)))
            .Select(w => Task.Run(() => w.Kms.TagResourceAsync(new TagResourceRequest { KeyId = key.KeyId, Tags = [new Tag { TagKey = w.Tag, TagValue = "1" }] })))
            .ToList();
        await Task.WhenAll(writes);

        var expected = Enumerable.Range(0, PerNode).SelectMany(i => new[] { $"a{i:D2}", $"b{i:D2}" }).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(expected, (await adminB.TagsAsync(key.KeyId)).Select(t => t.TagKey).Order(StringComparer.Ordinal).ToList());
        Assert.Equal(expected, (await adminA.TagsAsync(key.KeyId)).Select(t => t.TagKey).Order(StringComparer.Ordinal).ToList());
    }
}
