// The CPU cost of indexing audit events (LookupEvents, GetKeyLastUsage) and the time of typical lookups, measured on
// the real SqliteAuditIndex in a temporary directory. CPU time is the process's, so the figure holds on a busy machine.
//
// Usage: dotnet run -c Release --project bench/AuditIndex [-- --events 200000 --batch 2000]
using System.Diagnostics;
using System.Text;
using KmsEmulator.Api.Audit;
using KmsEmulator.Api.Storage;

var events = Arg("--events", 200_000);
var batchSize = Arg("--batch", 2_000);
var dir = Path.Combine(Path.GetTempPath(), "kmsemu-audit-index-bench-" + Guid.NewGuid().ToString("N"));
Directory.CreateDirectory(dir);
try
{
    using var index = SqliteAuditIndex.Open(Path.Combine(dir, SqliteAuditIndex.FileName), TimeProvider.System);
    const string account = "111122223333";
    const string region = "us-east-1";
    var keyArns = Enumerable.Range(0, 16).Select(i => $"arn:aws:kms:{region}:{account}:key/{Guid.NewGuid()}").ToArray();
    var start = DateTimeOffset.UtcNow.AddHours(-1);
    const string padding = "aws-sdk-dotnet-coreclr/4.0.1 ua/2.1 os/linux#6.1 md/arch#x64 lang/dotnet#10.0 md/ClientAsync";

    // The events are made first, so that only indexing is measured; the writer (its connection and prepared commands)
    // is warmed up outside the measurement. Their records are packed into compressed groups here too: delivery does
    // that once for the log file, and the index stores those groups as they are.
    var all = new List<IndexedEvent>(events);
    using var packer = new RecordPacker();
    for (var i = 1; i <= events; i++)
    {
        // About 12,000 events a second of event time, as a busy emulator records them; one CreateKey in 10,000.
        all.Add(Event(i, start.AddTicks(i * (TimeSpan.TicksPerSecond / 12_000)), i % 10_000 == 0 ? "CreateKey" : "Encrypt"));
        if (packer.Full || i % batchSize == 0)
        {
            packer.Seal();
        }
    }

    packer.Seal();

    var someId = all[events / 2].EventId;
    var first = Event(0, start, "CreateKey");
    packer.Seal();
    await index.AppendAsync([first], CancellationToken.None);
    var cpu = Process.GetCurrentProcess().TotalProcessorTime;
    var wall = Stopwatch.StartNew();
    foreach (var chunk in all.Chunk(batchSize))
    {
        await index.AppendAsync(chunk, CancellationToken.None);
    }

    wall.Stop();
    var used = Process.GetCurrentProcess().TotalProcessorTime - cpu;
    Console.WriteLine($"append: {events:N0} events in batches of {batchSize:N0}: {used.TotalMicroseconds / events:F2} µs CPU and {wall.Elapsed.TotalMicroseconds / events:F2} µs wall per event");
    var files = Directory.GetFiles(dir, SqliteAuditIndex.FileName + "*").Sum(f => new FileInfo(f).Length);
    Console.WriteLine($"audit.db and its WAL: {files / 1024.0 / 1024:F1} MiB, {(double)files / events:F0} bytes per event; record {all[1].Record.Length} bytes");

    await Lookup("newest page, no attribute", new AuditLookup(account, region, null, null, null, 50));
    await Lookup("EventName=CreateKey (1 in 10,000)", new AuditLookup(account, region, (LookupAttributeKey.EventName, "CreateKey"), null, null, 50));
    await Lookup("EventId (mid-run)", new AuditLookup(account, region, (LookupAttributeKey.EventId, someId.ToString()), null, null, 50));
    await Lookup("ResourceName (1 of 16 keys)", new AuditLookup(account, region, (LookupAttributeKey.ResourceName, keyArns[3]), null, null, 50));
    await Lookup("time range in the middle", new AuditLookup(account, region, null, start.AddSeconds(events / 24_000.0), start.AddSeconds(events / 24_000.0 + 1), 50));
    await Lookup("Username=nobody (no match)", new AuditLookup(account, region, (LookupAttributeKey.Username, "nobody"), null, null, 50));

    async Task Lookup(string name, AuditLookup query)
    {
        var page = await index.LookupAsync(query, CancellationToken.None);
        var timer = Stopwatch.StartNew();
        const int repeats = 20;
        for (var r = 0; r < repeats; r++)
        {
            page = await index.LookupAsync(query, CancellationToken.None);
        }

        Console.WriteLine($"lookup {name}: {page.Events.Count} events, {timer.Elapsed.TotalMilliseconds / repeats:F2} ms");
    }

    IndexedEvent Event(int i, DateTimeOffset time, string name)
    {
        var keyArn = keyArns[i % keyArns.Length];
        var id = Guid.CreateVersion7(time);
        // The shape and size (about 800 bytes) of a real Encrypt record; ids differ per event, as they do.
        var record = Encoding.UTF8.GetBytes(
            $"{{\"eventVersion\":\"1.11\",\"userIdentity\":{{\"type\":\"Root\",\"principalId\":\"{account}\",\"arn\":\"arn:aws:iam::{account}:root\","
            + $"\"accountId\":\"{account}\",\"accessKeyId\":\"AKIAIOSFODNN7EXAMPLE\"}},\"eventTime\":\"{time:yyyy-MM-ddTHH:mm:ssZ}\",\"eventSource\":\"kms.amazonaws.com\","
            + $"\"eventName\":\"{name}\",\"awsRegion\":\"{region}\",\"sourceIPAddress\":\"127.0.0.1\",\"userAgent\":\"{padding}\","
            + $"\"requestParameters\":{{\"keyId\":\"{keyArn[^36..]}\",\"encryptionAlgorithm\":\"SYMMETRIC_DEFAULT\"}},\"responseElements\":null,"
            + $"\"requestID\":\"{Guid.NewGuid()}\",\"eventID\":\"{id}\",\"readOnly\":true,\"resources\":[{{\"accountId\":\"{account}\","
            + $"\"type\":\"AWS::KMS::Key\",\"ARN\":\"{keyArn}\"}}],\"eventType\":\"AwsApiCall\",\"managementEvent\":true,"
            + $"\"recipientAccountId\":\"{account}\",\"eventCategory\":\"Management\"}}");
        return new IndexedEvent(id, account, region, time, name, "kms.amazonaws.com", false, "AKIAIOSFODNN7EXAMPLE", "root",
            [keyArn], name == "Encrypt" ? [keyArn] : [], Guid.NewGuid().ToString(), packer.Add([], record));
    }
}
finally
{
    Directory.Delete(dir, recursive: true);
}

int Arg(string name, int fallback)
{
    var at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], System.Globalization.CultureInfo.InvariantCulture) : fallback;
}
