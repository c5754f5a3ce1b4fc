using System.Collections.Concurrent;
using System.Diagnostics;
using KmsEmulator.Api.Generated;

namespace KmsEmulator.Api.Protocol;

/// <summary>
/// Counts and times every KMS request by operation and outcome (<c>success</c> or the AWS error code), for
/// <c>GET /metrics</c>. Recording a request costs two interlocked additions and no allocation: successful requests
/// go to a series kept per operation in an array, failed ones to a series per (operation, error code) made the first
/// time that pair is seen (error codes come from the error catalogue, so there are few). Each series is a latency
/// histogram whose count is the request count.
/// </summary>
public sealed class RequestMetrics
{
    /// <summary>The outcome label of a request that succeeded.</summary>
    public const string Success = "success";

    /// <summary>The operation label of a request whose target names no KMS operation.</summary>
    public const string UnknownOperation = "unknown";

    /// <summary>Upper bounds of the latency buckets, in seconds (the last bucket, +Inf, is implied).</summary>
    public static IReadOnlyList<double> BucketBounds { get; } =
        [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private readonly long[] _boundTicks;
    private readonly Series[] _successes;
    private readonly ConcurrentDictionary<(int Operation, string Outcome), Series> _failures = new();

    public RequestMetrics()
    {
        _boundTicks = [.. BucketBounds.Select(seconds => (long)Math.Ceiling(seconds * Stopwatch.Frequency))];
        _successes = new Series[KmsOperations.Count + 1];
        for (var i = 0; i < _successes.Length; i++)
        {
            _successes[i] = new Series(_boundTicks.Length + 1);
        }
    }

    /// <summary>Records one completed request.</summary>
    /// <param name="operation">The operation, or null when the target named none.</param>
    /// <param name="errorCode">The error code answered, or null for a success.</param>
    /// <param name="elapsedTicks">How long it took, in <see cref="Stopwatch"/> ticks.</param>
    public void Record(KmsOperation? operation, string? errorCode, long elapsedTicks)
    {
        var index = operation is { } op ? (int)op : KmsOperations.Count;
        Series series;
        if (errorCode is null)
        {
            series = _successes[index];
        }
        else if (!_failures.TryGetValue((index, errorCode), out series!))
        {
            series = _failures.GetOrAdd((index, errorCode), static (_, buckets) => new Series(buckets), _boundTicks.Length + 1);
        }

        var bucket = 0;
        while (bucket < _boundTicks.Length && elapsedTicks > _boundTicks[bucket])
        {
            bucket++;
        }

        series.Observe(bucket, elapsedTicks);
    }

    /// <summary>Every series that has seen a request, ordered by operation label, then outcome.</summary>
    public IReadOnlyList<RequestSeries> Snapshot()
    {
        var result = new List<RequestSeries>();
        for (var i = 0; i < _successes.Length; i++)
        {
            if (_successes[i].Read() is { } read)
            {
                result.Add(read.With(LabelOf(i), Success));
            }
        }

        foreach (var ((operation, outcome), series) in _failures)
        {
            if (series.Read() is { } read)
            {
                result.Add(read.With(LabelOf(operation), outcome));
            }
        }

        result.Sort(static (a, b) =>
        {
            var byOperation = string.CompareOrdinal(a.Operation, b.Operation);
            return byOperation != 0 ? byOperation : string.CompareOrdinal(a.Outcome, b.Outcome);
        });
        return result;
    }

    private static string LabelOf(int index) => index < KmsOperations.Count ? ((KmsOperation)index).Name() : UnknownOperation;

    private sealed class Series(int buckets)
    {
        private readonly long[] _buckets = new long[buckets];
        private long _sumTicks;

        public void Observe(int bucket, long ticks)
        {
            Interlocked.Increment(ref _buckets[bucket]);
            Interlocked.Add(ref _sumTicks, ticks);
        }

        /// <summary>Cumulative bucket counts (the last is the total), or null when nothing was recorded.</summary>
        public RequestSeries? Read()
        {
            var cumulative = new long[_buckets.Length];
            long total = 0;
            for (var i = 0; i < _buckets.Length; i++)
            {
                total += Volatile.Read(ref _buckets[i]);
                cumulative[i] = total;
            }

            return total == 0
                ? null
                : new RequestSeries(string.Empty, string.Empty, cumulative, (double)Interlocked.Read(ref _sumTicks) / Stopwatch.Frequency);
        }
    }
}

/// <summary>
/// One series of <see cref="RequestMetrics"/>: cumulative counts per bucket of <see cref="RequestMetrics.BucketBounds"/>
/// followed by the total (+Inf), and the summed duration in seconds.
/// </summary>
public sealed record RequestSeries(string Operation, string Outcome, IReadOnlyList<long> CumulativeBuckets, double SumSeconds)
{
    public long Count => CumulativeBuckets[^1];

    internal RequestSeries With(string operation, string outcome) => this with { Operation = operation, Outcome = outcome };
}
