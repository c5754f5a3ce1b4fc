namespace KmsEmulator.Api.Audit;

/// <summary>
/// What <see cref="AuditDelivery"/> reports about itself, for health and metrics: whether its loop runs, and its last
/// failed and last good commit. Written by the delivery loop only; read from anywhere.
/// </summary>
public sealed class AuditDeliveryStatus
{
    private readonly Lock _lock = new();
    private int _running;
    private long _failures;
    private bool _failing;
    private DateTimeOffset? _lastFailureAt;
    private string? _lastError;

    /// <summary>True while the delivery loop runs (from start until the queue is drained at shut-down).</summary>
    public bool Running => Volatile.Read(ref _running) == 1;

    /// <summary>Commits or deliveries that failed since start (their records were not written).</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>The last failure, when no commit has succeeded since; null while delivery is well.</summary>
    public (string Error, DateTimeOffset At)? CurrentFailure
    {
        get
        {
            lock (_lock)
            {
                return _failing && _lastError is { } error && _lastFailureAt is { } at ? (error, at) : null;
            }
        }
    }

    /// <summary>The last failure whenever it was, for reports.</summary>
    public (string Error, DateTimeOffset At)? LastFailure
    {
        get
        {
            lock (_lock)
            {
                return _lastError is { } error && _lastFailureAt is { } at ? (error, at) : null;
            }
        }
    }

    internal void Started() => Volatile.Write(ref _running, 1);

    internal void Stopped() => Volatile.Write(ref _running, 0);

    internal void Succeeded()
    {
        lock (_lock)
        {
            _failing = false;
        }
    }

    internal void Failed(Exception exception, DateTimeOffset at)
    {
        Interlocked.Increment(ref _failures);
        lock (_lock)
        {
            // The type and message only: the message of an IO or SQLite error names a path, never a secret.
            _lastError = $"{exception.GetType().Name}: {exception.Message}";
            _lastFailureAt = at;
            _failing = true;
        }
    }
}
