using Microsoft.Extensions.Logging;

namespace KmsEmulator.Api.Keys;

/// <summary>Whether other emulator processes write to this emulator's store (<c>Kms:Store:SharedByNodes</c>).</summary>
public sealed record StoreSharing(bool SharedByNodes)
{
    /// <summary>This process is the store's only writer (the embedded SQLite store).</summary>
    public static readonly StoreSharing NotShared = new(false);
}

/// <summary>
/// Keeps the <see cref="KeyCatalog"/> coherent with a store that other emulator processes write to, by reading the
/// store's change feed (<see cref="IKmsStore.ReadChangesAsync"/>) and reading again the keys and aliases it names.
/// </summary>
/// <remarks>
/// <para>
/// Every request calls <see cref="CatchUpAsync"/> before it reads the catalogue; so does the writer after each commit
/// and after a version conflict, and the lifecycle sweep before it scans. What a call promises: when it returns, the
/// catalogue holds every write that was committed (by any process) before the call began. The store numbers its
/// changes in commit order, so it suffices to ask for the changes after the last one applied; when there are none,
/// which is the usual answer, that is one indexed query that returns no rows.
/// </para>
/// <para>
/// Concurrent calls share queries: a call joins the next query to start, never one already under way (which might
/// have been answered before a write the caller knows of was committed). So however many requests arrive together, at
/// most one query runs and one waits, and a caller waits for at most two. Queries run one after the other, and only
/// they change the catalogue while the store is shared (the writer publishes its own writes by catching up, not by
/// putting records), so a result is never applied over a newer one.
/// </para>
/// <para>
/// With a store that is not shared (<see cref="StoreSharing.SharedByNodes"/> false, the embedded SQLite store) every
/// call returns at once: the catalogue is loaded at start-up and kept current by the writer, as before.
/// </para>
/// </remarks>
public sealed partial class CatalogSync(KeyCatalog catalog, IKmsStore store, StoreSharing sharing, ILogger<CatalogSync> logger)
{
    /// <summary>More changes than this at once (a bulk import on another node, a long pause) reload everything instead.</summary>
    public const int MaxChangesPerCatchUp = 256;

    /// <summary>How many change entries the store keeps (<see cref="PruneAsync"/>); a node further behind reloads everything.</summary>
    public const int ChangesKept = 10_000;

    private readonly Lock _gate = new();

    /// <summary>The callers waiting for the next query to start; null when none is waiting.</summary>
    private TaskCompletionSource? _next;

    /// <summary>Whether a query is running (then the one for <see cref="_next"/> starts when it ends).</summary>
    private bool _running;

    private long _lastApplied;
    private long _queries;
    private long _reloads;

    /// <summary>Whether another process writes to the store, so that the catalogue must be brought up to date.</summary>
    public bool Shared => sharing.SharedByNodes;

    /// <summary>The number of the last store change the catalogue holds.</summary>
    public long LastApplied => Interlocked.Read(ref _lastApplied);

    /// <summary>How many change-feed queries ran (for tests and the benchmark: several callers share one).</summary>
    public long Queries => Interlocked.Read(ref _queries);

    /// <summary>How many times the whole catalogue was loaded again because the feed could not say what changed.</summary>
    public long FullReloads => Interlocked.Read(ref _reloads);

    /// <summary>Records that the catalogue was just loaded from <paramref name="snapshot"/> (start-up).</summary>
    public void Loaded(StoreSnapshot snapshot) => Interlocked.Exchange(ref _lastApplied, snapshot.ChangeSequence);

    /// <summary>
    /// Brings the catalogue up to date with every write the store committed before this call began; at once when the
    /// store is not shared. Throws when the store cannot be read (the request then fails: it must not answer from
    /// metadata it cannot validate).
    /// </summary>
    public ValueTask CatchUpAsync(CancellationToken cancellationToken)
    {
        if (!Shared)
        {
            return ValueTask.CompletedTask;
        }

        Task mine;
        bool start;
        lock (_gate)
        {
            _next ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            mine = _next.Task;
            start = !_running;
            _running = true;
        }

        if (start)
        {
            _ = RunAsync();
        }

        return new ValueTask(mine.WaitAsync(cancellationToken));
    }

    /// <summary>Keeps the newest <see cref="ChangesKept"/> entries of the store's change feed (the lifecycle sweep calls this).</summary>
    public Task PruneAsync(CancellationToken cancellationToken) => store.PruneChangesAsync(ChangesKept, cancellationToken);

    /// <summary>Runs queries one after another while callers wait for one; each serves every caller that arrived before it started.</summary>
    private async Task RunAsync()
    {
        while (true)
        {
            TaskCompletionSource batch;
            lock (_gate)
            {
                if (_next is null)
                {
                    _running = false;
                    return;
                }

                batch = _next;
                _next = null;
            }

            try
            {
                await CatchUpOnceAsync();
                batch.SetResult();
            }
            catch (Exception e)
            {
                LogCatchUpFailed(e.Message);
                batch.SetException(e);
            }
        }
    }

    private async Task CatchUpOnceAsync()
    {
        Interlocked.Increment(ref _queries);
        var after = LastApplied;
        var found = await store.ReadChangesAsync(after, MaxChangesPerCatchUp, CancellationToken.None);
        if (!found.Complete || found.Changes.Any(c => c.Everything))
        {
            await ReloadAsync(after);
            return;
        }

        if (found.Changes.Count == 0)
        {
            return;
        }

        // Read after the feed: each key and alias is at least as new as the change that named it.
        var keyIds = found.Changes.Select(c => c.KeyId).OfType<string>().ToHashSet(StringComparer.Ordinal);
        var aliasNames = found.Changes.Select(c => c.AliasName).OfType<string>().ToHashSet(StringComparer.Ordinal);
        var part = await store.LoadSomeAsync(keyIds, aliasNames, CancellationToken.None);

        var loadedKeys = part.Keys.ToDictionary(k => (k.Scope, k.KeyId));
        var loadedAliases = part.Aliases.ToDictionary(a => (a.Scope, a.AliasName));
        foreach (var change in found.Changes)
        {
            if (change is { KeyId: { } keyId, Scope: { } scope } && !loadedKeys.ContainsKey((scope, keyId)))
            {
                catalog.RemoveKey(scope, keyId);
            }
        }

        // Every key read is current (those of other regions with the same id too), so all go in.
        foreach (var key in part.Keys)
        {
            catalog.Put(key);
        }

        foreach (var change in found.Changes)
        {
            if (change is { AliasName: { } aliasName, Scope: { } scope } && !loadedAliases.ContainsKey((scope, aliasName)))
            {
                catalog.RemoveAlias(scope, aliasName);
            }
        }

        foreach (var alias in part.Aliases)
        {
            catalog.Put(alias);
        }

        Interlocked.Exchange(ref _lastApplied, found.Changes[^1].Sequence);
        LogCaughtUp(found.Changes.Count, keyIds.Count, aliasNames.Count, LastApplied);
    }

    private async Task ReloadAsync(long after)
    {
        Interlocked.Increment(ref _reloads);
        var snapshot = await store.LoadAsync(CancellationToken.None);
        catalog.Load(snapshot);
        Interlocked.Exchange(ref _lastApplied, snapshot.ChangeSequence);
        LogReloaded(after, snapshot.ChangeSequence, snapshot.Keys.Count, snapshot.Aliases.Count);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Catalogue caught up with {Changes} store changes ({Keys} keys, {Aliases} aliases read again), now at change {Sequence}")]
    private partial void LogCaughtUp(int changes, int keys, int aliases, long sequence);

    [LoggerMessage(Level = LogLevel.Information, Message = "Catalogue reloaded from the store: the change feed after {After} was pruned, too long or a reset; now at change {Sequence} with {Keys} keys and {Aliases} aliases")]
    private partial void LogReloaded(long after, long sequence, int keys, int aliases);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not read the store's changes; the requests waiting for them fail ({Reason})")]
    private partial void LogCatchUpFailed(string reason);
}
