using KmsEmulator.Api.Keys;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KmsEmulator.Api.Hosting;

/// <summary>
/// Removes keys whose deletion waiting period has ended, on a timer of the injected clock. Callers stop seeing such
/// keys at the deletion date already (<see cref="KeyLifecycle"/>); the sweep frees their material and rows.
/// </summary>
public sealed partial class DeletionSweeper(KeyLifecycleService keys, TimeProvider clock, IOptions<KmsOptions> options, ILogger<DeletionSweeper> logger)
    : IHostedService, IDisposable
{
    private ITimer? _timer;
    private int _running;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var interval = options.Value.DeletionSweepInterval;
        _timer = clock.CreateTimer(_ => _ = SweepAsync(), null, interval, interval);
        if (clock is EmulatorClock movable)
        {
            movable.Moved += OnClockMoved;
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _timer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        if (clock is EmulatorClock movable)
        {
            movable.Moved -= OnClockMoved;
        }

        return Task.CompletedTask;
    }

    public void Dispose() => _timer?.Dispose();

    /// <summary>After the clock was moved forward, keys whose window ended meanwhile go now, not at the next tick.</summary>
    private void OnClockMoved() => _ = SweepAsync();

    private async Task SweepAsync()
    {
        if (Interlocked.Exchange(ref _running, 1) == 1)
        {
            return;
        }

        try
        {
            await keys.DeleteExpiredKeysAsync(CancellationToken.None);
        }
        catch (Exception e)
        {
            LogSweepFailed(e);
        }
        finally
        {
            Volatile.Write(ref _running, 0);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "The key deletion sweep failed; it runs again at the next interval")]
    private partial void LogSweepFailed(Exception exception);
}
