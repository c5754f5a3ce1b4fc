using System.IO.Compression;
using System.Text.Json.Nodes;
using KmsEmulator.Api.Audit;
using Microsoft.Extensions.DependencyInjection;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>Reads a host's delivered CloudTrail log files the way a user would: every <c>.json.gz</c> under AWSLogs.</summary>
public static class AuditTrailReader
{
    /// <summary>Delivers what the host has recorded so far, then returns every record of its trail.</summary>
    public static async Task<IReadOnlyList<JsonObject>> FlushAndReadAsync(this EmulatorHost host)
    {
        await host.Services.GetRequiredService<AuditTrail>().FlushAsync();
        return Read(AuditRoot(host));
    }

    public static string AuditRoot(EmulatorHost host) => Path.Combine(host.DataDir, "audit");

    /// <summary>Every record of every delivered log file under <paramref name="auditRoot"/>.</summary>
    public static IReadOnlyList<JsonObject> Read(string auditRoot)
    {
        var records = new List<JsonObject>();
        var logs = Path.Combine(auditRoot, "AWSLogs");
        if (!Directory.Exists(logs))
        {
            return records;
        }

        foreach (var file in Directory.EnumerateFiles(logs, "*.json.gz", SearchOption.AllDirectories)
                     .Where(f => f.Contains($"{Path.DirectorySeparatorChar}CloudTrail{Path.DirectorySeparatorChar}", StringComparison.Ordinal)))
        {
            using var gzip = new GZipStream(File.OpenRead(file), CompressionMode.Decompress);
            var document = JsonNode.Parse(gzip)!.AsObject();
            records.AddRange(document["Records"]!.AsArray().Select(r => r!.AsObject()));
        }

        return records;
    }

    /// <summary>The one record of the request with this id (x-amzn-RequestId).</summary>
    public static JsonObject ByRequestId(this IReadOnlyList<JsonObject> records, string requestId) =>
        Assert.Single(records, r => (string?)r["requestID"] == requestId);
}
