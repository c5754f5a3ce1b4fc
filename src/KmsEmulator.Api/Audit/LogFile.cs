using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;

namespace KmsEmulator.Api.Audit;

/// <summary>
/// A CloudTrail log file being written: <c>{"Records":[...]}</c>, gzip, one record per line. It grows under
/// <c>.partial/</c> and is moved to its CloudTrail name when delivered, so a delivered file is always complete.
/// After every batch the gzip stream is flushed, so a file left behind by a crash decodes up to its last batch and is
/// recovered at the next start (<see cref="Recover"/>).
/// </summary>
internal sealed class LogFile : IDisposable
{
    public const string PartialFolder = ".partial";

    /// <summary>The folder under the audit root that holds every log file and digest (CloudTrail's S3 prefix).</summary>
    public const string LogsFolder = "AWSLogs";
    private static readonly byte[] Header = "{\"Records\":[\n"u8.ToArray();
    private static readonly byte[] Separator = ",\n"u8.ToArray();
    private static readonly byte[] Footer = "\n]}\n"u8.ToArray();

    private readonly FileStream _file;
    private readonly GZipStream _gzip;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    private LogFile(string accountId, string region, string partialPath, DateTimeOffset openedAt)
    {
        AccountId = accountId;
        Region = region;
        PartialPath = partialPath;
        OpenedAt = openedAt;
        _file = new FileStream(partialPath, FileMode.CreateNew, FileAccess.Write, FileShare.Read, 64 * 1024);
        _gzip = new GZipStream(_file, CompressionLevel.Fastest, leaveOpen: true);
        Write(Header);
    }

    public string AccountId { get; }

    public string Region { get; }

    public string PartialPath { get; }

    public DateTimeOffset OpenedAt { get; }

    public int Count { get; private set; }

    public DateTimeOffset Oldest { get; private set; } = DateTimeOffset.MaxValue;

    public DateTimeOffset Newest { get; private set; } = DateTimeOffset.MinValue;

    public static LogFile Open(string root, string accountId, string region, DateTimeOffset now)
    {
        var folder = Path.Combine(root, PartialFolder);
        Directory.CreateDirectory(folder);
        return new LogFile(accountId, region, Path.Combine(folder, $"{accountId}_{region}_{Guid.NewGuid():N}.json.gz"), now);
    }

    public void Append(ReadOnlySpan<byte> record, DateTimeOffset eventTime)
    {
        Write(Count == 0 ? [] : Separator);
        Write(record);
        Count++;
        if (eventTime < Oldest)
        {
            Oldest = eventTime;
        }

        if (eventTime > Newest)
        {
            Newest = eventTime;
        }
    }

    /// <summary>Pushes what was appended to the disk as a decodable gzip prefix.</summary>
    public void Flush()
    {
        _gzip.Flush();
        _file.Flush();
    }

    /// <summary>Writes the end of the file and closes it; returns the SHA-256 of its uncompressed content.</summary>
    public byte[] Finish()
    {
        Write(Footer);
        _gzip.Dispose();
        _file.Flush(flushToDisk: true);
        _file.Dispose();
        return _hash.GetHashAndReset();
    }

    /// <summary>
    /// CloudTrail's object key for a log file delivered at <paramref name="now"/>:
    /// <c>AWSLogs/&lt;account&gt;/CloudTrail/&lt;region&gt;/YYYY/MM/DD/&lt;account&gt;_CloudTrail_&lt;region&gt;_YYYYMMDDTHHmmZ_&lt;16 random&gt;.json.gz</c>.
    /// </summary>
    public static string ObjectKey(string accountId, string region, DateTimeOffset now)
    {
        var utc = now.UtcDateTime;
        var day = utc.ToString("yyyy'/'MM'/'dd", CultureInfo.InvariantCulture);
        var stamp = utc.ToString("yyyyMMdd'T'HHmm'Z'", CultureInfo.InvariantCulture);
        return $"{LogsFolder}/{accountId}/CloudTrail/{region}/{day}/{accountId}_CloudTrail_{region}_{stamp}_{RandomSuffix()}.json.gz";
    }

    /// <summary>
    /// The records of a file a crash left under <c>.partial/</c>: every complete line of its decodable part.
    /// Returns the account and region from its name, or null when the name is not one of ours.
    /// </summary>
    public static (string AccountId, string Region, List<byte[]> Records)? Recover(string partialPath)
    {
        var parts = Path.GetFileName(partialPath).Split('_');
        if (parts.Length != 3)
        {
            return null;
        }

        var records = new List<byte[]>();
        using var decoded = new MemoryStream();
        try
        {
            using var gzip = new GZipStream(File.OpenRead(partialPath), CompressionMode.Decompress);
            gzip.CopyTo(decoded);
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            // The end of what was flushed: keep what decoded.
        }

        var text = decoded.ToArray().AsSpan();
        foreach (var range in text.Split((byte)'\n'))
        {
            var line = text[range].TrimEnd((byte)',');
            if (line.Length > 1 && line[0] == (byte)'{' && line[^1] == (byte)'}' && IsJson(line))
            {
                records.Add(line.ToArray());
            }
        }

        return (parts[0], parts[1], records);
    }

    public void Dispose()
    {
        _gzip.Dispose();
        _file.Dispose();
        _hash.Dispose();
    }

    private void Write(ReadOnlySpan<byte> bytes)
    {
        _gzip.Write(bytes);
        _hash.AppendData(bytes);
    }

    private static bool IsJson(ReadOnlySpan<byte> line)
    {
        var reader = new System.Text.Json.Utf8JsonReader(line);
        try
        {
            return reader.Read() && reader.TrySkip() && reader.BytesConsumed == line.Length;
        }
        catch (System.Text.Json.JsonException)
        {
            return false;
        }
    }

    private static string RandomSuffix()
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        var text = new StringBuilder(16);
        for (var i = 0; i < 16; i++)
        {
            text.Append(alphabet[RandomNumberGenerator.GetInt32(alphabet.Length)]);
        }

        return text.ToString();
    }
}
