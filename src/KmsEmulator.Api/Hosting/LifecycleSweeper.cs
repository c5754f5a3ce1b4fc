using KmsEmulator.Api.Audit;
using KmsEmulator.Api.Keys;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KmsEmulator.Api.Hosting;

/// <summary>
/// The key lifecycle's housekeeping, on a timer of the injected clock (and at once when the emulator's clock is moved):
/// removes keys whose deletion waiting period has ended, starts the waiting period of multi-Region primary keys whose
/// last replica is gone, rotates keys whose automatic rotation is due, and ends the transient states Creating and
/// Updating of multi-Region keys. Callers stop
/// seeing deleted keys at the deletion date already (<see cref="KeyLifecycle"/>); the sweep frees their material and rows.
/// </summary>
public sealed partial class LifecycleSweeper(KeyLifecycleService keys, TimeProvider clock, IOptions<KmsOptions> options, ILogger<LifecycleSweeper> logger, AuditTrail? audit = null,
    KeyImportService? imports = null, CatalogSync? sync = null)
    : IHostedService, IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private ITimer? _timer;
    private IDisposable? _onMoved;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var interval = options.Value.DeletionSweepInterval;
        _timer = clock.CreateTimer(_ => _ = SweepAsync(waitForRunning: false), null, interval, interval);

        // After the clock was moved forward, keys whose window ended (or whose rotation fell due) meanwhile are dealt
        // with before the move completes, not at the next tick.
        _onMoved = (clock as EmulatorClock)?.OnMoved(() => SweepAsync(waitForRunning: true));

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _timer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _onMoved?.Dispose();

        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _timer?.Dispose();
        _onMoved?.Dispose();
        _gate.Dispose();
    }

    /// <summary>One sweep at a time: a timer tick skips while one runs; a clock move waits for it and sweeps again.</summary>
    private async Task SweepAsync(bool waitForRunning)
    {
        if (!await _gate.WaitAsync(waitForRunning ? Timeout.Infinite : 0))
        {
            return;
        }

        try
        {
            // Emulators sharing the store all sweep: each scans its catalogue brought up to date first, and of two that
            // act on one key the second finds the key changed when it writes, computes again from the store's state
            // and finds nothing left to do (KeyWriter).
            if (sync is not null)
            {
                await sync.CatchUpAsync(CancellationToken.None);
            }

            // As in AWS, both show in the audit trail as KMS-internal events (DeleteKey, RotateKey).
            foreach (var deleted in await keys.DeleteExpiredKeysAsync(CancellationToken.None))
            {
                await RecordAsync("DeleteKey", deleted);
            }

            // A multi-Region primary whose last replica was deleted starts its own waiting period.
            await keys.StartPrimaryDeletionWindowsAsync(CancellationToken.None);

            foreach (var rotated in await keys.RotateDueKeysAsync(CancellationToken.None))
            {
                await RecordAsync("RotateKey", rotated);
            }

            // Replicas that were Creating and keys that were Updating after UpdatePrimaryRegion take their settled state.
            await keys.SettleTransientStatesAsync(CancellationToken.None);

            // Imported material whose ValidTo passed is deleted (AWS records DeleteExpiredKeyMaterial); expired
            // import parameters lose their wrapping key pairs.
            foreach (var expired in imports is null ? [] : await imports.ExpireAsync(CancellationToken.None))
            {
                await RecordAsync("DeleteExpiredKeyMaterial", expired);
            }

            // The store's change feed keeps its newest entries only.
            if (sync is not null)
            {
                await sync.PruneAsync(CancellationToken.None);
            }
        }
        catch (Exception e)
        {
            LogSweepFailed(e);
        }
        finally
        {
            _gate.Release();
        }
    }

    private ValueTask RecordAsync(string eventName, KeyRecord key) =>
        audit?.RecordAsync(ServiceEvents.OnKey(eventName, key, clock.GetUtcNow())) ?? ValueTask.CompletedTask;

    [LoggerMessage(Level = LogLevel.Error, Message = "The key lifecycle sweep (deletion, automatic rotation) failed; it runs again at the next interval")]
    private partial void LogSweepFailed(Exception exception);
}
