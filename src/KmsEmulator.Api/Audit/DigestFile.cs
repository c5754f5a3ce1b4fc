using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace KmsEmulator.Api.Audit;

/// <summary>
/// CloudTrail's digest file format (docs/audit.md, "Integrity validation"): its object key, its JSON, the string that
/// is signed, the public key fingerprint, and where the signature and public keys are kept beside the digests.
/// Shared by <see cref="DigestWriter"/> and <see cref="TrailVerifier"/> so that both read the same rules.
/// </summary>
public static class DigestFile
{
    public const string SignatureAlgorithm = "SHA256withRSA";
    public const string HashAlgorithm = "SHA-256";

    /// <summary>The sidecar that holds a digest's hex signature (CloudTrail keeps it in S3 object metadata).</summary>
    public const string SignatureSuffix = ".sig";

    /// <summary>The folder, in each region's digest folder, that holds the public keys as <c>&lt;fingerprint&gt;.pem</c>.</summary>
    public const string PublicKeysFolder = "public-keys";

    /// <summary>
    /// <c>AWSLogs/&lt;acct&gt;/CloudTrail-Digest/&lt;region&gt;/YYYY/MM/DD/&lt;acct&gt;_CloudTrail-Digest_&lt;region&gt;_&lt;trail&gt;_&lt;home&gt;_YYYYMMDDTHHmmssZ.json.gz</c>,
    /// dated by the digest's end time.
    /// </summary>
    public static string ObjectKey(string accountId, string region, string trailName, string homeRegion, DateTimeOffset end)
    {
        var utc = end.UtcDateTime;
        var day = utc.ToString("yyyy'/'MM'/'dd", CultureInfo.InvariantCulture);
        var stamp = utc.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        return $"{DigestFolder(accountId, region)}/{day}/{accountId}_CloudTrail-Digest_{region}_{trailName}_{homeRegion}_{stamp}.json.gz";
    }

    /// <summary><c>AWSLogs/&lt;acct&gt;/CloudTrail-Digest/&lt;region&gt;</c>.</summary>
    public static string DigestFolder(string accountId, string region) => $"AWSLogs/{accountId}/CloudTrail-Digest/{region}";

    /// <summary>Where the public key with this fingerprint is exported for a region's digests.</summary>
    public static string PublicKeyObject(string accountId, string region, string fingerprint) =>
        $"{DigestFolder(accountId, region)}/{PublicKeysFolder}/{fingerprint}.pem";

    /// <summary>The time in a digest's name (the CLI reads it as key characters [-24:-8]), or null.</summary>
    public static DateTimeOffset? TimeInName(string objectKey) =>
        objectKey.Length > 24 && DateTimeOffset.TryParseExact(objectKey[^24..^8], "yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time)
            ? time
            : null;

    /// <summary>The delivery time (to the minute) in a log file's name, or null when the name is not CloudTrail's.</summary>
    public static DateTimeOffset? LogFileTime(string objectKey)
    {
        var name = objectKey[(objectKey.LastIndexOf('/') + 1)..];
        var parts = name.Split('_');
        return parts.Length == 5 && parts[1] == "CloudTrail" && DateTimeOffset.TryParseExact(parts[3], "yyyyMMdd'T'HHmm'Z'", CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time)
            ? time
            : null;
    }

    /// <summary>
    /// What is signed: <c>digestEndTime \n bucket/object \n hex(SHA-256(uncompressed digest)) \n previousSignature</c>,
    /// with the literal <c>null</c> for the first digest of a chain.
    /// </summary>
    public static byte[] SignedData(string digestEndTime, string bucket, string objectKey, ReadOnlySpan<byte> digestSha256, string? previousSignature) =>
        Encoding.UTF8.GetBytes($"{digestEndTime}\n{bucket}/{objectKey}\n{Convert.ToHexStringLower(digestSha256)}\n{previousSignature ?? "null"}");

    /// <summary>
    /// The fingerprint of an RSA public key: the first 16 bytes of the SHA-256 of its DER PKCS#1 RSAPublicKey (the form
    /// CloudTrail's ListPublicKeys returns), as 32 lowercase hex characters. CloudTrail does not document its derivation.
    /// </summary>
    public static string Fingerprint(RSA publicKey) =>
        Convert.ToHexStringLower(SHA256.HashData(publicKey.ExportRSAPublicKey()).AsSpan(0, 16));

    /// <summary>The digest's JSON, with exactly CloudTrail's fields in CloudTrail's order.</summary>
    public static byte[] ToJson(DigestContent digest)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("awsAccountId", digest.AccountId);
            json.WriteString("digestStartTime", CloudTrailRecord.FormatTime(digest.StartTime));
            json.WriteString("digestEndTime", CloudTrailRecord.FormatTime(digest.EndTime));
            json.WriteString("digestS3Bucket", digest.Bucket);
            json.WriteString("digestS3Object", digest.ObjectKey);
            json.WriteString("digestPublicKeyFingerprint", digest.PublicKeyFingerprint);
            json.WriteString("digestSignatureAlgorithm", SignatureAlgorithm);
            WriteTimeOrNull(json, "newestEventTime", digest.LogFiles.Count == 0 ? null : digest.LogFiles.Max(f => f.NewestEventTime));
            WriteTimeOrNull(json, "oldestEventTime", digest.LogFiles.Count == 0 ? null : digest.LogFiles.Min(f => f.OldestEventTime));
            WriteStringOrNull(json, "previousDigestS3Bucket", digest.Previous?.Bucket);
            WriteStringOrNull(json, "previousDigestS3Object", digest.Previous?.ObjectKey);
            WriteStringOrNull(json, "previousDigestHashValue", digest.Previous?.Sha256);
            WriteStringOrNull(json, "previousDigestHashAlgorithm", digest.Previous is null ? null : HashAlgorithm);
            WriteStringOrNull(json, "previousDigestSignature", digest.Previous?.Signature);
            json.WriteStartArray("logFiles");
            foreach (var file in digest.LogFiles)
            {
                json.WriteStartObject();
                json.WriteString("s3Bucket", digest.Bucket);
                json.WriteString("s3Object", file.ObjectKey);
                json.WriteString("hashValue", file.Sha256);
                json.WriteString("hashAlgorithm", HashAlgorithm);
                json.WriteString("newestEventTime", CloudTrailRecord.FormatTime(file.NewestEventTime));
                json.WriteString("oldestEventTime", CloudTrailRecord.FormatTime(file.OldestEventTime));
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    /// <summary>
    /// The hash a digest lists for a stored log file: the SHA-256 of its uncompressed content, or, for a file stored
    /// encrypted (<see cref="TrailEncryption"/>), of the stored envelope, so that checking needs no key.
    /// </summary>
    /// <exception cref="InvalidDataException">A plain file that is not gzip.</exception>
    public static byte[] LogFileHash(byte[] stored)
    {
        if (TrailEncryption.IsEnvelope(stored))
        {
            return SHA256.HashData(stored);
        }

        using var compressed = new MemoryStream(stored, writable: false);
        return SHA256.HashData(Gunzip(compressed));
    }

    public static byte[] Gzip(byte[] content)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Optimal, leaveOpen: true))
        {
            gzip.Write(content);
        }

        return buffer.ToArray();
    }

    public static byte[] Gunzip(Stream compressed)
    {
        using var gzip = new GZipStream(compressed, CompressionMode.Decompress);
        using var buffer = new MemoryStream();
        gzip.CopyTo(buffer);
        return buffer.ToArray();
    }

    private static void WriteTimeOrNull(Utf8JsonWriter json, string name, DateTimeOffset? time)
    {
        if (time is { } value)
        {
            json.WriteString(name, CloudTrailRecord.FormatTime(value));
        }
        else
        {
            json.WriteNull(name);
        }
    }

    private static void WriteStringOrNull(Utf8JsonWriter json, string name, string? value)
    {
        if (value is null)
        {
            json.WriteNull(name);
        }
        else
        {
            json.WriteString(name, value);
        }
    }
}

/// <summary>What one digest file says.</summary>
public sealed record DigestContent(
    string AccountId,
    DateTimeOffset StartTime,
    DateTimeOffset EndTime,
    string Bucket,
    string ObjectKey,
    string PublicKeyFingerprint,
    DigestLink? Previous,
    IReadOnlyList<DigestLogFile> LogFiles);

/// <summary>
/// The previous digest of a chain: its bucket and object key, the hex SHA-256 of its uncompressed JSON, its hex signature.
/// </summary>
public sealed record DigestLink(string Bucket, string ObjectKey, string Sha256, string Signature);

/// <summary>A log file as a digest lists it (hash in lowercase hex).</summary>
public sealed record DigestLogFile(string ObjectKey, string Sha256, DateTimeOffset OldestEventTime, DateTimeOffset NewestEventTime);
