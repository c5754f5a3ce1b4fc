using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using KmsEmulator.Api.Audit;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// The digest files as CloudTrail writes them (kms-wire-facts 7.5): names, fields, chain, signature, and when they are
/// written. The signed string and the fingerprint are rebuilt here from the documented rules, not from the writer's
/// helpers, so a writer that drifts from them fails.
/// </summary>
public sealed class DigestWriterTests
{
    private static readonly string[] DigestFields =
    [
        "awsAccountId", "digestStartTime", "digestEndTime", "digestS3Bucket", "digestS3Object", "digestPublicKeyFingerprint",
        "digestSignatureAlgorithm", "newestEventTime", "oldestEventTime", "previousDigestS3Bucket", "previousDigestS3Object",
        "previousDigestHashValue", "previousDigestHashAlgorithm", "previousDigestSignature", "logFiles",
    ];

    private static readonly string[] LogFileFields = ["s3Bucket", "s3Object", "hashValue", "hashAlgorithm", "newestEventTime", "oldestEventTime"];

    [Fact]
    public async Task A_digest_has_exactly_CloudTrails_fields_and_lists_the_log_files_of_its_period()
    {
        await using var kit = await DigestTestKit.StartAsync();
        var first = await kit.DeliverAsync();
        var second = await kit.DeliverAsync(eventName: "Decrypt");
        await kit.NextIntervalAsync();

        var digest = Assert.Single(kit.Digests());
        using var json = JsonDocument.Parse(kit.ReadGzip(digest));
        var root = json.RootElement;
        Assert.Equal(DigestFields, root.EnumerateObject().Select(p => p.Name));
        Assert.Equal(DigestTestKit.Account, root.GetProperty("awsAccountId").GetString());
        Assert.Equal(DigestTestKit.Bucket, root.GetProperty("digestS3Bucket").GetString());
        Assert.Equal(digest, root.GetProperty("digestS3Object").GetString());
        Assert.Equal("SHA256withRSA", root.GetProperty("digestSignatureAlgorithm").GetString());
        Assert.Equal(kit.Clock.GetUtcNow().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'"), root.GetProperty("digestEndTime").GetString());
        foreach (var previous in new[] { "previousDigestS3Bucket", "previousDigestS3Object", "previousDigestHashValue", "previousDigestHashAlgorithm", "previousDigestSignature" })
        {
            Assert.Equal(JsonValueKind.Null, root.GetProperty(previous).ValueKind);
        }

        var logFiles = root.GetProperty("logFiles").EnumerateArray().ToList();
        Assert.Equal([first, second], logFiles.Select(f => f.GetProperty("s3Object").GetString()));
        foreach (var (file, key) in logFiles.Zip([first, second]))
        {
            Assert.Equal(LogFileFields, file.EnumerateObject().Select(p => p.Name));
            Assert.Equal(DigestTestKit.Bucket, file.GetProperty("s3Bucket").GetString());
            Assert.Equal("SHA-256", file.GetProperty("hashAlgorithm").GetString());
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(kit.ReadGzip(key))), file.GetProperty("hashValue").GetString());
            Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", file.GetProperty("newestEventTime").GetString());
        }

        Assert.NotEqual(JsonValueKind.Null, root.GetProperty("newestEventTime").ValueKind);
        Assert.NotEqual(JsonValueKind.Null, root.GetProperty("oldestEventTime").ValueKind);
    }

    [Fact]
    public async Task A_digest_is_named_and_placed_as_CloudTrail_names_digests()
    {
        await using var kit = await DigestTestKit.StartAsync();
        await kit.DeliverAsync();
        await kit.NextIntervalAsync();

        var digest = Assert.Single(kit.Digests());
        var end = kit.Clock.GetUtcNow();
        Assert.Equal(
            $"AWSLogs/111122223333/CloudTrail-Digest/us-east-1/{end:yyyy'/'MM'/'dd}/111122223333_CloudTrail-Digest_us-east-1_kms-emulator_us-east-1_{end:yyyyMMdd'T'HHmmss'Z'}.json.gz",
            digest);
        Assert.Equal(end.ToString("yyyyMMdd'T'HHmmss'Z'"), digest[^24..^8]);
    }

    [Fact]
    public async Task A_digest_is_signed_over_the_documented_string_with_the_exported_public_key()
    {
        await using var kit = await DigestTestKit.StartAsync();
        await kit.DeliverAsync();
        await kit.NextIntervalAsync();
        await kit.DeliverAsync();
        await kit.NextIntervalAsync();

        var digests = kit.Digests();
        Assert.Equal(2, digests.Count);
        string? previousSignature = null;
        foreach (var digest in digests)
        {
            var uncompressed = kit.ReadGzip(digest);
            using var json = JsonDocument.Parse(uncompressed);
            var root = json.RootElement;
            var fingerprint = root.GetProperty("digestPublicKeyFingerprint").GetString()!;
            Assert.Matches("^[0-9a-f]{32}$", fingerprint);
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(kit.Signer.Key.ExportRSAPublicKey()))[..32], fingerprint);

            var pem = File.ReadAllText(kit.PathOf($"AWSLogs/111122223333/CloudTrail-Digest/us-east-1/public-keys/{fingerprint}.pem"));
            Assert.Contains("-----BEGIN PUBLIC KEY-----", pem, StringComparison.Ordinal);
            using var publicKey = RSA.Create();
            publicKey.ImportFromPem(pem);

            var signature = File.ReadAllText(kit.PathOf(digest + ".sig")).Trim();
            Assert.Matches("^[0-9a-f]{512}$", signature);
            var signed = root.GetProperty("digestEndTime").GetString() + "\n"
                + "kms-emulator-audit/" + digest + "\n"
                + Convert.ToHexStringLower(SHA256.HashData(uncompressed)) + "\n"
                + (previousSignature ?? "null");
            Assert.True(publicKey.VerifyData(Encoding.UTF8.GetBytes(signed), Convert.FromHexString(signature), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
            Assert.False(publicKey.VerifyData(Encoding.UTF8.GetBytes(signed + "x"), Convert.FromHexString(signature), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
            previousSignature = signature;
        }
    }

    [Fact]
    public async Task Each_digest_chains_to_the_previous_digests_object_hash_and_signature_and_starts_where_it_ended()
    {
        await using var kit = await DigestTestKit.StartAsync();
        await kit.DeliverAsync();
        await kit.NextIntervalAsync();
        await kit.NextIntervalAsync();

        var digests = kit.Digests();
        Assert.Equal(2, digests.Count);
        var first = kit.ReadGzip(digests[0]);
        using var firstJson = JsonDocument.Parse(first);
        using var second = JsonDocument.Parse(kit.ReadGzip(digests[1]));
        var root = second.RootElement;
        Assert.Equal("kms-emulator-audit", root.GetProperty("previousDigestS3Bucket").GetString());
        Assert.Equal(digests[0], root.GetProperty("previousDigestS3Object").GetString());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(first)), root.GetProperty("previousDigestHashValue").GetString());
        Assert.Equal("SHA-256", root.GetProperty("previousDigestHashAlgorithm").GetString());
        Assert.Equal(File.ReadAllText(kit.PathOf(digests[0] + ".sig")).Trim(), root.GetProperty("previousDigestSignature").GetString());
        Assert.Equal(firstJson.RootElement.GetProperty("digestEndTime").GetString(), root.GetProperty("digestStartTime").GetString());
    }

    [Fact]
    public async Task An_interval_without_log_files_still_gets_a_digest_with_no_files_and_null_event_times()
    {
        await using var kit = await DigestTestKit.StartAsync();
        await kit.DeliverAsync();
        await kit.NextIntervalAsync();
        await kit.NextIntervalAsync();

        using var json = JsonDocument.Parse(kit.ReadGzip(kit.Digests()[1]));
        var root = json.RootElement;
        Assert.Empty(root.GetProperty("logFiles").EnumerateArray());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("newestEventTime").ValueKind);
        Assert.Equal(JsonValueKind.Null, root.GetProperty("oldestEventTime").ValueKind);
    }

    [Fact]
    public async Task An_account_and_region_that_never_had_log_files_gets_no_digests()
    {
        await using var kit = await DigestTestKit.StartAsync();
        await kit.NextIntervalAsync();

        Assert.Empty(kit.Digests());
        Assert.Equal(0, kit.Signer.Signatures);
        Assert.False(Directory.Exists(kit.PathOf("AWSLogs")));
    }

    [Fact]
    public async Task Each_account_and_region_has_a_chain_of_its_own()
    {
        await using var kit = await DigestTestKit.StartAsync();
        await kit.DeliverAsync();
        await kit.DeliverAsync(account: "444455556666", region: "eu-west-1");
        await kit.NextIntervalAsync();

        Assert.Single(kit.Digests());
        var other = Directory.GetFiles(kit.PathOf("AWSLogs/444455556666/CloudTrail-Digest/eu-west-1"), "*.json.gz", SearchOption.AllDirectories);
        var name = Path.GetFileName(Assert.Single(other));
        Assert.StartsWith("444455556666_CloudTrail-Digest_eu-west-1_kms-emulator_us-east-1_", name, StringComparison.Ordinal);
        Assert.True(kit.Verify().Intact);
    }

    [Fact]
    public async Task Completing_writes_a_final_digest_for_the_files_not_yet_covered()
    {
        await using var kit = await DigestTestKit.StartAsync();
        await kit.DeliverAsync();
        await kit.NextIntervalAsync();
        var late = await kit.DeliverAsync();

        await kit.Writer.StopAsync(CancellationToken.None);
        await kit.Writer.CompleteAsync(CancellationToken.None);

        var digests = kit.Digests();
        Assert.Equal(2, digests.Count);
        using var json = JsonDocument.Parse(kit.ReadGzip(digests[1]));
        Assert.Equal([late], json.RootElement.GetProperty("logFiles").EnumerateArray().Select(f => f.GetProperty("s3Object").GetString()));
        var report = kit.Verify();
        Assert.True(report.Intact, string.Join("\n", report.Lines()));
        Assert.Empty(report.NotYetCovered);
    }

    [Fact]
    public async Task Completing_with_every_file_covered_writes_nothing_more()
    {
        await using var kit = await DigestTestKit.StartAsync();
        await kit.DeliverAsync();
        await kit.NextIntervalAsync();

        await kit.Writer.StopAsync(CancellationToken.None);
        await kit.Writer.CompleteAsync(CancellationToken.None);

        Assert.Single(kit.Digests());
    }

    [Fact]
    public async Task After_a_restart_the_chain_goes_on_from_the_last_digest_and_pending_files_are_not_lost()
    {
        await using var kit = await DigestTestKit.StartAsync();
        await kit.DeliverAsync();
        await kit.NextIntervalAsync();
        var pending = await kit.DeliverAsync();

        await kit.RestartAsync(); // No CompleteAsync: as after a crash, the pending file is known only from the state.
        await kit.NextIntervalAsync();

        var digests = kit.Digests();
        Assert.Equal(2, digests.Count);
        using var json = JsonDocument.Parse(kit.ReadGzip(digests[1]));
        Assert.Equal(digests[0], json.RootElement.GetProperty("previousDigestS3Object").GetString());
        Assert.Equal([pending], json.RootElement.GetProperty("logFiles").EnumerateArray().Select(f => f.GetProperty("s3Object").GetString()));
        Assert.True(kit.Verify().Intact);
    }

    [Fact]
    public async Task A_log_file_delivered_but_never_recorded_before_a_crash_goes_into_the_next_digest_after_the_restart()
    {
        await using var kit = await DigestTestKit.StartAsync();
        await kit.DeliverAsync();
        await kit.NextIntervalAsync();
        kit.Clock.Advance(TimeSpan.FromMinutes(2));
        var unrecorded = kit.WriteLogFile().RelativePath;

        await kit.RestartAsync();
        await kit.NextIntervalAsync();

        var digests = kit.Digests();
        Assert.Equal(2, digests.Count);
        using var json = JsonDocument.Parse(kit.ReadGzip(digests[1]));
        var listed = Assert.Single(json.RootElement.GetProperty("logFiles").EnumerateArray());
        Assert.Equal(unrecorded, listed.GetProperty("s3Object").GetString());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(kit.ReadGzip(unrecorded))), listed.GetProperty("hashValue").GetString());
        Assert.Equal(kit.Clock.GetUtcNow().AddHours(-1).AddSeconds(-1).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'"), listed.GetProperty("newestEventTime").GetString());
        Assert.True(kit.Verify().Intact);
    }

    [Fact]
    public async Task An_unrecorded_encrypted_log_file_is_listed_by_the_hash_of_its_stored_bytes()
    {
        await using var kit = await DigestTestKit.StartAsync();
        var encrypted = await kit.DeliverEncryptedAsync(tell: false);

        await kit.RestartAsync();
        await kit.NextIntervalAsync();

        using var json = JsonDocument.Parse(kit.ReadGzip(Assert.Single(kit.Digests())));
        var listed = Assert.Single(json.RootElement.GetProperty("logFiles").EnumerateArray());
        Assert.Equal(encrypted, listed.GetProperty("s3Object").GetString());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(kit.PathOf(encrypted)))), listed.GetProperty("hashValue").GetString());
        Assert.True(kit.Verify().Intact);
    }

    [Fact]
    public async Task A_log_file_that_is_not_gzip_is_left_out_at_start_and_reported_by_verify()
    {
        await using var kit = await DigestTestKit.StartAsync();
        var good = kit.WriteLogFile().RelativePath;
        var broken = DigestTestKit.LogObjectKey(DigestTestKit.Account, DigestTestKit.Region, kit.Clock.GetUtcNow());
        File.WriteAllText(kit.PathOf(broken), "not gzip");

        await kit.RestartAsync();
        kit.Clock.Advance(TimeSpan.FromMinutes(1));
        await kit.NextIntervalAsync();

        using var json = JsonDocument.Parse(kit.ReadGzip(Assert.Single(kit.Digests())));
        Assert.Equal([good], json.RootElement.GetProperty("logFiles").EnumerateArray().Select(f => f.GetProperty("s3Object").GetString()));
        Assert.Equal(broken, Assert.Single(kit.Verify().Problems).ObjectKey);
    }

    [Fact]
    public async Task A_file_found_at_start_and_then_reported_delivered_is_listed_once()
    {
        await using var kit = await DigestTestKit.StartAsync();
        await kit.DeliverAsync();
        await kit.NextIntervalAsync();
        var recovered = kit.WriteLogFile(); // What AuditDelivery's recovery of a crash's .partial file delivers at start.

        await kit.RestartAsync(start: false);
        await kit.Writer.DeliveredAsync(recovered, CancellationToken.None); // Before the writer's own start.
        await kit.Writer.StartAsync(CancellationToken.None);
        await kit.NextIntervalAsync();

        using var json = JsonDocument.Parse(kit.ReadGzip(kit.Digests()[1]));
        Assert.Equal([recovered.RelativePath], json.RootElement.GetProperty("logFiles").EnumerateArray().Select(f => f.GetProperty("s3Object").GetString()));
        Assert.True(kit.Verify().Intact);
    }

    [Fact]
    public async Task Log_files_written_before_digests_existed_are_listed_by_the_first_digest()
    {
        await using var kit = await DigestTestKit.StartAsync();
        var older = kit.WriteLogFile().RelativePath;
        kit.Clock.Advance(TimeSpan.FromMinutes(3));
        var newer = kit.WriteLogFile(account: "444455556666").RelativePath;

        await kit.RestartAsync();
        await kit.NextIntervalAsync();

        using var json = JsonDocument.Parse(kit.ReadGzip(Assert.Single(kit.Digests())));
        Assert.Equal([older], json.RootElement.GetProperty("logFiles").EnumerateArray().Select(f => f.GetProperty("s3Object").GetString()));
        Assert.Equal(kit.Clock.GetUtcNow().AddHours(-1).AddMinutes(-3).AddSeconds(-1).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'"), json.RootElement.GetProperty("digestStartTime").GetString());
        var report = kit.Verify();
        Assert.True(report.Intact, string.Join("\n", report.Lines()));
        Assert.Equal(2, report.ValidLogFiles);
        var other = Directory.GetFiles(kit.PathOf("AWSLogs/444455556666/CloudTrail-Digest/us-east-1"), "*.json.gz", SearchOption.AllDirectories);
        using var otherJson = JsonDocument.Parse(kit.ReadGzip(Path.GetRelativePath(kit.Root, Assert.Single(other)).Replace(Path.DirectorySeparatorChar, '/')));
        Assert.Equal([newer], otherJson.RootElement.GetProperty("logFiles").EnumerateArray().Select(f => f.GetProperty("s3Object").GetString()));
    }

    [Fact]
    public async Task Two_digests_due_in_the_same_second_get_distinct_names_and_both_verify()
    {
        await using var kit = await DigestTestKit.StartAsync();
        await kit.DeliverAsync();
        await kit.NextIntervalAsync();
        await kit.DeliverAsync(); // The clock has not moved: the final digest falls in the same second as the last.
        await kit.Writer.StopAsync(CancellationToken.None);
        await kit.Writer.CompleteAsync(CancellationToken.None);

        var digests = kit.Digests();
        Assert.Equal(2, digests.Count);
        Assert.Equal(kit.Clock.GetUtcNow().AddSeconds(1).ToString("yyyyMMdd'T'HHmmss'Z'"), digests[1][^24..^8]);
        Assert.True(kit.Verify().Intact);
    }

    [Fact]
    public async Task The_state_file_names_the_last_digest_and_nothing_secret()
    {
        await using var kit = await DigestTestKit.StartAsync();
        await kit.DeliverAsync();
        await kit.NextIntervalAsync();

        var state = File.ReadAllText(Path.Combine(kit.Root, ".digest-state.json"));
        Assert.Contains(kit.Digests()[0], state, StringComparison.Ordinal);
        Assert.DoesNotContain("PRIVATE", state, StringComparison.Ordinal);
        Assert.DoesNotMatch(new Regex("\"eventName\""), state);
    }
}
