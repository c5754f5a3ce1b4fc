namespace KmsEmulator.Api.Hosting;

/// <summary>
/// The emulator's clock: the time source (<see cref="ClockSource"/>, the system clock unless a test supplies another)
/// plus an offset that only moves forward, so a user can fast-forward through deletion windows and rotation periods
/// instead of waiting. Everything that reads the time reads it here: key dates, deletion, the audit trail's
/// <c>eventTime</c>. Timers keep running on the source's time; moving the clock raises <see cref="Moved"/> so that
/// periodic work (the deletion sweep) runs at once for the new time.
/// </summary>
public sealed class EmulatorClock(ClockSource source, TimeSpan initialOffset) : TimeProvider
{
    private readonly TimeProvider _source = source.Clock;
    private long _offsetTicks = Math.Max(0, initialOffset.Ticks);

    /// <summary>Raised after the clock moved forward.</summary>
    public event Action? Moved;

    /// <summary>How far ahead of its source the clock is.</summary>
    public TimeSpan Offset => TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));

    public override DateTimeOffset GetUtcNow() => _source.GetUtcNow() + Offset;

    public override long GetTimestamp() => _source.GetTimestamp();

    public override long TimestampFrequency => _source.TimestampFrequency;

    public override TimeZoneInfo LocalTimeZone => _source.LocalTimeZone;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        _source.CreateTimer(callback, state, dueTime, period);

    /// <summary>Moves the clock forward by <paramref name="delta"/> (which must not be negative).</summary>
    public void Advance(TimeSpan delta)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delta, TimeSpan.Zero);
        Interlocked.Add(ref _offsetTicks, delta.Ticks);
        Moved?.Invoke();
    }
}

/// <summary>Where <see cref="EmulatorClock"/> takes the time from: the system clock, or a test's fake clock.</summary>
public sealed record ClockSource(TimeProvider Clock);
