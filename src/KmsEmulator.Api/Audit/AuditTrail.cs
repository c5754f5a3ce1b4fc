using System.Threading.Channels;
using KmsEmulator.Api.Keys;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KmsEmulator.Api.Audit;

/// <summary>
/// Where the endpoint hands each request's <see cref="AuditEvent"/>: notes key uses for GetKeyLastUsage at once and
/// queues the event for <see cref="AuditDelivery"/>, which writes it off the request path. The queue is bounded: when
/// delivery falls behind, requests wait for room instead of records being dropped.
/// </summary>
public sealed partial class AuditTrail
{
    private readonly Channel<AuditItem> _queue;
    private readonly KeyUsageTracker _usage;
    private readonly ILogger<AuditTrail> _logger;

    // Wakes delivery while it gathers records for a commit (see WakeTask): once the queued count reaches the mark
    // delivery set (ArmWake), and at once for a flush, a clear, a stop or a full queue. Without it delivery would wake
    // for every record, which costs a thread-pool hop and a context switch per request.
    private TaskCompletionSource _wake = NewWake();
    private long _queued;
    private long _wakeAt = long.MaxValue;
    private long _urgent;

    public AuditTrail(IOptions<AuditOptions> options, KeyUsageTracker usage, ILogger<AuditTrail> logger)
    {
        Enabled = options.Value.Enabled;
        _usage = usage;
        _logger = logger;
        QueueCapacity = Math.Max(1, options.Value.QueueCapacity);
        _queue = Channel.CreateBounded<AuditItem>(new BoundedChannelOptions(QueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });
    }

    public bool Enabled { get; }

    /// <summary>How many records the queue holds at most.</summary>
    public int QueueCapacity { get; }

    /// <summary>Whether delivery runs and how its last commit went (for health and metrics).</summary>
    public AuditDeliveryStatus Delivery { get; } = new();

    /// <summary>Records waiting to be written (for health and metrics).</summary>
    public int QueueDepth => _queue.Reader.CanCount ? _queue.Reader.Count : 0;

    internal ChannelReader<AuditItem> Reader => _queue.Reader;

    /// <summary>
    /// Completes when delivery, gathering records for a commit, should look at the queue before its commit time: the
    /// count of queued records reached the mark of <see cref="ArmWake"/>, or a flush, a clear, a stop or a full queue
    /// came.
    /// </summary>
    internal Task WakeTask => Volatile.Read(ref _wake).Task;

    /// <summary>How many records were ever queued (events only; delivery compares it with how many it took).</summary>
    internal long Queued => Volatile.Read(ref _queued);

    /// <summary>How many times something that must not wait for the commit time came: a flush, a clear, a stop, a full queue.</summary>
    internal long Urgent => Volatile.Read(ref _urgent);

    /// <summary>
    /// Delivery is about to look at the queue: a used wake is replaced (a wake after the look lands on the new one),
    /// and the next one comes when <see cref="Queued"/> reaches <paramref name="queuedMark"/>.
    /// </summary>
    internal void ArmWake(long queuedMark)
    {
        if (Volatile.Read(ref _wake).Task.IsCompleted)
        {
            Volatile.Write(ref _wake, NewWake());
        }

        Volatile.Write(ref _wakeAt, queuedMark);
    }

    /// <summary>Records one request; waits only when the queue is full.</summary>
    public ValueTask RecordAsync(AuditEvent auditEvent)
    {
        if (!auditEvent.Failed)
        {
            foreach (var keyArn in auditEvent.UsedKeyArns)
            {
                _usage.Record(keyArn, UsageOf(auditEvent));
            }
        }

        if (!Enabled)
        {
            return ValueTask.CompletedTask;
        }

        var item = new AuditItem(auditEvent, null);
        if (!_queue.Writer.TryWrite(item))
        {
            WakeUrgently();
            return WaitForRoomAsync(item);
        }

        if (Interlocked.Increment(ref _queued) >= Volatile.Read(ref _wakeAt))
        {
            Wake();
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Completes when every event recorded before the call is in a delivered log file and in the index (tests, and
    /// anyone who wants the trail complete now rather than after the flush interval).
    /// </summary>
    public Task FlushAsync()
    {
        if (!Enabled)
        {
            return Task.CompletedTask;
        }

        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var queued = _queue.Writer.TryWrite(new AuditItem(null, done));
        WakeUrgently();
        return queued ? done.Task : FlushWhenRoomAsync(done);
    }

    /// <summary>
    /// Clears the trail (the emulator's reset, on request): every event recorded before the call is delivered, then
    /// the log files and digests are deleted, the LookupEvents index and the key uses are emptied, and the digest
    /// chains start again. Completes when that is done.
    /// </summary>
    public async Task ClearAsync()
    {
        if (!Enabled)
        {
            return;
        }

        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var write = _queue.Writer.WriteAsync(new AuditItem(null, done, Clear: true));
        WakeUrgently();
        await write.ConfigureAwait(false);
        WakeUrgently();
        await done.Task.ConfigureAwait(false);
    }

    /// <summary>Forgets the key uses not yet in the index (they were cleared with it).</summary>
    internal void ClearUsage() => _usage.Clear();

    /// <summary>The use an event stands for, as GetKeyLastUsage reports it.</summary>
    public static KeyUsage UsageOf(AuditEvent auditEvent) =>
        new(auditEvent.EventName, auditEvent.EventTime, auditEvent.EventId.ToString(), auditEvent.RequestId);

    /// <summary>No more events: delivery drains the queue and stops.</summary>
    internal void Complete()
    {
        _queue.Writer.TryComplete();
        WakeUrgently();
    }

    /// <summary>The history now holds this use of the key: the tracker may drop it unless a newer one came.</summary>
    internal void Persisted(string keyArn, AuditEvent auditEvent) => _usage.Persisted(keyArn, UsageOf(auditEvent));

    private static TaskCompletionSource NewWake() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private void Wake() => Volatile.Read(ref _wake).TrySetResult();

    /// <summary>Counted first, then woken: delivery arms its wake before it reads the count, so it cannot miss both.</summary>
    private void WakeUrgently()
    {
        Interlocked.Increment(ref _urgent);
        Wake();
    }

    private async ValueTask WaitForRoomAsync(AuditItem item)
    {
        try
        {
            await _queue.Writer.WriteAsync(item).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            LogAfterShutdown(item.Event!.EventName, item.Event.RequestId);
        }
    }

    private async Task FlushWhenRoomAsync(TaskCompletionSource done)
    {
        try
        {
            await _queue.Writer.WriteAsync(new AuditItem(null, done)).ConfigureAwait(false);
            WakeUrgently();
        }
        catch (ChannelClosedException)
        {
            done.TrySetResult(); // Delivery has stopped, and stopping delivers everything.
        }

        await done.Task.ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 20, Level = LogLevel.Warning, Message = "Audit: {Operation} request {RequestId} completed after the audit trail was closed; it is not recorded")]
    private partial void LogAfterShutdown(string operation, string requestId);
}

/// <summary>What the queue carries: an event, or a flush request that completes once everything before it is delivered.</summary>
internal readonly record struct AuditItem(AuditEvent? Event, TaskCompletionSource? Flushed, bool Clear = false);
