using KmsEmulator.Api.Pipeline;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KmsEmulator.Api.Audit;

/// <summary>
/// Writes the audit trail off the request path: takes events from <see cref="AuditTrail"/> in batches, appends them to
/// one open log file per account and region (and to the JSON-lines sink), adds them to the index, and delivers each
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
    private const int BatchSize = 1024;

    private readonly AuditOptions _options = options.Value;
    private readonly Dictionary<(string Account, string Region), LogFile> _open = [];
    private readonly IAuditFileObserver[] _observers = [.. observers];
    private JsonLinesSink? _jsonLines;
    private Task? _loop;

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
        var reader = trail.Reader;
        var batch = new List<AuditItem>(BatchSize);
        Task<bool>? waiting = null;
        Task? due = null;
        DateTimeOffset? dueAt = null;
        while (true)
        {
            try
            {
                waiting ??= reader.WaitToReadAsync().AsTask();
                if (NextDeadline() is { } deadline)
                {
                    if (dueAt != deadline)
                    {
                        var wait = deadline - clock.GetUtcNow();
                        due = wait > TimeSpan.Zero ? Task.Delay(wait, clock) : Task.CompletedTask;
                        dueAt = deadline;
                    }

                    if (await Task.WhenAny(waiting, due!).ConfigureAwait(false) != waiting)
                    {
                        await DeliverAsync(f => f.OpenedAt + _options.FlushInterval <= clock.GetUtcNow()).ConfigureAwait(false);
                        continue;
                    }
                }

                var more = await waiting.ConfigureAwait(false);
                waiting = null;
                if (!more)
                {
                    break;
                }

                batch.Clear();
                while (batch.Count < BatchSize && reader.TryRead(out var item))
                {
                    batch.Add(item);
                }

                await WriteBatchAsync(batch).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                // Never stop recording because one batch failed (a full disk, say); say so loudly and go on. Whoever
                // waits for a flush in that batch learns that it failed rather than waiting for ever.
                LogDeliveryFailed(e);
                waiting = null;
                foreach (var item in batch)
                {
                    item.Flushed?.TrySetException(e);
                }

                batch.Clear();
            }
        }

        await DeliverAsync(_ => true).ConfigureAwait(false);
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

    private async Task WriteBatchAsync(List<AuditItem> batch)
    {
        var indexed = new List<IndexedEvent>(batch.Count);
        var used = new List<(IndexedEvent Row, AuditEvent Event)>();
        foreach (var item in batch)
        {
            if (item.Event is not { } auditEvent)
            {
                continue;
            }

            var row = Append(auditEvent, auditEvent.RecipientAccountId, callerCopy: false);
            indexed.Add(row);
            if (row.UsedKeyArns.Count > 0)
            {
                used.Add((row, auditEvent));
            }

            if (auditEvent.SharedEventId is not null)
            {
                indexed.Add(Append(auditEvent, auditEvent.Caller.AccountId, callerCopy: true));
            }
        }

        foreach (var file in _open.Values)
        {
            file.Flush();
        }

        _jsonLines?.Flush();
        if (index is not null && indexed.Count > 0)
        {
            await index.AppendAsync(indexed, CancellationToken.None).ConfigureAwait(false);
            foreach (var (row, auditEvent) in used)
            {
                trail.Persisted(row, auditEvent);
            }
        }

        await DeliverAsync(f => f.Count >= _options.MaxRecordsPerFile || f.OpenedAt + _options.FlushInterval <= clock.GetUtcNow()).ConfigureAwait(false);
        if (batch.Any(item => item.Flushed is not null))
        {
            await DeliverAsync(_ => true).ConfigureAwait(false);
            foreach (var item in batch)
            {
                item.Flushed?.TrySetResult();
            }
        }
    }

    private IndexedEvent Append(AuditEvent auditEvent, string accountId, bool callerCopy)
    {
        var record = CloudTrailRecord.ToUtf8(auditEvent, callerCopy);
        var key = (accountId, auditEvent.Region);
        if (!_open.TryGetValue(key, out var file))
        {
            _open[key] = file = LogFile.Open(paths.Root, accountId, auditEvent.Region, clock.GetUtcNow());
        }

        file.Append(record, auditEvent.EventTime);
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
            [.. auditEvent.Resources.Select(r => r.Arn)],
            ownerCopy && !auditEvent.Failed ? auditEvent.UsedKeyArns : [],
            auditEvent.RequestId,
            record);
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

    [LoggerMessage(EventId = 22, Level = LogLevel.Warning, Message = "Audit: recovered {Count} records from {Path}, left by an unclean stop")]
    private partial void LogRecovered(string path, int count);
}
