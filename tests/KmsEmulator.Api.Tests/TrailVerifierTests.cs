using System.Text;
using KmsEmulator.Api.Audit;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// <c>audit verify</c>'s checks on a trail written by the digest writer: intact passes; each kind of tampering fails and
/// names the file. Every test first proves the trail verified before it was touched, so a verifier that fails everything
/// does not pass them.
/// </summary>
public sealed class TrailVerifierTests
{
    [Fact]
    public async Task An_intact_trail_verifies()
    {
        await using var kit = await TrailAsync();

        var report = kit.Verify();

        Assert.True(report.Intact, string.Join("\n", report.Lines()));
        Assert.Equal(5, report.DigestFiles);
        Assert.Equal(5, report.ValidDigestFiles);
        Assert.Equal(4, report.LogFiles);
        Assert.Equal(4, report.ValidLogFiles);
        Assert.EndsWith("the trail is intact", report.Lines().Last(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_modified_log_file_is_named()
    {
        await using var kit = await TrailAsync();
        var log = kit.Logs[1];
        var content = kit.ReadGzip(log);
        content[^5] = (byte)'X';
        kit.WriteGzip(log, content);

        var problem = Assert.Single(kit.Verify().Problems);

        Assert.Equal(TrailFileKind.Log, problem.Kind);
        Assert.Equal(log, problem.ObjectKey);
        Assert.Contains("hash value does not match", problem.Reason, StringComparison.Ordinal);
        Assert.StartsWith($"Log file\t{log}\tINVALID:", problem.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_log_file_that_is_no_longer_gzip_is_named()
    {
        await using var kit = await TrailAsync();
        File.WriteAllText(kit.PathOf(kit.Logs[0]), "{\"Records\":[]}");

        var problem = Assert.Single(kit.Verify().Problems);

        Assert.Equal(kit.Logs[0], problem.ObjectKey);
    }

    [Fact]
    public async Task A_deleted_log_file_is_named()
    {
        await using var kit = await TrailAsync();
        File.Delete(kit.PathOf(kit.Logs[2]));

        var problem = Assert.Single(kit.Verify().Problems);

        Assert.Equal(TrailFileKind.Log, problem.Kind);
        Assert.Equal(kit.Logs[2], problem.ObjectKey);
        Assert.Contains("not found", problem.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_inserted_log_file_is_named()
    {
        await using var kit = await TrailAsync();
        var inserted = DigestTestKit.LogObjectKey(DigestTestKit.Account, DigestTestKit.Region, kit.Clock.GetUtcNow().AddHours(-1.5));
        kit.WriteGzip(inserted, Encoding.UTF8.GetBytes("{\"Records\":[]}\n"));

        var problem = Assert.Single(kit.Verify().Problems);

        Assert.Equal(TrailFileKind.Log, problem.Kind);
        Assert.Equal(inserted, problem.ObjectKey);
        Assert.Contains("listed in no digest", problem.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_log_file_delivered_after_the_newest_digest_is_not_yet_covered_and_not_a_problem()
    {
        await using var kit = await TrailAsync();
        kit.Clock.Advance(TimeSpan.FromMinutes(5));
        var late = await kit.DeliverAsync();

        var report = kit.Verify();

        Assert.True(report.Intact, string.Join("\n", report.Lines()));
        Assert.Equal([late], report.NotYetCovered);
        Assert.Contains($"Log file\t{late}\tnot yet covered by a digest", report.Lines());
    }

    [Fact]
    public async Task A_deleted_log_file_that_no_digest_lists_yet_is_named_from_the_recorded_state()
    {
        await using var kit = await TrailAsync();
        kit.Clock.Advance(TimeSpan.FromMinutes(5));
        var late = await kit.DeliverAsync();
        File.Delete(kit.PathOf(late));

        var problem = Assert.Single(kit.Verify().Problems);

        Assert.Equal(late, problem.ObjectKey);
    }

    [Fact]
    public async Task A_modified_digest_is_named()
    {
        await using var kit = await TrailAsync();
        var digest = kit.Digests()[1];
        var json = Encoding.UTF8.GetString(kit.ReadGzip(digest)).Replace("\"hashAlgorithm\":\"SHA-256\"", "\"hashAlgorithm\":\"SHA-256\" ", StringComparison.Ordinal);
        kit.WriteGzip(digest, Encoding.UTF8.GetBytes(json));

        var problems = kit.Verify().Problems;

        Assert.NotEmpty(problems);
        Assert.All(problems, p => Assert.Equal(digest, p.ObjectKey));
        Assert.Contains(problems, p => p.Reason.Contains("signature verification failed", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Reason.Contains("previousDigestHashValue", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_digest_whose_listed_hash_was_changed_to_match_a_modified_log_is_named()
    {
        await using var kit = await TrailAsync();
        var digest = kit.Digests()[0];
        var log = kit.Logs[0];
        var content = kit.ReadGzip(log);
        var oldHash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(content));
        content[^5] = (byte)'X';
        kit.WriteGzip(log, content);
        var newHash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(content));
        kit.WriteGzip(digest, Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(kit.ReadGzip(digest)).Replace(oldHash, newHash, StringComparison.Ordinal)));

        var problems = kit.Verify().Problems;

        Assert.Contains(problems, p => p.ObjectKey == digest && p.Reason.Contains("signature verification failed", StringComparison.Ordinal));
        Assert.DoesNotContain(problems, p => p.ObjectKey != digest);
    }

    [Fact]
    public async Task A_digest_whose_signature_was_replaced_is_named()
    {
        await using var kit = await TrailAsync();
        var digest = kit.Digests()[2];
        File.WriteAllText(kit.PathOf(digest + ".sig"), new string('a', 512));

        var problem = Assert.Single(kit.Verify().Problems);

        Assert.Equal(digest, problem.ObjectKey);
        Assert.Contains("signature verification failed", problem.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_deleted_digest_in_the_chain_is_named()
    {
        await using var kit = await TrailAsync();
        var digests = kit.Digests();
        File.Delete(kit.PathOf(digests[1]));

        var report = kit.Verify();

        Assert.False(report.Intact);
        Assert.Contains(report.Problems, p => p.ObjectKey == digests[1] && p.Kind == TrailFileKind.Digest && p.Reason.Contains("not found", StringComparison.Ordinal));
        Assert.Contains(report.Problems, p => p.ObjectKey == kit.Logs[2] && p.Reason.Contains("listed in no digest", StringComparison.Ordinal));
        Assert.DoesNotContain(report.Problems, p => p.ObjectKey == digests[0] || p.ObjectKey == digests[2]);
    }

    [Fact]
    public async Task A_deleted_newest_digest_is_named_from_the_recorded_state()
    {
        await using var kit = await TrailAsync();
        var newest = kit.Digests()[^1];
        File.Delete(kit.PathOf(newest));

        var report = kit.Verify();

        Assert.Contains(report.Problems, p => p.ObjectKey == newest && p.Reason.Contains("not found", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_inserted_digest_is_named()
    {
        await using var kit = await TrailAsync();
        var digests = kit.Digests();
        var forged = digests[1].Replace(digests[1][^24..^8], "20200101T000000Z", StringComparison.Ordinal);
        Directory.CreateDirectory(Path.GetDirectoryName(kit.PathOf(forged))!);
        File.Copy(kit.PathOf(digests[1]), kit.PathOf(forged));
        File.Copy(kit.PathOf(digests[1] + ".sig"), kit.PathOf(forged + ".sig"));

        var problems = kit.Verify().Problems;

        Assert.NotEmpty(problems);
        Assert.All(problems, p => Assert.Equal(forged, p.ObjectKey));
        Assert.Contains(problems, p => p.Reason.Contains("not referenced", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Reason.Contains("moved from its original location", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_public_key_replaced_by_another_is_named_and_its_digests_fail()
    {
        await using var kit = await TrailAsync();
        var keyFile = Directory.GetFiles(kit.PathOf("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/public-keys")).Single();
        using var other = System.Security.Cryptography.RSA.Create(2048);
        File.WriteAllText(keyFile, other.ExportSubjectPublicKeyInfoPem());

        var report = kit.Verify();

        Assert.Contains(report.Problems, p => p.Kind == TrailFileKind.PublicKey);
        Assert.All(kit.Digests(), digest => Assert.Contains(report.Problems, p => p.ObjectKey == digest));
        Assert.Equal(2, report.ValidDigestFiles); // The other account's digests have their own copy of the key.
    }

    [Fact]
    public async Task A_trail_checked_under_another_bucket_name_is_reported_as_moved()
    {
        await using var kit = await TrailAsync();

        var report = new TrailVerifier(kit.Root, "another-bucket").Verify();

        Assert.Contains(report.Problems, p => p.ObjectKey == kit.Digests()[^1] && p.Reason.Contains("moved", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Encrypted_log_files_are_checked_by_the_hash_of_their_stored_envelope()
    {
        await using var kit = await DigestTestKit.StartAsync();
        var encrypted = await kit.DeliverEncryptedAsync();
        await kit.NextIntervalAsync();
        var intact = kit.Verify();
        Assert.True(intact.Intact, string.Join("\n", intact.Lines()));
        Assert.Equal(1, intact.ValidLogFiles);

        var stored = File.ReadAllBytes(kit.PathOf(encrypted));
        stored[^3] ^= 1;
        File.WriteAllBytes(kit.PathOf(encrypted), stored);

        var problem = Assert.Single(kit.Verify().Problems);
        Assert.Equal(encrypted, problem.ObjectKey);
        Assert.Contains("hash value does not match", problem.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_digest_state_file_that_is_not_JSON_is_reported()
    {
        await using var kit = await TrailAsync();
        File.WriteAllText(Path.Combine(kit.Root, ".digest-state.json"), "{ not json");

        var problem = Assert.Single(kit.Verify().Problems);

        Assert.Equal(TrailFileKind.State, problem.Kind);
    }

    [Fact]
    public async Task An_empty_audit_folder_is_intact()
    {
        await using var kit = await DigestTestKit.StartAsync();

        var report = kit.Verify();

        Assert.True(report.Intact);
        Assert.Equal(0, report.DigestFiles);
    }

    /// <summary>
    /// Account 111122223333 gets three digests: logs 0 and 1, then log 2, then none; account 444455556666 two: log 3,
    /// then none. Verified intact before the test touches it.
    /// </summary>
    private static async Task<DigestTestKit> TrailAsync()
    {
        var kit = await DigestTestKit.StartAsync();
        await kit.DeliverAsync();
        await kit.DeliverAsync(eventName: "Decrypt");
        await kit.NextIntervalAsync();
        await kit.DeliverAsync(eventName: "Sign");
        await kit.DeliverAsync(account: "444455556666");
        await kit.NextIntervalAsync();
        await kit.NextIntervalAsync();
        var before = kit.Verify();
        Assert.True(before.Intact, string.Join("\n", before.Lines()));
        Assert.Equal(3, kit.Digests().Count);
        return kit;
    }
}
