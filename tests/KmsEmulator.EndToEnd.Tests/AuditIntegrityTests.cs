using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using Amazon.Runtime;
using KmsEmulator.Api.Audit;
using KmsEmulator.Api.Hosting;
using KmsEmulator.Api.Keys;
using KmsEmulator.Hsm;
using KmsEmulator.Hsm.Pkcs11;
using Net.Pkcs11Interop.Common;
using Microsoft.Extensions.DependencyInjection;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>
/// One real run, shared by the tests of <see cref="AuditIntegrityTests"/>: requests through the official SDK, some
/// flushed, then the clock moved ten minutes, more requests that are not flushed, and a graceful stop, which must
/// deliver them and cover every log file with a final digest signed by the HSM key. Tests tamper with copies of it.
/// </summary>
public sealed class SignedTrailFixture : IAsyncLifetime
{
    public string DataDir { get; private set; } = "";

    public string AuditDir => Path.Combine(DataDir, "audit");

    /// <summary>The request id of every response the run got, each of which must have its record.</summary>
    public List<string> RequestIds { get; } = [];

    public async Task InitializeAsync()
    {
        var host = await EmulatorHost.StartNewAsync();
        DataDir = host.DataDir;
        using (var kms = host.CreateClient())
        {
            var key = await kms.NewKeyAsync("audited");
            var encrypted = await kms.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = new MemoryStream([1, 2, 3]) });
            RequestIds.Add(encrypted.ResponseMetadata.RequestId);
            RequestIds.Add((await kms.DecryptAsync(new DecryptRequest { CiphertextBlob = encrypted.CiphertextBlob })).ResponseMetadata.RequestId);
            await host.Services.GetRequiredService<AuditTrail>().FlushAsync();

            host.Clock.Advance(TimeSpan.FromMinutes(10));
            for (var i = 0; i < 5; i++)
            {
                RequestIds.Add((await kms.GenerateRandomAsync(new GenerateRandomRequest { NumberOfBytes = 16 })).ResponseMetadata.RequestId);
            }

            RequestIds.Add((await kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = key.KeyId })).ResponseMetadata.RequestId);
            using var otherRegion = host.CreateClient(region: "eu-west-2");
            RequestIds.Add((await otherRegion.GenerateRandomAsync(new GenerateRandomRequest { NumberOfBytes = 8 })).ResponseMetadata.RequestId);
        }

        await host.StopAsync(); // Graceful: the last seven records are delivered and digested only by stopping.
    }

    public Task DisposeAsync() => Task.CompletedTask;

    /// <summary>A copy of the run's audit folder to tamper with.</summary>
    public string CopyTrail()
    {
        var copy = Path.Combine(Path.GetTempPath(), "kmsemu-trail-" + Guid.NewGuid().ToString("N")[..10]);
        foreach (var file in Directory.EnumerateFiles(AuditDir, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(copy, Path.GetRelativePath(AuditDir, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }

        return copy;
    }
}

/// <summary>
/// Integrity validation of a real run's trail (issue 10): it verifies, through the library and the
/// <c>audit verify</c> command; tampering with a log file or a digest makes verify fail and name the file; graceful
/// shutdown leaves every record delivered and covered; the chain and the HSM signing key survive a restart.
/// </summary>
public sealed class AuditIntegrityTests(SignedTrailFixture run) : IClassFixture<SignedTrailFixture>
{
    private const string Bucket = "kms-emulator-audit";

    [Fact]
    public void A_real_runs_trail_verifies_and_audit_verify_exits_0()
    {
        var report = new TrailVerifier(run.AuditDir, Bucket).Verify();
        Assert.True(report.Intact, string.Join("\n", report.Lines()));
        Assert.Empty(report.NotYetCovered);
        Assert.True(report.LogFiles >= 3, $"{report.LogFiles} log files"); // Two deliveries in us-east-1, one in eu-west-2.

        var (status, output) = VerifyCommand("--data-dir", run.DataDir);
        Assert.Equal(0, status);
        Assert.Contains("the trail is intact", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Graceful_shutdown_delivers_every_record_and_a_final_digest_covers_every_log_file()
    {
        var logs = LogFiles(run.AuditDir);
        var records = logs.SelectMany(log => Records(Path.Combine(run.AuditDir, log))).ToList();
        var requestIds = records.Select(r => r.GetProperty("requestID").GetString()).ToHashSet();
        Assert.All(run.RequestIds, id => Assert.Contains(id, requestIds));

        var listed = DigestFiles(run.AuditDir)
            .SelectMany(d => Json(Path.Combine(run.AuditDir, d)).GetProperty("logFiles").EnumerateArray().Select(f => f.GetProperty("s3Object").GetString()!))
            .ToHashSet();
        Assert.Equal(logs.ToHashSet(), listed);
        Assert.False(File.Exists(Path.Combine(run.AuditDir, ".partial")) && Directory.EnumerateFiles(Path.Combine(run.AuditDir, ".partial")).Any());
    }

    [Fact]
    public void Digests_are_signed_by_an_HSM_key_whose_public_key_is_exported_beside_them()
    {
        foreach (var digest in DigestFiles(run.AuditDir))
        {
            var json = Json(Path.Combine(run.AuditDir, digest));
            var fingerprint = json.GetProperty("digestPublicKeyFingerprint").GetString();
            var region = digest.Split('/')[3];
            Assert.True(File.Exists(Path.Combine(run.AuditDir, $"AWSLogs/111122223333/CloudTrail-Digest/{region}/public-keys/{fingerprint}.pem")));
            Assert.True(File.Exists(Path.Combine(run.AuditDir, digest + ".sig")));
        }
    }

    [Fact]
    public void A_modified_log_file_fails_verify_naming_it()
    {
        var trail = run.CopyTrail();
        var log = FirstLogOfTheDefaultRegion(trail);
        var content = Gunzip(Path.Combine(trail, log));
        var text = Encoding.UTF8.GetString(content).Replace("\"Encrypt\"", "\"Decrypt\"", StringComparison.Ordinal);
        Assert.NotEqual(Encoding.UTF8.GetString(content), text);
        Gzip(Path.Combine(trail, log), Encoding.UTF8.GetBytes(text));

        AssertFailsNaming(trail, log);
    }

    [Fact]
    public void A_deleted_log_file_fails_verify_naming_it()
    {
        var trail = run.CopyTrail();
        var log = LogFiles(trail)[^1];
        File.Delete(Path.Combine(trail, log));

        AssertFailsNaming(trail, log);
    }

    [Fact]
    public void An_inserted_log_file_fails_verify_naming_it()
    {
        var trail = run.CopyTrail();
        var original = FirstLogOfTheDefaultRegion(trail);
        // A copy of a real file under another name of the same (covered) time.
        var inserted = original[..^24] + "InsertedInserted.json.gz";
        File.Copy(Path.Combine(trail, original), Path.Combine(trail, inserted));

        AssertFailsNaming(trail, inserted);
    }

    [Fact]
    public void A_modified_digest_fails_verify_naming_it()
    {
        var trail = run.CopyTrail();
        var digest = DigestFiles(trail).First(d => d.Contains("/us-east-1/", StringComparison.Ordinal));
        var text = Encoding.UTF8.GetString(Gunzip(Path.Combine(trail, digest)));
        var altered = text.Replace("\"awsAccountId\":\"111122223333\"", "\"awsAccountId\":\"111122223334\"", StringComparison.Ordinal);
        Assert.NotEqual(text, altered);
        Gzip(Path.Combine(trail, digest), Encoding.UTF8.GetBytes(altered));

        AssertFailsNaming(trail, digest);
    }

    [Fact]
    public void The_built_emulator_runs_audit_verify_and_exits_1_naming_the_altered_file()
    {
        var trail = run.CopyTrail();
        var log = LogFiles(trail)[0];
        File.WriteAllBytes(Path.Combine(trail, log), [0x1f, 0x8b, 0, 0]);

        var dll = Path.Combine(AppContext.BaseDirectory, "KmsEmulator.Api.dll");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet")
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        foreach (var argument in new[] { dll, "audit", "verify", "--data-dir", Path.Combine(trail, "no-data"), "--audit-dir", trail })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(2)), "audit verify did not finish");
        Assert.Equal(1, process.ExitCode);
        Assert.Contains($"Log file\t{log}\tINVALID:", output, StringComparison.Ordinal);
        Assert.Contains("NOT intact", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task After_a_restart_the_chain_goes_on_under_the_same_HSM_key_and_a_digest_interval_writes_digests()
    {
        await using var host = await EmulatorHost.StartNewAsync();
        var auditDir = Path.Combine(host.DataDir, "audit");
        using (var kms = host.CreateClient())
        {
            await kms.GenerateRandomAsync(new GenerateRandomRequest { NumberOfBytes = 4 });
        }

        await host.Services.GetRequiredService<AuditTrail>().FlushAsync();
        host.Clock.Advance(TimeSpan.FromHours(1));
        await host.Services.GetRequiredService<DigestWriter>().WhenIdleAsync();
        var first = Assert.Single(DigestFiles(auditDir));
        var fingerprint = Json(Path.Combine(auditDir, first)).GetProperty("digestPublicKeyFingerprint").GetString();

        var restarted = await host.RestartAsync(); // Start-up reconciliation runs again: the signing key is no orphan.
        await using (restarted)
        {
            using (var kms = restarted.CreateClient())
            {
                await kms.GenerateRandomAsync(new GenerateRandomRequest { NumberOfBytes = 4 });
            }

            await restarted.Services.GetRequiredService<AuditTrail>().FlushAsync();
            restarted.Clock.Advance(TimeSpan.FromHours(1));
            await restarted.Services.GetRequiredService<DigestWriter>().WhenIdleAsync();

            var digests = DigestFiles(auditDir).Order(StringComparer.Ordinal).ToList();
            Assert.Equal(2, digests.Count);
            var second = Json(Path.Combine(auditDir, digests[1]));
            Assert.Equal(first, second.GetProperty("previousDigestS3Object").GetString());
            Assert.Equal(fingerprint, second.GetProperty("digestPublicKeyFingerprint").GetString());
            Assert.Single(second.GetProperty("logFiles").EnumerateArray());
        }

        var report = new TrailVerifier(auditDir, Bucket).Verify();
        Assert.True(report.Intact, string.Join("\n", report.Lines()));
    }

    [Fact]
    public async Task An_encrypted_trail_verifies_without_the_key_and_a_modified_envelope_is_named()
    {
        var first = await EmulatorHost.StartNewAsync();
        string keyArn;
        using (var kms = first.CreateClient())
        {
            keyArn = (await kms.NewKeyAsync("trail key")).Arn;
        }

        await first.StopAsync();
        var host = await EmulatorHost.StartAsync(first.DataDir, first.TokenLabel, first.Clock, [.. first.ExtraArgs, "--Kms:Audit:KmsKeyId=" + keyArn]);
        using (var kms = host.CreateClient())
        {
            await kms.GenerateRandomAsync(new GenerateRandomRequest { NumberOfBytes = 8 });
        }

        await host.StopAsync();
        var audit = Path.Combine(host.DataDir, "audit");
        var sealedLogs = LogFiles(audit).Where(l => TrailEncryption.IsEnvelope(File.ReadAllBytes(Path.Combine(audit, l)))).ToList();
        Assert.NotEmpty(sealedLogs);
        Assert.All(DigestFiles(audit), d => Assert.False(TrailEncryption.IsEnvelope(File.ReadAllBytes(Path.Combine(audit, d))), $"{d} is encrypted"));
        var report = new TrailVerifier(audit, Bucket).Verify();
        Assert.True(report.Intact, string.Join("\n", report.Lines()));
        Assert.Empty(report.NotYetCovered);

        var path = Path.Combine(audit, sealedLogs[0]);
        var stored = File.ReadAllBytes(path);
        stored[stored.Length / 2] ^= 0x01;
        File.WriteAllBytes(path, stored);

        AssertFailsNaming(audit, sealedLogs[0]);
    }

    [Fact]
    public async Task The_digest_signing_key_is_an_unextractable_HSM_key_pair_outside_the_KMS_key_catalogue()
    {
        await using var host = await EmulatorHost.StartNewAsync();
        var signer = (HsmDigestSigner)host.Services.GetRequiredService<IDigestSigner>();
        var backend = (Pkcs11Backend)host.Services.GetRequiredService<IKeyMaterialBackend>();

        var flags = await backend.RunAsync("read the signing key", session =>
        {
            using var template = Pkcs11Template.From(session, [new(CKA.CKA_CLASS, CKO.CKO_PRIVATE_KEY), new(CKA.CKA_TOKEN, true), new(CKA.CKA_LABEL, signer.Label)]);
            var handle = session.FindAllObjects(template.Attributes).Single();
            return session.GetAttributeValue(handle, [CKA.CKA_TOKEN, CKA.CKA_SENSITIVE, CKA.CKA_EXTRACTABLE, CKA.CKA_SIGN])
                .ToDictionary(a => (CKA)a.Type, a => a.GetValueAsBool());
        }, CancellationToken.None);
        Assert.True(flags[CKA.CKA_TOKEN]);
        Assert.True(flags[CKA.CKA_SENSITIVE]);
        Assert.False(flags[CKA.CKA_EXTRACTABLE]);
        Assert.True(flags[CKA.CKA_SIGN]);

        Assert.False(signer.Label.StartsWith(host.Services.GetRequiredService<KeyWriter>().HsmLabelPrefix, StringComparison.Ordinal));
        using var kms = host.CreateClient();
        Assert.Empty((await kms.ListKeysAsync(new ListKeysRequest())).Keys);
    }

    private static void AssertFailsNaming(string trail, string objectKey)
    {
        var report = new TrailVerifier(trail, Bucket).Verify();
        Assert.False(report.Intact);
        Assert.Contains(report.Problems, p => p.ObjectKey == objectKey);

        var (status, output) = VerifyCommand("--data-dir", Path.Combine(trail, "unused"), "--audit-dir", trail);
        Assert.Equal(1, status);
        Assert.Contains($"\t{objectKey}\tINVALID:", output, StringComparison.Ordinal);
    }

    private static (int Status, string Output) VerifyCommand(params string[] args)
    {
        using var output = new StringWriter();
        var status = AuditVerifyCommand.Run(args, output);
        return (status, output.ToString());
    }

    /// <summary>The log file delivered by the flush, ten minutes before the final digest: CreateKey, Encrypt, Decrypt.</summary>
    private static string FirstLogOfTheDefaultRegion(string root) => LogFiles(root).First(l => l.Contains("/us-east-1/", StringComparison.Ordinal));

    private static List<string> LogFiles(string root) => ObjectsUnder(root, "/CloudTrail/");

    private static List<string> DigestFiles(string root) => ObjectsUnder(root, "/CloudTrail-Digest/");

    private static List<string> ObjectsUnder(string root, string marker)
    {
        var logs = Path.Combine(root, "AWSLogs");
        return !Directory.Exists(logs)
            ? []
            : [.. Directory.EnumerateFiles(logs, "*.json.gz", SearchOption.AllDirectories)
                .Select(p => Path.GetRelativePath(root, p).Replace(Path.DirectorySeparatorChar, '/'))
                .Where(p => p.Contains(marker, StringComparison.Ordinal))
                .Order(StringComparer.Ordinal)];
    }

    private static List<JsonElement> Records(string path)
    {
        using var json = JsonDocument.Parse(Gunzip(path));
        return [.. json.RootElement.GetProperty("Records").EnumerateArray().Select(r => r.Clone())];
    }

    private static JsonElement Json(string path)
    {
        using var json = JsonDocument.Parse(Gunzip(path));
        return json.RootElement.Clone();
    }

    private static byte[] Gunzip(string path)
    {
        using var gzip = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var buffer = new MemoryStream();
        gzip.CopyTo(buffer);
        return buffer.ToArray();
    }

    private static void Gzip(string path, byte[] content)
    {
        using var gzip = new GZipStream(File.Create(path), CompressionLevel.Fastest);
        gzip.Write(content);
    }
}
