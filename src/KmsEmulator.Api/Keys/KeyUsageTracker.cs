using System.Collections.Concurrent;

namespace KmsEmulator.Api.Keys;

/// <summary>The last successful cryptographic use of a key, as GetKeyLastUsage reports it.</summary>
public sealed record KeyUsage(string Operation, DateTimeOffset Timestamp, string CloudTrailEventId, string KmsRequestId);

/// <summary>Where key usage survives a restart (the audit trail's index).</summary>
public interface IKeyUsageHistory
{
    /// <summary>Since when uses are recorded: the first start with an audit index in this data directory.</summary>
    DateTimeOffset TrackingStart { get; }

    /// <summary>The newest recorded use of the key with this ARN, or null.</summary>
    ValueTask<KeyUsage?> FindAsync(string keyArn, CancellationToken cancellationToken);
}

/// <summary>
/// The last use of each key: uses not yet in the history are kept here, so GetKeyLastUsage sees a use as soon as its
/// request has answered, and dropped once the history holds them, so memory stays small with many keys.
/// </summary>
public sealed class KeyUsageTracker(TimeProvider clock, IKeyUsageHistory? history = null)
{
    private readonly ConcurrentDictionary<string, KeyUsage> _pending = new(StringComparer.Ordinal);
    private readonly DateTimeOffset _started = clock.GetUtcNow();

    /// <summary>Since when uses are recorded (the history's start, or this process's without a history).</summary>
    public DateTimeOffset TrackingStart => history?.TrackingStart ?? _started;

    /// <summary>Notes a successful use; an older use never replaces a newer one.</summary>
    public void Record(string keyArn, KeyUsage usage) =>
        _pending.AddOrUpdate(keyArn, static (_, added) => added, static (_, current, added) => current.Timestamp > added.Timestamp ? current : added, usage);

    /// <summary>Forgets a pending use once the history holds it (unless a newer one came meanwhile).</summary>
    public void Persisted(string keyArn, KeyUsage usage) => _pending.TryRemove(KeyValuePair.Create(keyArn, usage));

    public async ValueTask<KeyUsage?> LastAsync(string keyArn, CancellationToken cancellationToken)
    {
        if (_pending.TryGetValue(keyArn, out var pending))
        {
            return pending;
        }

        return history is null ? null : await history.FindAsync(keyArn, cancellationToken).ConfigureAwait(false);
    }
}
