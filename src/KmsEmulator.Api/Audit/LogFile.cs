using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.IO.Hashing;
using System.Security.Cryptography;
using System.Text;

namespace KmsEmulator.Api.Audit;

/// <summary>
/// A CloudTrail log file being written: <c>{"Records":[...]}</c>, gzip, one record per line. It grows under
/// <c>.partial/</c> and is moved to its CloudTrail name when delivered, so a delivered file is always complete.
/// </summary>
/// <remarks>
/// The gzip stream (RFC 1952, one member) is framed here rather than by <see cref="GZipStream"/>: its deflate data is
/// the <see cref="RecordGroup"/>s of a <see cref="RecordPacker"/> one after another, which the LookupEvents index
/// stores as they are, so a record is compressed once for both. The header and the footer text are stored blocks.
/// Every group ends on a sync flush, and a batch's last group is sealed and written with the batch (<see cref="Flush"/>),
/// so a file left behind by a crash decodes up to its last batch and is recovered at the next start
/// (<see cref="Recover"/>).
/// </remarks>
internal sealed class LogFile : IDisposable
{
    public const string PartialFolder = ".partial";

    /// <summary>The folder under the audit root that holds every log file and digest (CloudTrail's S3 prefix).</summary>
    public const string LogsFolder = "AWSLogs";
    private static ReadOnlySpan<byte> Header => "{\"Records\":[\n"u8;
    private static ReadOnlySpan<byte> Separator => ",\n"u8;
    private static ReadOnlySpan<byte> Footer => "\n]}\n"u8;

    /// <summary>gzip's member header: deflate, no flags, no time, no extra flags, Unix.</summary>
    private static ReadOnlySpan<byte> GzipHeader => [0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03];

    private readonly FileStream _file;
    private readonly RecordPacker _packer = new();
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly Crc32 _crc = new();
    private uint _size;

    private LogFile(string accountId, string region, string partialPath, DateTimeOffset openedAt)
    {
        AccountId = accountId;
        Region = region;
        PartialPath = partialPath;
        OpenedAt = openedAt;
        _file = new FileStream(partialPath, FileMode.CreateNew, FileAccess.Write, FileShare.Read, 64 * 1024);
        _file.Write(GzipHeader);
        WriteStored(Header, final: false);
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

    /// <summary>Appends a record; returns where it lies in its <see cref="RecordGroup"/>, which is sealed by <see cref="Flush"/> at the latest.</summary>
    public RecordSlice Append(ReadOnlySpan<byte> record, DateTimeOffset eventTime)
    {
        var slice = _packer.Add(Count == 0 ? [] : Separator, record);
        if (_packer.Full)
        {
            WriteGroup();
        }

        Count++;
        if (eventTime < Oldest)
        {
            Oldest = eventTime;
        }

        if (eventTime > Newest)
        {
            Newest = eventTime;
        }

        return slice;
    }

    /// <summary>Seals the open record group and pushes what was appended to the disk as a decodable gzip prefix.</summary>
    public void Flush()
    {
        WriteGroup();
        _file.Flush();
    }

    /// <summary>Writes the end of the file and closes it; returns the SHA-256 of its uncompressed content.</summary>
    public byte[] Finish()
    {
        WriteGroup();
        WriteStored(Footer, final: true);
        Span<byte> trailer = stackalloc byte[8];
        _crc.GetCurrentHash(trailer); // little-endian, as gzip stores it
        BinaryPrimitives.WriteUInt32LittleEndian(trailer[4..], _size);
        _file.Write(trailer);
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
        _packer.Dispose();
        _file.Dispose();
        _hash.Dispose();
    }

    /// <summary>Seals the open record group (if any) and writes it; its content is counted first, in one piece.</summary>
    private void WriteGroup()
    {
        Content(_packer.Pending);
        _file.Write(_packer.Seal());
    }

    /// <summary>A stored block (RFC 1951 3.2.4) of <paramref name="bytes"/>: the header and the footer, too short to compress.</summary>
    private void WriteStored(ReadOnlySpan<byte> bytes, bool final)
    {
        Span<byte> block = stackalloc byte[5];
        block[0] = final ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt16LittleEndian(block[1..], checked((ushort)bytes.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(block[3..], (ushort)~bytes.Length);
        _file.Write(block);
        _file.Write(bytes);
        Content(bytes);
    }

    /// <summary>Counts bytes of the uncompressed content: its SHA-256 (digests), and gzip's CRC-32 and size.</summary>
    private void Content(ReadOnlySpan<byte> bytes)
    {
        _hash.AppendData(bytes);
        _crc.Append(bytes);
        _size = unchecked(_size + (uint)bytes.Length);
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
