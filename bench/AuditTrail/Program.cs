// The CPU cost of the audit trail per record, off the request path: events shaped like the endpoint's Encrypt events go
// through the real AuditTrail and AuditDelivery (gzip log files, the SQLite LookupEvents index) in a temporary
// directory, and the process's CPU time and allocations from the first record to the flush that delivers the last are
// divided by the number of records. Building the events is measured alone first and reported beside it. CPU time is
// the process's, so the figure holds on a busy machine. The producer keeps at most about a thousand records queued.
//
// Usage: dotnet run -c Release --project bench/AuditTrail [-- --events 300000 --rounds 3]
using System.Diagnostics;
using System.Text.Json.Nodes;
using KmsEmulator.Api.Audit;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Pipeline;
using KmsEmulator.Api.Storage;
using KmsEmulator.Policy;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

var events = Arg("--events", 300_000);
var rounds = Arg("--rounds", 3);
const string account = "111122223333";
const string region = "us-east-1";
var keyId = Guid.NewGuid().ToString();
var keyArn = $"arn:aws:kms:{region}:{account}:key/{keyId}";
var caller = new CallerIdentity(account, $"arn:aws:iam::{account}:root", "AKIAIOSFODNN7EXAMPLE", PrincipalType.Root);
const string userAgent = "aws-sdk-dotnet-coreclr/4.0.1 ua/2.1 os/linux#6.1 md/arch#x64 lang/dotnet#10.0 md/ClientAsync";

var dir = Path.Combine(Path.GetTempPath(), "kmsemu-audit-trail-bench-" + Guid.NewGuid().ToString("N"));
Directory.CreateDirectory(dir);
AuditTrail trail;
try
{
    var options = Options.Create(new AuditOptions());
    using var index = SqliteAuditIndex.Open(Path.Combine(dir, SqliteAuditIndex.FileName), TimeProvider.System);
    trail = new AuditTrail(options, new KeyUsageTracker(TimeProvider.System, index), NullLogger<AuditTrail>.Instance);
    var delivery = new AuditDelivery(trail, options, new AuditPaths(Path.Combine(dir, "audit")), [], TimeProvider.System,
        NullLogger<AuditDelivery>.Instance, index);
    await delivery.StartAsync(CancellationToken.None);

    // Warm-up: the runtime re-compiles hot code for a while (tiered JIT), so the first records cost more.
    await Produce(events / 2, record: true);
    for (var round = 1; round <= rounds; round++)
    {
        var build = await Measure(() => Produce(events, record: false));
        var recorded = await Measure(() => Produce(events, record: true));
        Console.WriteLine(
            $"round {round}: {events:N0} records: {recorded.Cpu / events:F2} µs CPU and {recorded.Bytes / events:N0} bytes allocated per record, "
            + $"{recorded.Gcs} collections; building the events alone {build.Cpu / events:F2} µs and {build.Bytes / events:N0} bytes; "
            + $"the trail's own cost {(recorded.Cpu - build.Cpu) / events:F2} µs and {(recorded.Bytes - build.Bytes) / events:N0} bytes per record");
    }

    await delivery.StoppedAsync(CancellationToken.None);
}
finally
{
    Directory.Delete(dir, recursive: true);
}

async Task Produce(int count, bool record)
{
    long kept = 0;
    for (var i = 0; i < count; i++)
    {
        var e = Event();
        if (record)
        {
            await trail.RecordAsync(e);
            // Like requests, which wait for their answers, the producer does not run far ahead of delivery: a full queue
            // would keep thousands of events alive through every collection, which the emulator under load does not.
            while (i % 256 == 0 && trail.QueueDepth > 1024)
            {
                await Task.Delay(1);
            }
        }
        else
        {
            kept += e.RequestId.Length;
        }
    }

    if (record)
    {
        await trail.FlushAsync();
    }

    GC.KeepAlive(kept);
}

async Task<(double Cpu, double Bytes, int Gcs)> Measure(Func<Task> work)
{
    var process = Process.GetCurrentProcess();
    var cpu = process.TotalProcessorTime;
    var bytes = GC.GetTotalAllocatedBytes(precise: true);
    var gcs = GC.CollectionCount(0);
    await work();
    process.Refresh();
    return ((process.TotalProcessorTime - cpu).TotalMicroseconds, GC.GetTotalAllocatedBytes(precise: true) - bytes, GC.CollectionCount(0) - gcs);
}

// An Encrypt event as KmsEndpoint builds it for a caller with the root's access key.
AuditEvent Event()
{
    var now = DateTimeOffset.UtcNow;
    return new AuditEvent
    {
        EventId = RandomId(),
        RequestId = RandomId().ToString(),
        EventTime = now,
        EventName = "Encrypt",
        Region = region,
        Caller = caller,
        SourceIp = "127.0.0.1",
        UserAgent = userAgent,
        ReadOnly = true,
        RequestParameters = new JsonObject { ["keyId"] = keyId, ["encryptionAlgorithm"] = "SYMMETRIC_DEFAULT" },
        Resources = [new AuditResource(account, keyArn)],
        RecipientAccountId = account,
        UsedKeyArns = [keyArn],
    };
}

// Random like the emulator's ids (which come from a per-thread buffer of random bytes), without a system call each.
static Guid RandomId()
{
    Span<byte> bytes = stackalloc byte[16];
    Random.Shared.NextBytes(bytes);
    return new Guid(bytes);
}

int Arg(string name, int fallback)
{
    var at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], System.Globalization.CultureInfo.InvariantCulture) : fallback;
}
