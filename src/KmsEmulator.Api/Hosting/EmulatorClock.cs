namespace KmsEmulator.Api.Hosting;

/// <summary>
/// The emulator's clock: the time source (<see cref="ClockSource"/>, the system clock unless a test supplies another)
/// plus an offset that only moves forward, so a user can fast-forward through deletion windows and rotation periods
/// instead of waiting. Everything that reads the time reads it here: key dates, deletion, the audit trail's
/// <c>eventTime</c>. Timers keep running on the source's time; moving the clock runs the listeners registered with
/// <see cref="OnMoved"/> (the lifecycle sweep: deletions and automatic rotations now due) before the move completes.
/// </summary>
public sealed class EmulatorClock(ClockSource source, TimeSpan initialOffset) : TimeProvider
{
    private readonly TimeProvider _source = source.Clock;
    private long _offsetTicks = Math.Max(0, initialOffset.Ticks);

    private readonly List<Func<Task>> _listeners = [];

    /// <summary>How far ahead of its source the clock is.</summary>
    public TimeSpan Offset => TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));

    public override DateTimeOffset GetUtcNow() => _source.GetUtcNow() + Offset;

    public override long GetTimestamp() => _source.GetTimestamp();

    public override long TimestampFrequency => _source.TimestampFrequency;

    public override TimeZoneInfo LocalTimeZone => _source.LocalTimeZone;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        _source.CreateTimer(callback, state, dueTime, period);

    /// <summary>Runs <paramref name="listener"/> after every move; dispose the result to stop.</summary>
    public IDisposable OnMoved(Func<Task> listener)
    {
        lock (_listeners)
        {
            _listeners.Add(listener);
        }

        return new Subscription(() =>
        {
            lock (_listeners)
            {
                _listeners.Remove(listener);
            }
        });
    }

    /// <summary>
    /// Moves the clock forward by <paramref name="delta"/> (which must not be negative) and completes once the
    /// listeners have done what the new time calls for.
    /// </summary>
    public async Task AdvanceAsync(TimeSpan delta)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delta, TimeSpan.Zero);
        Interlocked.Add(ref _offsetTicks, delta.Ticks);
        Func<Task>[] listeners;
        lock (_listeners)
        {
            listeners = [.. _listeners];
        }

        foreach (var listener in listeners)
        {
            await listener();
        }
    }

    private sealed class Subscription(Action dispose) : IDisposable
    {
        public void Dispose() => dispose();
    }
}

/// <summary>Where <see cref="EmulatorClock"/> takes the time from: the system clock, or a test's fake clock.</summary>
public sealed record ClockSource(TimeProvider Clock);
