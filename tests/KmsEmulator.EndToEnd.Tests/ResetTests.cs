using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using KmsEmulator.Api.Keys;
using KmsEmulator.Hsm;
using Microsoft.Extensions.DependencyInjection;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>
/// The emulator-only reset (<c>POST /_emulator/reset</c>, with Kms:Admin:Enabled) and state listing
/// (<c>GET /_emulator/state</c>): everything goes, HSM objects included, and the emulator goes on working. And the
/// audit flush (<c>POST /_emulator/audit/flush</c>), which tests outside the emulator's process use instead of waiting.
/// </summary>
public sealed class ResetTests
{
    [Fact]
    public async Task A_reset_leaves_no_key_alias_grant_or_hsm_object_and_the_emulator_goes_on()
    {
        await using var host = await EmulatorHost.StartNewAsync("--Kms:Admin:Enabled=true");
        using var kms = host.CreateClient();
        using var euKms = EmulatorHost.CreateClient(host.Url, region: "eu-west-1");
        using var http = new HttpClient { BaseAddress = new Uri(host.Url) };

        var symmetric = await kms.NewKeyAsync("reset me");
        var alias = await kms.NewAliasAsync(symmetric.KeyId);
        await kms.CreateGrantAsync(new CreateGrantRequest { KeyId = symmetric.KeyId, GranteePrincipal = "arn:aws:iam::111122223333:user/dave", Operations = [GrantOperation.Encrypt] });
        var pair = (await kms.CreateKeyAsync(new CreateKeyRequest { KeySpec = KeySpec.ECC_NIST_P256, KeyUsage = KeyUsageType.SIGN_VERIFY })).KeyMetadata;
        var external = (await kms.CreateKeyAsync(new CreateKeyRequest { Origin = OriginType.EXTERNAL })).KeyMetadata;
        await kms.GetParametersForImportAsync(new GetParametersForImportRequest
        {
            KeyId = external.KeyId,
            WrappingAlgorithm = AlgorithmSpec.RSAES_OAEP_SHA_256,
            WrappingKeySpec = WrappingKeySpec.RSA_2048,
        });
        var managed = (await kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = "alias/aws/s3" })).KeyMetadata;
        var elsewhere = await euKms.NewKeyAsync("another region");
        var context = Blob.Context(("before", "reset"));
        var ciphertext = (await kms.EncryptTextAsync(symmetric.KeyId, "gone with the key", context)).CiphertextBlob;

        var state = (await http.GetFromJsonAsync<JsonObject>("/_emulator/state"))!;
        var arns = state["keys"]!.AsArray().Select(k => (string?)k!["keyArn"]).ToList();
        Assert.Contains(symmetric.Arn, arns);
        Assert.Contains(managed.Arn, arns);
        Assert.Contains(elsewhere.Arn, arns);
        Assert.Contains(state["aliases"]!.AsArray(), a => (string?)a!["aliasArn"] == $"arn:aws:kms:us-east-1:{Accounts.Default}:{alias}");
        Assert.True(await HsmObjectsAsync(host) >= 6, "the keys' objects and the wrapping key pair are on the token before the reset");

        var reset = await http.PostAsync("/_emulator/reset", null);

        Assert.Equal(HttpStatusCode.OK, reset.StatusCode);
        var result = (await reset.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal(5, (int)result["keysDeleted"]!);
        Assert.Equal(2, (int)result["aliasesDeleted"]!); // ours and alias/aws/s3, made with its key
        Assert.Equal("kept", (string?)result["auditTrail"]);
        Assert.Equal(0, await HsmObjectsAsync(host));
        var after = (await http.GetFromJsonAsync<JsonObject>("/_emulator/state"))!;
        Assert.Empty(after["keys"]!.AsArray());
        Assert.Empty(after["aliases"]!.AsArray());
        foreach (var keyId in new[] { symmetric.KeyId, pair.KeyId, external.KeyId })
        {
            await KmsAssert.ErrorAsync(() => kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = keyId }), "NotFoundException");
        }

        await KmsAssert.ErrorAsync(() => euKms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = elsewhere.KeyId }), "NotFoundException");
        await KmsAssert.ErrorAsync(() => kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = alias }), "NotFoundException");
        // As AWS answers for a ciphertext whose key does not exist.
        await KmsAssert.ErrorAsync(() => kms.DecryptAsync(new DecryptRequest { CiphertextBlob = ciphertext, EncryptionContext = context }), "AccessDeniedException");
        Assert.Empty((await kms.ListKeysAsync(new ListKeysRequest())).Keys ?? []);

        // The emulator goes on: new keys work, the AWS managed key is made again (same id, new material), and a restart
        // finds nothing to reconcile.
        var fresh = await kms.NewKeyAsync("after the reset");
        var sealedAgain = (await kms.EncryptTextAsync(fresh.KeyId, "after", context)).CiphertextBlob;
        Assert.Equal("after", Blob.Text((await kms.DecryptBlobAsync(sealedAgain, context)).Plaintext));
        Assert.Equal(managed.KeyId, (await kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = "alias/aws/s3" })).KeyMetadata.KeyId);

        await using var restarted = await host.RestartAsync();
        using var again = restarted.CreateClient();
        Assert.Equal("after", Blob.Text((await again.DecryptBlobAsync(sealedAgain, context)).Plaintext));
        Assert.Equal(2, await HsmObjectsAsync(restarted));
    }

    [Fact]
    public async Task A_reset_that_clears_the_audit_trail_leaves_only_what_came_after_and_that_verifies()
    {
        await using var host = await EmulatorHost.StartNewAsync("--Kms:Admin:Enabled=true");
        using var kms = host.CreateClient();
        using var http = new HttpClient { BaseAddress = new Uri(host.Url) };
        var old = await kms.NewKeyAsync("before the reset");
        await kms.EncryptTextAsync(old.KeyId, "recorded, then cleared");
        var before = await host.FlushAndReadAsync();
        Assert.Contains(before, r => r.ToJsonString().Contains(old.KeyId, StringComparison.Ordinal));

        var refused = await http.PostAsync("/_emulator/reset", JsonContent.Create(new { auditTrail = "shred" }));
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Equal(old.KeyId, (await kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = old.KeyId })).KeyMetadata.KeyId);

        var reset = await http.PostAsync("/_emulator/reset", JsonContent.Create(new { auditTrail = "clear" }));

        Assert.Equal(HttpStatusCode.OK, reset.StatusCode);
        Assert.Equal("cleared", (string?)(await reset.Content.ReadFromJsonAsync<JsonObject>())!["auditTrail"]);
        Assert.Empty(await host.FlushAndReadAsync());

        var fresh = await kms.NewKeyAsync("after the reset");
        var encrypted = await kms.EncryptTextAsync(fresh.KeyId, "recorded");
        var usage = await kms.GetKeyLastUsageAsync(new GetKeyLastUsageRequest { KeyId = fresh.KeyId });
        Assert.Equal(encrypted.ResponseMetadata.RequestId, usage.KeyLastUsage.KmsRequestId);
        var after = await host.FlushAndReadAsync();
        Assert.DoesNotContain(after, r => r.ToJsonString().Contains(old.KeyId, StringComparison.Ordinal));
        Assert.Contains(after, r => (string?)r["requestID"] == encrypted.ResponseMetadata.RequestId);

        // A graceful stop writes the final digest: the trail that is left, begun after the reset, verifies.
        var auditDir = AuditTrailReader.AuditRoot(host);
        await host.StopAsync();
        var report = new KmsEmulator.Api.Audit.TrailVerifier(auditDir, "kms-emulator-audit").Verify();
        Assert.True(report.Intact, string.Join("\n", report.Lines()));
        Assert.True(report.LogFiles >= 1);
    }

    [Fact]
    public async Task An_audit_flush_answers_once_the_calls_before_it_are_in_a_delivered_log_file_and_found_by_LookupEvents()
    {
        // Commits and deliveries an hour apart: only the flush can bring the call into the trail during the test.
        await using var host = await EmulatorHost.StartNewAsync(
            "--Kms:Admin:Enabled=true", "--Kms:Audit:CommitInterval=01:00:00", "--Kms:Audit:FlushInterval=01:00:00");
        using var kms = host.CreateClient();
        using var http = new HttpClient { BaseAddress = new Uri(host.Url) };
        var key = await kms.NewKeyAsync("flushed");
        var encrypted = await kms.EncryptTextAsync(key.KeyId, "in the trail");

        Assert.Equal(HttpStatusCode.MethodNotAllowed, (await http.GetAsync("/_emulator/audit/flush")).StatusCode);
        var flush = await http.PostAsync("/_emulator/audit/flush", null);

        Assert.Equal(HttpStatusCode.OK, flush.StatusCode);
        Assert.Equal("flushed", (string?)(await flush.Content.ReadFromJsonAsync<JsonObject>())!["auditTrail"]);
        AuditTrailReader.Read(AuditTrailReader.AuditRoot(host)).ByRequestId(encrypted.ResponseMetadata.RequestId);
        var found = await CloudTrailHttp.LookupAsync(host.Url, CloudTrailHttp.Attribute("ResourceName", key.Arn), LookupFixture.Root);
        Assert.Equal(["Encrypt", "CreateKey"], found.EventNames);
    }

    [Fact]
    public async Task Without_the_option_there_is_no_reset()
    {
        await using var host = await EmulatorHost.StartNewAsync();
        using var kms = host.CreateClient();
        using var http = new HttpClient { BaseAddress = new Uri(host.Url) };
        var key = await kms.NewKeyAsync("stays");

        var response = await http.PostAsync("/_emulator/reset", null);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(key.KeyId, (await kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = key.KeyId })).KeyMetadata.KeyId);
    }

    /// <summary>The token objects that carry this store's KMS label prefix (the index lists them without keeping any).</summary>
    private static async Task<int> HsmObjectsAsync(EmulatorHost host)
    {
        var prefix = host.Services.GetRequiredService<KeyWriter>().HsmLabelPrefix;
        var inventory = await host.Services.GetRequiredService<IKeyMaterialBackend>().IndexAsync(prefix, []);
        return inventory.KeyObjects;
    }
}
