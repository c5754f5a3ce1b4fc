using System.Diagnostics;
using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using KmsEmulator.Api.Pipeline;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KmsEmulator.Api.Audit;

/// <summary>
/// Writes the audit trail off the request path: takes events from <see cref="AuditTrail"/>, gathers them for up to
/// <see cref="AuditOptions.CommitInterval"/> (or <see cref="AuditOptions.CommitRecords"/>), then appends them to one
/// open log file per account and region (and to the JSON-lines sink) and adds them to the index in one commit (a
/// transaction's fixed cost is what a record costs under load when each commit holds a few), and delivers each
/// file under its CloudTrail name when it is <see cref="AuditOptions.FlushInterval"/> old or full. Stops after the
/// HTTP server has stopped (<see cref="StoppedAsync"/>), so the last requests are recorded, then delivers every open
/// file and lets the observers (digests) finish.
/// </summary>
public sealed partial class AuditDelivery(
    AuditTrail trail,
    IOptions<AuditOptions> options,
    AuditPaths paths,
    IEnumerable<IAuditFileObserver> observers,
    TimeProvider clock,
    ILogger<AuditDelivery> logger,
    IAuditIndex? index = null,
    TrailEncryption? encryption = null) : IHostedLifecycleService
{
    /// <summary>The most records taken from the queue before they are written (a commit may hold fewer).</summary>
    private const int BatchSize = 4096;

    private readonly AuditOptions _options = options.Value;
    private readonly Dictionary<(string Account, string Region), LogFile> _open = [];
    private readonly IAuditFileObserver[] _observers = [.. observers];
    private readonly List<AuditEvent> _pending = [];

    /// <summary>
    /// Records in the log files whose index append failed (a lost PostgreSQL, a full disk): each commit appends them
    /// first, and with nothing else to commit delivery tries again every <see cref="IndexRetryInterval"/>.
    /// </summary>
    private readonly List<IndexedEvent> _unindexed = [];

    /// <summary>The newest key use among the events of <see cref="_unindexed"/>, to tell the usage tracker once they are indexed.</summary>
    private readonly NewestUses<AuditEvent> _unindexedUses = new(static e => e.EventTime);

    private long _pendingSince;
    private JsonLinesSink? _jsonLines;
    private Task? _loop;

    /// <summary>How long delivery waits before it tries again to index records whose index append failed (real time).</summary>
    internal TimeSpan IndexRetryInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// While commits keep failing (the index's database gone, a full disk), how often the failure is logged again: the
    /// first failure is logged with its exception, then a reminder with the count at most this often, and the
    /// recovery once, rather than an error for every retry.
    /// </summary>
    internal TimeSpan FailureLogInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Failed commits since the last good one, and when the failure was last logged.</summary>
    private int _failuresInARow;
    private DateTimeOffset _failureLoggedAt;

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!trail.Enabled)
        {
            return;
        }

        paths.Create();
        if (encryption is { Enabled: true })
        {
            encryption.Validate();
        }

        _jsonLines = JsonLinesSink.Open(_options.JsonLines, paths.Root);
        await RecoverAsync(cancellationToken).ConfigureAwait(false);
        if (index is not null && _options.RetentionDays > 0)
        {
            await index.PruneAsync(clock.GetUtcNow().AddDays(-_options.RetentionDays), cancellationToken).ConfigureAwait(false);
        }

        trail.Delivery.Started(); // before the loop's first turn, so that health sees it running once start-up is done
        _loop = Task.Run(RunAsync, CancellationToken.None);
    }

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>After the server has stopped: drain the queue, deliver every file, let digests cover them.</summary>
    public async Task StoppedAsync(CancellationToken cancellationToken)
    {
        trail.Complete();
        if (_loop is { } loop)
        {
            await loop.ConfigureAwait(false);
            foreach (var observer in _observers)
            {
                await observer.CompleteAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }

        _jsonLines?.Dispose();
    }

    private async Task RunAsync()
    {
        try
        {
            await DeliverUntilCompletedAsync().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            trail.Delivery.Failed(e, clock.GetUtcNow());
            throw;
        }
        finally
        {
            trail.Delivery.Stopped();
        }
    }

    /// <summary>How many events this loop took from the queue (compared with <see cref="AuditTrail.Queued"/>).</summary>
    private long _taken;

    /// <summary><see cref="AuditTrail.Urgent"/> when this loop last read the queue.</summary>
    private long _urgentSeen;

    /// <summary>Whether the queue holds something to read, or has been completed.</summary>
    private static bool Readable(ChannelReader<AuditItem> reader) => reader.TryPeek(out _) || reader.Completion.IsCompleted;

    private async Task DeliverUntilCompletedAsync()
    {
        var reader = trail.Reader;
        var flushes = new List<TaskCompletionSource>();
        Task<bool>? waiting = null;
        Task? due = null;
        DateTimeOffset? dueAt = null;
        Task? commitDue = null;
        while (true)
        {
            try
            {
                waiting ??= reader.WaitToReadAsync().AsTask();
                if (_pending.Count > 0 && commitDue is null)
                {
                    var wait = _options.CommitInterval - Stopwatch.GetElapsedTime(_pendingSince);
                    commitDue = wait > TimeSpan.Zero ? Task.Delay(wait, TimeProvider.System) : Task.CompletedTask;
                }
                else if (_unindexed.Count > 0 && commitDue is null)
                {
                    // Nothing new, but records the index refused: a commit of nothing tries them again.
                    commitDue = Task.Delay(IndexRetryInterval, TimeProvider.System);
                }

                if (NextDeadline() is { } deadline && dueAt != deadline)
                {
                    var wait = deadline - clock.GetUtcNow();
                    due = wait > TimeSpan.Zero ? Task.Delay(wait, clock) : Task.CompletedTask;
                    dueAt = deadline;
                }
                else if (_open.Count == 0)
                {
                    due = null;
                    dueAt = null;
                }

                // While records gather for a commit, new records alone do not wake the loop (that would be once per
                // request): only the commit time, a delivery due, or the trail's wake (enough records, a flush, a
                // clear, a stop, a full queue).
                Task wake = waiting;
                if (commitDue is not null)
                {
                    // Arm first, then look: a wake that comes after the look lands on the armed task. The mark is the
                    // queued count at which the gathered and the queued records make CommitRecords; records alone do
                    // not wake the loop before it. `waiting` is not asked: it completes as soon as a record arrives.
                    var mark = _taken + Math.Max(1, Math.Clamp(_options.CommitRecords, 1, BatchSize) - _pending.Count);
                    trail.ArmWake(mark);
                    wake = trail.Queued >= mark || trail.Urgent != _urgentSeen ? Task.CompletedTask : trail.WakeTask;
                }

                if (!wake.IsCompleted && (commitDue is not null || due is not null))
                {
                    await Task.WhenAny(wake, commitDue ?? wake, due ?? wake).ConfigureAwait(false);
                    if (!wake.IsCompleted)
                    {
                        // A timer, not a record: write what has gathered, then deliver the files whose time has come.
                        commitDue = null;
                        await CommitAsync().ConfigureAwait(false);
                        await DeliverAsync(f => f.OpenedAt + _options.FlushInterval <= clock.GetUtcNow()).ConfigureAwait(false);
                        continue;
                    }

                    if (!Readable(reader))
                    {
                        continue; // Woken for records that the last read already took: gather on.
                    }
                }

                var more = await waiting.ConfigureAwait(false);
                waiting = null;
                if (!more)
                {
                    break;
                }

                _urgentSeen = trail.Urgent;
                TaskCompletionSource? clearing = null;
                while (_pending.Count < BatchSize && reader.TryRead(out var item))
                {
                    if (item.Event is { } auditEvent)
                    {
                        if (_pending.Count == 0)
                        {
                            _pendingSince = Stopwatch.GetTimestamp();
                        }

                        _pending.Add(auditEvent);
                        _taken++;
                    }
                    else if (item.Clear)
                    {
                        // Everything queued before the clear is written first; what comes after it is read next time.
                        clearing = item.Flushed;
                        break;
                    }
                    else if (item.Flushed is { } flushed)
                    {
                        flushes.Add(flushed);
                    }
                }

                if (clearing is not null)
                {
                    flushes.Add(clearing);
                    commitDue = null;
                    await CommitAsync().ConfigureAwait(false);
                    await DeliverAsync(_ => true).ConfigureAwait(false);
                    await ClearTrailAsync().ConfigureAwait(false);
                }

                if (flushes.Count > 0 || _pending.Count >= Math.Clamp(_options.CommitRecords, 1, BatchSize)
                    || Stopwatch.GetElapsedTime(_pendingSince) >= _options.CommitInterval)
                {
                    commitDue = null;
                    await CommitAsync().ConfigureAwait(false);
                }

                if (flushes.Count > 0)
                {
                    await DeliverAsync(_ => true).ConfigureAwait(false);
                    foreach (var flushed in flushes)
                    {
                        flushed.TrySetResult();
                    }

                    flushes.Clear();
                }
            }
            catch (Exception e)
            {
                // Never stop recording because one commit failed (a full disk, say); say so loudly and go on. Whoever
                // waits for a flush learns that it failed rather than waiting for ever.
                ReportFailure(e);
                waiting = null;
                commitDue = null;
                _pending.Clear();
                foreach (var flushed in flushes)
                {
                    flushed.TrySetException(e);
                }

                flushes.Clear();
            }
        }

        await CommitAsync().ConfigureAwait(false);
        await DeliverAsync(_ => true).ConfigureAwait(false);
    }

    /// <summary>
    /// Clears the delivered trail (every file is delivered by now): the digest writer ends its chains first, so that no
    /// digest written meanwhile lists a deleted file; then the log files and digests go, the index and the key uses are
    /// emptied. The JSON-lines copy, a stream for log shippers, is left alone.
    /// </summary>
    private async Task ClearTrailAsync()
    {
        foreach (var observer in _observers)
        {
            await observer.ClearedAsync(CancellationToken.None).ConfigureAwait(false);
        }

        var logs = Path.Combine(paths.Root, LogFile.LogsFolder);
        if (Directory.Exists(logs))
        {
            Directory.Delete(logs, recursive: true);
        }

        if (index is not null)
        {
            await index.ClearAsync(clock.GetUtcNow(), CancellationToken.None).ConfigureAwait(false);
        }

        _unindexed.Clear();
        _unindexedUses.Clear();

        trail.ClearUsage();
        LogCleared();
    }

    private DateTimeOffset? NextDeadline()
    {
        DateTimeOffset? first = null;
        foreach (var file in _open.Values)
        {
            var deadline = file.OpenedAt + _options.FlushInterval;
            if (first is null || deadline < first)
            {
                first = deadline;
            }
        }

        return first;
    }

    /// <summary>
    /// Writes the gathered records: appended to their log files (flushed to the operating system as a readable gzip
    /// prefix), then added to the index in one transaction with those an earlier commit could not index, then delivers
    /// the files that are full or old enough. A failed index append is thrown after the delivery, and its records are
    /// kept for the next commit.
    /// </summary>
    private async Task CommitAsync()
    {
        if (_pending.Count == 0 && _unindexed.Count == 0)
        {
            return;
        }

        foreach (var auditEvent in _pending)
        {
            var row = Append(auditEvent, auditEvent.RecipientAccountId, callerCopy: false);
            _unindexed.Add(row);
            // The newest use of each key: the only one the usage tracker can still hold from these records.
            foreach (var keyArn in row.UsedKeyArns)
            {
                _unindexedUses.Note(keyArn, auditEvent);
            }

            if (auditEvent.SharedEventId is not null)
            {
                _unindexed.Add(Append(auditEvent, auditEvent.Caller.AccountId, callerCopy: true));
            }
        }

        _pending.Clear();
        foreach (var file in _open.Values)
        {
            file.Flush();
        }

        _jsonLines?.Flush();
        ExceptionDispatchInfo? refused = null;
        try
        {
            if (index is not null)
            {
                await IndexAsync(index).ConfigureAwait(false);
            }

            _unindexed.Clear();
            _unindexedUses.Clear();
        }
        catch (Exception e)
        {
            // The log files are the record: they are delivered on time even while the index refuses their records.
            refused = ExceptionDispatchInfo.Capture(e);
        }

        await DeliverAsync(f => f.Count >= _options.MaxRecordsPerFile || f.OpenedAt + _options.FlushInterval <= clock.GetUtcNow()).ConfigureAwait(false);
        refused?.Throw();
        trail.Delivery.Succeeded();
        if (_failuresInARow > 0)
        {
            LogDeliveryRecovered(_failuresInARow);
            _failuresInARow = 0;
        }
    }

    private void ReportFailure(Exception e)
    {
        var now = clock.GetUtcNow();
        trail.Delivery.Failed(e, now);
        _failuresInARow++;
        if (_failuresInARow == 1)
        {
            LogDeliveryFailed(e);
            _failureLoggedAt = now;
        }
        else if (now - _failureLoggedAt >= FailureLogInterval)
        {
            LogDeliveryStillFailing(_failuresInARow, e.GetType().Name, e.Message);
            _failureLoggedAt = now;
        }
    }

    /// <summary>
    /// Adds the records not yet indexed to the index in one transaction. When that fails they are kept for the next try,
    /// up to <see cref="AuditOptions.QueueCapacity"/> of them: beyond that the oldest are given up (they stay in the log
    /// files; LookupEvents will not list them) rather than let an index that stays down fill the memory.
    /// </summary>
    private async Task IndexAsync(IAuditIndex index)
    {
        try
        {
            await index.AppendAsync(_unindexed, CancellationToken.None).ConfigureAwait(false);
        }
        catch
        {
            var excess = _unindexed.Count - Math.Max(1, _options.QueueCapacity);
            if (excess > 0)
            {
                _unindexed.RemoveRange(0, excess);
                LogUnindexedDropped(excess);
            }

            throw;
        }

        foreach (var (keyArn, auditEvent) in _unindexedUses.Result)
        {
            trail.Persisted(keyArn, auditEvent);
        }
    }

    private IndexedEvent Append(AuditEvent auditEvent, string accountId, bool callerCopy)
    {
        var key = (accountId, auditEvent.Region);
        if (!_open.TryGetValue(key, out var file))
        {
            _open[key] = file = LogFile.Open(paths.Root, accountId, auditEvent.Region, clock.GetUtcNow());
        }

        var record = CloudTrailRecord.Utf8(auditEvent, callerCopy);
        var slice = file.Append(record, auditEvent.EventTime);
        _jsonLines?.Write(record);
        var ownerCopy = !callerCopy;
        return new IndexedEvent(
            callerCopy ? auditEvent.CallerCopyEventId ?? auditEvent.EventId : auditEvent.EventId,
            accountId,
            auditEvent.Region,
            auditEvent.EventTime,
            auditEvent.EventName,
            CloudTrailRecord.EventSource,
            auditEvent.ReadOnly,
            auditEvent.Caller.AccessKeyId,
            CloudTrailRecord.UserNameOf(auditEvent.Caller),
            ArnsOf(auditEvent.Resources),
            ownerCopy && !auditEvent.Failed ? auditEvent.UsedKeyArns : [],
            auditEvent.RequestId,
            slice);
    }

    private static string[] ArnsOf(IReadOnlyList<AuditResource> resources)
    {
        var arns = new string[resources.Count];
        for (var i = 0; i < arns.Length; i++)
        {
            arns[i] = resources[i].Arn;
        }

        return arns;
    }

    private async Task DeliverAsync(Func<LogFile, bool> which)
    {
        foreach (var (key, file) in _open.Where(f => which(f.Value)).ToList())
        {
            _open.Remove(key);
            await DeliverAsync(file, CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Finishes a log file and moves it to its CloudTrail name, stored as it is or, with encryption at rest, as an
    /// envelope (whose own bytes digests then hash). Observers learn of it once it is in place.
    /// </summary>
    private async Task DeliverAsync(LogFile file, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        byte[] hash;
        using (file)
        {
            hash = file.Finish();
        }

        var relative = LogFile.ObjectKey(file.AccountId, file.Region, now);
        var target = Path.Combine(paths.Root, relative.Replace('/', Path.DirectorySeparatorChar));
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        if (encryption is { Enabled: true })
        {
            var stored = await encryption.ProtectAsync(await File.ReadAllBytesAsync(file.PartialPath, cancellationToken).ConfigureAwait(false),
                file.AccountId, file.Region, cancellationToken).ConfigureAwait(false);
            var sealedPath = file.PartialPath + ".sealed";
            await File.WriteAllBytesAsync(sealedPath, stored, cancellationToken).ConfigureAwait(false);
            File.Move(sealedPath, target);
            File.Delete(file.PartialPath);
            hash = System.Security.Cryptography.SHA256.HashData(stored);
        }
        else
        {
            File.Move(file.PartialPath, target);
        }

        var delivered = new DeliveredLogFile(file.AccountId, file.Region, relative, hash, file.Oldest, file.Newest, now);
        foreach (var observer in _observers)
        {
            await observer.DeliveredAsync(delivered, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Delivers what files a crash left under <c>.partial/</c> (their records are already in the index).</summary>
    private async Task RecoverAsync(CancellationToken cancellationToken)
    {
        var folder = Path.Combine(paths.Root, LogFile.PartialFolder);
        if (!Directory.Exists(folder))
        {
            return;
        }

        foreach (var partial in Directory.GetFiles(folder))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (LogFile.Recover(partial) is not { } recovered)
            {
                continue;
            }

            if (recovered.Records.Count > 0)
            {
                var now = clock.GetUtcNow();
                var file = LogFile.Open(paths.Root, recovered.AccountId, recovered.Region, now);
                foreach (var record in recovered.Records)
                {
                    file.Append(record, EventTimeOf(record) ?? now);
                }

                await DeliverAsync(file, cancellationToken).ConfigureAwait(false);
            }

            LogRecovered(partial, recovered.Records.Count);
            File.Delete(partial);
        }
    }

    private static DateTimeOffset? EventTimeOf(byte[] record)
    {
        using var document = System.Text.Json.JsonDocument.Parse(record);
        return document.RootElement.TryGetProperty("eventTime", out var time) && time.TryGetDateTimeOffset(out var value) ? value : null;
    }

    [LoggerMessage(EventId = 21, Level = LogLevel.Error, Message = "Audit: writing a batch of records failed; delivery goes on")]
    private partial void LogDeliveryFailed(Exception exception);

    [LoggerMessage(EventId = 25, Level = LogLevel.Error, Message = "Audit: writing records still fails after {Count} attempts in a row: {ErrorType}: {ErrorMessage}")]
    private partial void LogDeliveryStillFailing(int count, string errorType, string errorMessage);

    [LoggerMessage(EventId = 26, Level = LogLevel.Information, Message = "Audit: writing records works again after {Count} failed attempts in a row")]
    private partial void LogDeliveryRecovered(int count);

    [LoggerMessage(EventId = 24, Level = LogLevel.Error, Message = "Audit: the LookupEvents index refused records for too long; {Count} records are in the log files but will not be found by LookupEvents")]
    private partial void LogUnindexedDropped(int count);

    [LoggerMessage(EventId = 23, Level = LogLevel.Warning, Message = "Audit: the trail was cleared (log files, digests, LookupEvents index and key uses) by an emulator reset")]
    private partial void LogCleared();

    [LoggerMessage(EventId = 22, Level = LogLevel.Warning, Message = "Audit: recovered {Count} records from {Path}, left by an unclean stop")]
    private partial void LogRecovered(string path, int count);
}
