using System.Diagnostics;
using KmsEmulator.Api.Audit;
using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Hosting;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Protocol;
using KmsEmulator.Hsm;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace KmsEmulator.Api.Tests;

/// <summary>The request counters and histograms, and the exposition /metrics writes from them.</summary>
public sealed class MetricsTests
{
    [Fact]
    public void Requests_are_counted_per_operation_and_outcome_in_the_bucket_of_their_duration()
    {
        var metrics = new RequestMetrics();
        metrics.Record(KmsOperation.Encrypt, null, Ticks(0.0002));
        metrics.Record(KmsOperation.Encrypt, null, Ticks(0.003));
        metrics.Record(KmsOperation.Encrypt, "NotFoundException", Ticks(0.0004));
        metrics.Record(null, "UnknownOperationException", Ticks(20));

        var series = metrics.Snapshot();

        Assert.Equal(
            [("Encrypt", "NotFoundException", 1L), ("Encrypt", "success", 2L), ("unknown", "UnknownOperationException", 1L)],
            series.Select(s => (s.Operation, s.Outcome, s.Count)));
        var success = series[1];
        Assert.Equal(1, success.CumulativeBuckets[0]);  // <= 0.5 ms
        Assert.Equal(1, success.CumulativeBuckets[2]);  // <= 2.5 ms
        Assert.Equal(2, success.CumulativeBuckets[3]);  // <= 5 ms
        Assert.Equal(0.0032, success.SumSeconds, 6);
        Assert.Equal(0, series[2].CumulativeBuckets[^2]); // above the last bound: only +Inf
        Assert.Equal(1, series[2].CumulativeBuckets[^1]);
    }

    [Fact]
    public void The_exposition_names_every_family_with_its_type_and_writes_each_series_once()
    {
        var metrics = new RequestMetrics();
        metrics.Record(KmsOperation.Decrypt, null, Ticks(0.001));
        metrics.Record(KmsOperation.Decrypt, "InvalidCiphertextException", Ticks(0.001));
        var trail = new AuditTrail(Options.Create(new AuditOptions { QueueCapacity = 77 }), new KeyUsageTracker(new FakeTimeProvider()), NullLogger<AuditTrail>.Instance);
        var endpoint = new MetricsEndpoint(metrics, trail, Options.Create(new KmsOptions()), new PoolOnly());

        var text = endpoint.Render();
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

        foreach (var name in MetricsEndpoint.Names)
        {
            Assert.Contains($"# TYPE {name} ", text, StringComparison.Ordinal);
        }

        Assert.Contains("kmsemu_requests_total{operation=\"Decrypt\",outcome=\"success\"} 1", lines);
        Assert.Contains("kmsemu_requests_total{operation=\"Decrypt\",outcome=\"InvalidCiphertextException\"} 1", lines);
        Assert.Contains("kmsemu_request_duration_seconds_bucket{operation=\"Decrypt\",outcome=\"success\",le=\"0.001\"} 1", lines);
        Assert.Contains("kmsemu_request_duration_seconds_bucket{operation=\"Decrypt\",outcome=\"success\",le=\"+Inf\"} 1", lines);
        Assert.Contains("kmsemu_request_duration_seconds_count{operation=\"Decrypt\",outcome=\"success\"} 1", lines);
        Assert.Contains("kmsemu_hsm_session_pool_size 6", lines);
        Assert.Contains("kmsemu_hsm_sessions_in_use 2", lines);
        Assert.Contains("kmsemu_hsm_session_waiters 0", lines);
        Assert.Contains("kmsemu_audit_queue_depth 0", lines);
        Assert.Contains("kmsemu_audit_queue_capacity 77", lines);
        Assert.Contains("kmsemu_audit_delivery_running 0", lines);
        Assert.Contains("kmsemu_audit_delivery_failures_total 0", lines);
        Assert.Equal(lines.Length, lines.Distinct().Count());
        Assert.All(lines.Where(l => !l.StartsWith('#')), l => Assert.Matches(@"^kmsemu_[a-z_]+(\{[^}]*\})? \S+$", l));
    }

    [Fact]
    public void Metric_names_are_stable()
    {
        Assert.Equal(
            [
                "kmsemu_requests_total", "kmsemu_request_duration_seconds", "kmsemu_hsm_session_pool_size",
                "kmsemu_hsm_sessions_in_use", "kmsemu_hsm_session_waiters", "kmsemu_audit_queue_depth",
                "kmsemu_audit_queue_capacity", "kmsemu_audit_delivery_running", "kmsemu_audit_delivery_failures_total",
            ],
            MetricsEndpoint.Names);
        Assert.Equal([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], RequestMetrics.BucketBounds);
    }

    [Fact]
    public void Every_name_and_label_is_documented()
    {
        var doc = File.ReadAllText(Path.Combine(RepositoryRoot.Path, "docs", "operations.md"));
        foreach (var name in MetricsEndpoint.Names)
        {
            Assert.Contains($"`{name}`", doc, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Recording_a_request_allocates_nothing_once_its_series_exists()
    {
        var metrics = new RequestMetrics();
        for (var i = 0; i < 1000; i++)
        {
            // Warm-up: the first calls may allocate while the runtime compiles them.
            metrics.Record(KmsOperation.Encrypt, null, i);
            metrics.Record(KmsOperation.Encrypt, "NotFoundException", i);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            metrics.Record(KmsOperation.Encrypt, null, i);
            metrics.Record(KmsOperation.Encrypt, "NotFoundException", i);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    private static long Ticks(double seconds) => (long)(seconds * Stopwatch.Frequency);

    private sealed class PoolOnly : IHsmStatus
    {
        public HsmPoolUsage PoolUsage => new(6, 2, 0);

        public ValueTask<string?> ProbeAsync(CancellationToken cancellationToken = default) => ValueTask.FromResult<string?>(null);
    }
}
