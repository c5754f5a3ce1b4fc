using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace KmsEmulator.Api.Audit;

/// <summary>
/// <c>audit verify</c>: checks an audit folder as <c>aws cloudtrail validate-logs</c> checks a bucket, with the public
/// keys exported beside the digests (no HSM needed). Per account and region it walks the digest chain from the newest
/// digest back through <c>previousDigestS3Object</c>, checking each digest's location, signature and link hash and
/// every log file it lists; then it reports log files no digest lists. Files delivered after the newest digest are
/// reported as not yet covered, which is not a problem.
/// </summary>
public sealed class TrailVerifier(string auditRoot, string bucket)
{
    private static readonly string[] RequiredFields =
    [
        "awsAccountId", "digestStartTime", "digestEndTime", "digestS3Bucket", "digestS3Object",
        "digestPublicKeyFingerprint", "digestSignatureAlgorithm", "previousDigestSignature", "logFiles",
    ];

    private readonly Dictionary<string, RSA?> _publicKeys = new(StringComparer.Ordinal);
    private readonly List<TrailProblem> _problems = [];
    private readonly List<string> _notCovered = [];
    private readonly HashSet<string> _invalidDigests = new(StringComparer.Ordinal);
    private readonly HashSet<string> _invalidLogs = new(StringComparer.Ordinal);
    private int _digests;
    private int _logs;

    public TrailReport Verify()
    {
        var logsRoot = Path.Combine(auditRoot, "AWSLogs");
        if (Directory.Exists(logsRoot))
        {
            foreach (var account in Directory.GetDirectories(logsRoot).Order(StringComparer.Ordinal))
            {
                var accountId = Path.GetFileName(account);
                var regions = SubfolderNames(Path.Combine(account, "CloudTrail"))
                    .Union(SubfolderNames(Path.Combine(account, "CloudTrail-Digest")))
                    .Order(StringComparer.Ordinal);
                foreach (var region in regions)
                {
                    VerifyRegion(accountId, region);
                }
            }
        }

        CheckRecordedState();
        foreach (var key in _publicKeys.Values)
        {
            key?.Dispose();
        }

        return new TrailReport(_problems, _notCovered, _digests, _digests - _invalidDigests.Count, _logs, _logs - _invalidLogs.Count - _notCovered.Count);
    }

    private void VerifyRegion(string accountId, string region)
    {
        var digestFolder = DigestFile.DigestFolder(accountId, region);
        var digests = ObjectsUnder(digestFolder)
            .Where(key => key.EndsWith(".json.gz", StringComparison.Ordinal) && !key.StartsWith($"{digestFolder}/{DigestFile.PublicKeysFolder}/", StringComparison.Ordinal))
            .OrderByDescending(key => DigestFile.TimeInName(key) ?? DateTimeOffset.MinValue)
            .ThenByDescending(key => key, StringComparer.Ordinal)
            .ToList();
        var logs = ObjectsUnder($"AWSLogs/{accountId}/CloudTrail/{region}")
            .Where(key => key.EndsWith(".json.gz", StringComparison.Ordinal))
            .ToList();
        _digests += digests.Count;
        _logs += logs.Count;

        var present = new HashSet<string>(digests, StringComparer.Ordinal);
        var visited = new HashSet<string>(StringComparer.Ordinal);
        var covered = new HashSet<string>(StringComparer.Ordinal);
        var firstSegment = true;
        var afterGap = false;
        while (digests.FirstOrDefault(d => !visited.Contains(d)) is { } head)
        {
            if (!firstSegment && !afterGap)
            {
                Problem(TrailFileKind.Digest, head, "not referenced by the newer digests (added, or its chain was broken)");
            }

            firstSegment = false;
            afterGap = false;
            var current = head;
            DigestLink? expected = null;
            while (true)
            {
                visited.Add(current);
                var previous = CheckDigest(current, expected, covered);
                if (previous is null)
                {
                    break;
                }

                if (!present.Contains(previous.ObjectKey))
                {
                    Problem(TrailFileKind.Digest, previous.ObjectKey, $"not found (the previous digest of {current})");
                    _digests++;
                    afterGap = true;
                    break;
                }

                if (visited.Contains(previous.ObjectKey))
                {
                    Problem(TrailFileKind.Digest, current, $"its previous digest {previous.ObjectKey} is already in the chain (a loop)");
                    break;
                }

                expected = previous;
                current = previous.ObjectKey;
            }
        }

        var newestEnd = digests.Select(DigestFile.TimeInName).Max();
        foreach (var log in logs.Where(l => !covered.Contains(l)).Order(StringComparer.Ordinal))
        {
            var delivered = DigestFile.LogFileTime(log);
            if (delivered is null)
            {
                Problem(TrailFileKind.Log, log, "not a CloudTrail log file name, and listed in no digest (added)");
            }
            else if (newestEnd is null || delivered >= Minute(newestEnd.Value))
            {
                _notCovered.Add(log);
            }
            else
            {
                Problem(TrailFileKind.Log, log, "listed in no digest (added)");
            }
        }
    }

    /// <summary>Checks one digest; returns its previous digest when it names one (null at a chain's start or when unreadable).</summary>
    private DigestLink? CheckDigest(string key, DigestLink? expected, HashSet<string> covered)
    {
        byte[] json;
        try
        {
            using var file = File.OpenRead(PathOf(key));
            json = DigestFile.Gunzip(file);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            Problem(TrailFileKind.Digest, key, "cannot be read as a gzip file");
            return null;
        }

        var sha256 = SHA256.HashData(json);
        var signature = ReadSignature(key);
        if (expected is not null)
        {
            if (!string.Equals(expected.Sha256, Convert.ToHexStringLower(sha256), StringComparison.OrdinalIgnoreCase))
            {
                Problem(TrailFileKind.Digest, key, "its hash does not match the previousDigestHashValue of the next digest (modified)");
            }

            if (!string.Equals(expected.Signature, signature, StringComparison.OrdinalIgnoreCase))
            {
                Problem(TrailFileKind.Digest, key, "its signature does not match the previousDigestSignature of the next digest");
            }
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException)
        {
            Problem(TrailFileKind.Digest, key, "is not JSON");
            return null;
        }

        using (document)
        {
            var root = document.RootElement;
            var missing = root.ValueKind != JsonValueKind.Object ? RequiredFields : RequiredFields.Where(f => !root.TryGetProperty(f, out _)).ToArray();
            if (missing.Length > 0)
            {
                Problem(TrailFileKind.Digest, key, $"lacks {string.Join(", ", missing)}");
                return null;
            }

            var digestBucket = StringOf(root, "digestS3Bucket");
            var digestObject = StringOf(root, "digestS3Object");
            var expectedBucket = expected?.Bucket ?? bucket;
            if (digestBucket != expectedBucket || digestObject != key)
            {
                Problem(TrailFileKind.Digest, key, $"has been moved from its original location ({digestBucket}/{digestObject})");
            }

            CheckSignature(key, root, sha256, signature);

            if (root.GetProperty("logFiles") is { ValueKind: JsonValueKind.Array } logFiles)
            {
                foreach (var log in logFiles.EnumerateArray())
                {
                    CheckLogFile(key, log, digestBucket, covered);
                }
            }
            else
            {
                Problem(TrailFileKind.Digest, key, "its logFiles is not an array");
            }

            var previousObject = StringOf(root, "previousDigestS3Object");
            return previousObject is null
                ? null
                : new DigestLink(
                    StringOf(root, "previousDigestS3Bucket") ?? "",
                    previousObject,
                    StringOf(root, "previousDigestHashValue") ?? "",
                    StringOf(root, "previousDigestSignature") ?? "");
        }
    }

    private void CheckSignature(string key, JsonElement root, byte[] sha256, string? signature)
    {
        if (StringOf(root, "digestSignatureAlgorithm") != DigestFile.SignatureAlgorithm)
        {
            Problem(TrailFileKind.Digest, key, $"names the signature algorithm {StringOf(root, "digestSignatureAlgorithm")}, not {DigestFile.SignatureAlgorithm}");
            return;
        }

        if (signature is null)
        {
            Problem(TrailFileKind.Digest, key, $"has no signature ({key}{DigestFile.SignatureSuffix} is missing or not hex)");
            return;
        }

        var fingerprint = StringOf(root, "digestPublicKeyFingerprint") ?? "";
        var accountId = key.Split('/')[1];
        var region = key.Split('/')[3];
        if (PublicKey(accountId, region, fingerprint) is not { } publicKey)
        {
            Problem(TrailFileKind.Digest, key, $"is signed with a key of fingerprint {fingerprint}, and no valid public key with that fingerprint is exported");
            return;
        }

        var signed = DigestFile.SignedData(
            StringOf(root, "digestEndTime") ?? "", StringOf(root, "digestS3Bucket") ?? "", StringOf(root, "digestS3Object") ?? "",
            sha256, StringOf(root, "previousDigestSignature"));
        if (!publicKey.VerifyData(signed, Convert.FromHexString(signature), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1))
        {
            Problem(TrailFileKind.Digest, key, "signature verification failed (modified)");
        }
    }

    private void CheckLogFile(string digestKey, JsonElement log, string? digestBucket, HashSet<string> covered)
    {
        var logKey = log.ValueKind == JsonValueKind.Object ? StringOf(log, "s3Object") : null;
        if (logKey is null)
        {
            Problem(TrailFileKind.Digest, digestKey, "lists a log file without s3Object");
            return;
        }

        covered.Add(logKey);
        if (StringOf(log, "s3Bucket") != digestBucket)
        {
            Problem(TrailFileKind.Log, logKey, $"listed in {digestKey} in another bucket ({StringOf(log, "s3Bucket")})");
        }

        var path = PathOf(logKey);
        if (!File.Exists(path))
        {
            Problem(TrailFileKind.Log, logKey, $"not found (listed in {digestKey}; deleted)");
            _logs++;
            return;
        }

        string actual;
        try
        {
            actual = Convert.ToHexStringLower(DigestFile.LogFileHash(File.ReadAllBytes(path)));
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            Problem(TrailFileKind.Log, logKey, $"cannot be read as a gzip file (listed in {digestKey}; modified)");
            return;
        }

        if (!string.Equals(actual, StringOf(log, "hashValue"), StringComparison.OrdinalIgnoreCase))
        {
            Problem(TrailFileKind.Log, logKey, $"hash value does not match the one in {digestKey} (modified)");
        }
    }

    /// <summary>
    /// The emulator's record of each chain's newest digest and of delivered files not yet in a digest: a deleted newest
    /// digest, or a deleted file that no digest lists yet, is seen only from there.
    /// </summary>
    private void CheckRecordedState()
    {
        DigestState state;
        try
        {
            state = DigestState.Load(auditRoot);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or JsonException or UnauthorizedAccessException)
        {
            Problem(TrailFileKind.State, DigestState.FileName, "cannot be read");
            return;
        }

        foreach (var chain in state.Chains)
        {
            if (chain.Last is { } last && !File.Exists(PathOf(last.ObjectKey)))
            {
                Problem(TrailFileKind.Digest, last.ObjectKey, "not found (the newest digest the emulator wrote; deleted)");
                _digests++;
            }

            foreach (var pending in chain.Pending.Where(p => !File.Exists(PathOf(p.ObjectKey))))
            {
                Problem(TrailFileKind.Log, pending.ObjectKey, "not found (delivered, not yet in a digest; deleted)");
                _logs++;
            }
        }
    }

    private RSA? PublicKey(string accountId, string region, string fingerprint)
    {
        var keyObject = DigestFile.PublicKeyObject(accountId, region, fingerprint);
        if (_publicKeys.TryGetValue(keyObject, out var cached))
        {
            return cached;
        }

        RSA? found = null;
        if (fingerprint.Length == 32 && fingerprint.All(Uri.IsHexDigit) && File.Exists(PathOf(keyObject)))
        {
            var key = RSA.Create();
            try
            {
                key.ImportFromPem(File.ReadAllText(PathOf(keyObject)));
                if (DigestFile.Fingerprint(key) == fingerprint)
                {
                    found = key;
                }
                else
                {
                    Problem(TrailFileKind.PublicKey, keyObject, "its fingerprint is not its name (modified)");
                }
            }
            catch (Exception e) when (e is ArgumentException or CryptographicException)
            {
                Problem(TrailFileKind.PublicKey, keyObject, "is not an RSA public key in PEM");
            }

            if (found is null)
            {
                key.Dispose();
            }
        }

        _publicKeys[keyObject] = found;
        return found;
    }

    private string? ReadSignature(string key)
    {
        var path = PathOf(key + DigestFile.SignatureSuffix);
        if (!File.Exists(path))
        {
            return null;
        }

        var text = File.ReadAllText(path, Encoding.ASCII).Trim();
        return text.Length > 0 && text.Length % 2 == 0 && text.All(Uri.IsHexDigit) ? text.ToLowerInvariant() : null;
    }

    private void Problem(TrailFileKind kind, string key, string reason)
    {
        _problems.Add(new TrailProblem(kind, key, reason));
        if (kind == TrailFileKind.Digest)
        {
            _invalidDigests.Add(key);
        }
        else if (kind == TrailFileKind.Log)
        {
            _invalidLogs.Add(key);
        }
    }

    private IEnumerable<string> ObjectsUnder(string prefix)
    {
        var folder = PathOf(prefix);
        return Directory.Exists(folder)
            ? Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
                .Select(path => Path.GetRelativePath(auditRoot, path).Replace(Path.DirectorySeparatorChar, '/'))
            : [];
    }

    private static IEnumerable<string> SubfolderNames(string folder) =>
        Directory.Exists(folder) ? Directory.GetDirectories(folder).Select(d => Path.GetFileName(d)!) : [];

    private string PathOf(string objectKey) => Path.Combine(auditRoot, objectKey.Replace('/', Path.DirectorySeparatorChar));

    private static string? StringOf(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static DateTimeOffset Minute(DateTimeOffset time) =>
        new(time.UtcTicks - (time.UtcTicks % TimeSpan.TicksPerMinute), TimeSpan.Zero);
}

public enum TrailFileKind
{
    Digest,
    Log,
    PublicKey,
    State,
}

/// <summary>One thing wrong with the trail: which file, and why.</summary>
public sealed record TrailProblem(TrailFileKind Kind, string ObjectKey, string Reason)
{
    public override string ToString() => $"{KindName(Kind)}\t{ObjectKey}\tINVALID: {Reason}";

    private static string KindName(TrailFileKind kind) => kind switch
    {
        TrailFileKind.Digest => "Digest file",
        TrailFileKind.Log => "Log file",
        TrailFileKind.PublicKey => "Public key",
        _ => "Digest state",
    };
}

/// <summary>The outcome of <see cref="TrailVerifier.Verify"/>.</summary>
public sealed record TrailReport(
    IReadOnlyList<TrailProblem> Problems,
    IReadOnlyList<string> NotYetCovered,
    int DigestFiles,
    int ValidDigestFiles,
    int LogFiles,
    int ValidLogFiles)
{
    public bool Intact => Problems.Count == 0;

    /// <summary>One line per problem, one per log file not yet covered, then the summary.</summary>
    public IEnumerable<string> Lines()
    {
        foreach (var problem in Problems)
        {
            yield return problem.ToString();
        }

        foreach (var log in NotYetCovered)
        {
            yield return $"Log file\t{log}\tnot yet covered by a digest";
        }

        yield return $"Results: {ValidDigestFiles}/{DigestFiles} digest files valid, {ValidLogFiles}/{LogFiles - NotYetCovered.Count} log files valid, {NotYetCovered.Count} not yet covered; "
            + (Intact ? "the trail is intact" : $"{Problems.Count} problem(s): the trail is NOT intact");
    }
}
