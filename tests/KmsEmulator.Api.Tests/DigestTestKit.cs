using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using KmsEmulator.Api.Audit;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// A digest writer over a temporary audit folder, with a fake clock and a managed RSA key in place of the HSM, and log
/// files delivered as <see cref="AuditDelivery"/> delivers them (gzip JSON under CloudTrail's names).
/// </summary>
internal sealed class DigestTestKit : IAsyncDisposable
{
    public const string Account = "111122223333";
    public const string Region = "us-east-1";
    public const string Bucket = "kms-emulator-audit";
    public static readonly TimeSpan Interval = TimeSpan.FromHours(1);

    private DigestTestKit()
    {
        Root = Path.Combine(Path.GetTempPath(), "kmsemu-digest-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(Root);
        Writer = NewWriter();
    }

    public string Root { get; }

    /// <summary>A kit whose writer has started (its timer runs on <see cref="Clock"/>).</summary>
    public static async Task<DigestTestKit> StartAsync()
    {
        var kit = new DigestTestKit();
        await kit.Writer.StartAsync(CancellationToken.None);
        return kit;
    }

    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 3, 4, 5, 6, 7, TimeSpan.Zero));

    public ManagedSigner Signer { get; } = new();

    public DigestWriter Writer { get; private set; }

    /// <summary>Every log file delivered, in order.</summary>
    public List<string> Logs { get; } = [];

    public AuditOptions Options { get; } = new() { DigestInterval = Interval, BucketName = Bucket, HomeRegion = "us-east-1" };

    /// <summary>Writes a log file delivered now and tells the writer; returns its object key.</summary>
    public async Task<string> DeliverAsync(string account = Account, string region = Region, string eventName = "Encrypt")
    {
        var delivered = WriteLogFile(account, region, eventName);
        await Writer.DeliveredAsync(delivered, CancellationToken.None);
        return delivered.RelativePath;
    }

    /// <summary>Writes a log file delivered now without telling the writer (as a crash right after delivery would).</summary>
    public DeliveredLogFile WriteLogFile(string account = Account, string region = Region, string eventName = "Encrypt")
    {
        var now = Clock.GetUtcNow();
        var key = LogObjectKey(account, region, now);
        var content = Encoding.UTF8.GetBytes($"{{\"Records\":[\n{{\"eventName\":\"{eventName}\",\"eventTime\":\"{now.AddSeconds(-1):yyyy-MM-ddTHH:mm:ssZ}\"}}\n]}}\n");
        WriteGzip(key, content);
        Logs.Add(key);
        return new DeliveredLogFile(account, region, key, SHA256.HashData(content), now.AddSeconds(-1), now.AddSeconds(-1), now);
    }

    /// <summary>
    /// Writes a log file stored encrypted (an envelope, as with Kms:Audit:KmsKeyId; its content here is a stand-in) and
    /// tells the writer, with the hash AuditDelivery gives such files: that of the stored bytes.
    /// </summary>
    public async Task<string> DeliverEncryptedAsync(bool tell = true)
    {
        var now = Clock.GetUtcNow();
        var key = LogObjectKey(Account, Region, now);
        var stored = Encoding.UTF8.GetBytes($"{{\"kmsEmulatorEnvelope\":1,\"keyArn\":\"arn:aws:kms:us-east-1:111122223333:key/x\",\"ciphertext\":\"{Convert.ToBase64String(RandomNumberGenerator.GetBytes(48))}\"}}");
        var path = PathOf(key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, stored);
        Logs.Add(key);
        if (tell)
        {
            await Writer.DeliveredAsync(new DeliveredLogFile(Account, Region, key, SHA256.HashData(stored), now.AddSeconds(-1), now.AddSeconds(-1), now), CancellationToken.None);
        }

        return key;
    }

    /// <summary>Moves the clock one digest interval on and waits for the digests due then.</summary>
    public async Task NextIntervalAsync()
    {
        Clock.Advance(Interval);
        await Writer.WhenIdleAsync();
    }

    /// <summary>A writer started afresh on the same folder (a restart); <paramref name="start"/> false leaves it unstarted.</summary>
    public async Task RestartAsync(bool start = true)
    {
        await Writer.StopAsync(CancellationToken.None);
        await Writer.DisposeAsync();
        Writer = NewWriter();
        if (start)
        {
            await Writer.StartAsync(CancellationToken.None);
        }
    }

    public TrailReport Verify() => new TrailVerifier(Root, Bucket).Verify();

    public string PathOf(string objectKey) => Path.Combine(Root, objectKey.Replace('/', Path.DirectorySeparatorChar));

    /// <summary>Every digest's object key, oldest first.</summary>
    public List<string> Digests()
    {
        var folder = PathOf(DigestFile.DigestFolder(Account, Region));
        return !Directory.Exists(folder)
            ? []
            : [.. Directory.EnumerateFiles(folder, "*.json.gz", SearchOption.AllDirectories)
                .Select(p => Path.GetRelativePath(Root, p).Replace(Path.DirectorySeparatorChar, '/'))
                .Order(StringComparer.Ordinal)];
    }

    public byte[] ReadGzip(string objectKey)
    {
        using var gzip = new GZipStream(File.OpenRead(PathOf(objectKey)), CompressionMode.Decompress);
        using var buffer = new MemoryStream();
        gzip.CopyTo(buffer);
        return buffer.ToArray();
    }

    public void WriteGzip(string objectKey, byte[] content)
    {
        var path = PathOf(objectKey);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var gzip = new GZipStream(File.Create(path), CompressionLevel.Fastest);
        gzip.Write(content);
    }

    public static string LogObjectKey(string account, string region, DateTimeOffset time) =>
        $"AWSLogs/{account}/CloudTrail/{region}/{time:yyyy'/'MM'/'dd}/{account}_CloudTrail_{region}_{time:yyyyMMdd'T'HHmm'Z'}_{Guid.NewGuid().ToString("N")[..16]}.json.gz";

    public async ValueTask DisposeAsync()
    {
        await Writer.DisposeAsync();
        Signer.Dispose();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }
    }

    private DigestWriter NewWriter() =>
        new(Microsoft.Extensions.Options.Options.Create(Options), new AuditPaths(Root), Signer, Clock, NullLogger<DigestWriter>.Instance);

    /// <summary>Signs as the HSM does (RSASSA-PKCS1-v1_5, SHA-256), with a key in memory.</summary>
    internal sealed class ManagedSigner : IDigestSigner, IDisposable
    {
        public RSA Key { get; } = RSA.Create(2048);

        public int Signatures { get; private set; }

        public ValueTask<byte[]> GetPublicKeyAsync(CancellationToken cancellationToken) => new(Key.ExportSubjectPublicKeyInfo());

        public ValueTask<byte[]> SignAsync(byte[] data, CancellationToken cancellationToken)
        {
            Signatures++;
            return new(Key.SignData(data, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
        }

        public void Dispose() => Key.Dispose();
    }
}
