using System.Collections.Concurrent;

namespace KmsEmulator.Api.Keys;

/// <summary>The last successful cryptographic use of a key, as GetKeyLastUsage reports it.</summary>
public sealed record KeyUsage(string Operation, DateTimeOffset Timestamp, string CloudTrailEventId, string KmsRequestId);

/// <summary>Where key usage survives a restart (the audit trail's index), and with a shared store is shared by every node.</summary>
public interface IKeyUsageHistory
{
    /// <summary>
    /// Since when uses are recorded: when the audit index was created (SQLite: in this data directory; PostgreSQL: in
    /// the database, by the first node) or last cleared.
    /// </summary>
    DateTimeOffset TrackingStart { get; }

    /// <summary>The newest recorded use of the key with this ARN, or null.</summary>
    ValueTask<KeyUsage?> FindAsync(string keyArn, CancellationToken cancellationToken);
}

/// <summary>
/// The last use of each key: uses not yet in the history are kept here, so GetKeyLastUsage sees a use as soon as its
/// request has answered, and dropped once the history holds them. When other nodes share the store (and so the
/// history), the history is asked every time and the newer of the two answers: a use made through another node counts
/// once that node's audit delivery has indexed it.
/// </summary>
/// <remarks>
/// Every successful cryptographic request records here, so recording takes no lock: each key has a slot, found
/// without locking once it exists, whose use is swapped in with a compare-exchange (a dictionary update would lock the
/// key's stripe, which every request on a busy key then waits for). A slot stays when its use is dropped: one small
/// object per key ever used.
/// </remarks>
public sealed class KeyUsageTracker(TimeProvider clock, IKeyUsageHistory? history = null, StoreSharing? sharing = null)
{
    private readonly bool _shared = sharing?.SharedByNodes ?? false;
    private readonly ConcurrentDictionary<string, Slot> _pending = new(StringComparer.Ordinal);
    private readonly DateTimeOffset _started = clock.GetUtcNow();

    /// <summary>Since when uses are recorded (the history's start, or this process's without a history).</summary>
    public DateTimeOffset TrackingStart => history?.TrackingStart ?? _started;

    /// <summary>Notes a successful use; an older use never replaces a newer one.</summary>
    public void Record(string keyArn, KeyUsage usage)
    {
        var slot = _pending.GetOrAdd(keyArn, static _ => new Slot());
        while (true)
        {
            var current = Volatile.Read(ref slot.Usage);
            if (current is not null && current.Timestamp > usage.Timestamp)
            {
                return;
            }

            if (ReferenceEquals(Interlocked.CompareExchange(ref slot.Usage, usage, current), current))
            {
                return;
            }
        }
    }

    /// <summary>Forgets a pending use once the history holds it (unless a newer one came meanwhile).</summary>
    public void Persisted(string keyArn, KeyUsage usage)
    {
        if (_pending.TryGetValue(keyArn, out var slot) && Volatile.Read(ref slot.Usage) is { } current && current.Equals(usage))
        {
            Interlocked.CompareExchange(ref slot.Usage, null, current);
        }
    }

    /// <summary>Forgets every pending use (the audit trail and its history were cleared).</summary>
    public void Clear() => _pending.Clear();

    /// <summary>
    /// The last use of the key: the one recorded here while the history does not hold it yet, else the history's. With a
    /// shared history the newer of the two (another node's use may be newer than this node's pending one).
    /// </summary>
    public async ValueTask<KeyUsage?> LastAsync(string keyArn, CancellationToken cancellationToken)
    {
        var pending = _pending.TryGetValue(keyArn, out var slot) ? Volatile.Read(ref slot.Usage) : null;
        if (history is null || (pending is not null && !_shared))
        {
            return pending;
        }

        var stored = await history.FindAsync(keyArn, cancellationToken).ConfigureAwait(false);
        return pending is null || (stored is not null && stored.Timestamp > pending.Timestamp) ? stored : pending;
    }

    private sealed class Slot
    {
        public KeyUsage? Usage;
    }
}
