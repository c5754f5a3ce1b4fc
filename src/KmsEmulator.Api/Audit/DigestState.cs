using System.Text.Json;
using System.Text.Json.Serialization;

namespace KmsEmulator.Api.Audit;

/// <summary>
/// What the digest writer must remember across restarts, per account and region: the last digest (the next one
/// chains to it) and the delivered log files no digest lists yet. Kept in <c>.digest-state.json</c> in the audit
/// folder, replaced atomically (written beside, then renamed over) after every change.
/// </summary>
internal sealed class DigestState
{
    public const string FileName = ".digest-state.json";

    public List<DigestChain> Chains { get; set; } = [];

    public static DigestState Load(string auditRoot)
    {
        var path = Path.Combine(auditRoot, FileName);
        if (!File.Exists(path))
        {
            return new DigestState();
        }

        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), DigestStateJsonContext.Default.DigestState) ?? new DigestState();
        }
        catch (JsonException e)
        {
            throw new InvalidDataException(
                $"The digest state {path} cannot be read ({e.Message}). Move it away to start new digest chains (audit verify will report the break).", e);
        }
    }

    public void Save(string auditRoot)
    {
        var path = Path.Combine(auditRoot, FileName);
        var temporary = path + ".tmp";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            JsonSerializer.Serialize(file, this, DigestStateJsonContext.Default.DigestState);
            file.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }

    public DigestChain? Find(string accountId, string region) =>
        Chains.Find(c => c.AccountId == accountId && c.Region == region);
}

/// <summary>One account and region's chain of digests.</summary>
internal sealed class DigestChain
{
    public string AccountId { get; set; } = "";

    public string Region { get; set; } = "";

    /// <summary>
    /// The start time of the chain's first digest: when the writer started (logging began), or the oldest event of the
    /// first file if older (files a crash left behind).
    /// </summary>
    public DateTimeOffset StartedAt { get; set; }

    public DigestChainEnd? Last { get; set; }

    public List<DigestLogFile> Pending { get; set; } = [];
}

/// <summary>The newest digest of a chain: what the next one's previous* fields and signature need.</summary>
internal sealed record DigestChainEnd(string Bucket, string ObjectKey, string Sha256, string Signature, DateTimeOffset EndTime);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(DigestState))]
internal sealed partial class DigestStateJsonContext : JsonSerializerContext;
