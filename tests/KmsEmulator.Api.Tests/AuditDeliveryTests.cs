using System.Collections.Concurrent;
using System.IO.Compression;
using System.Text.Json.Nodes;
using KmsEmulator.Api.Audit;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Pipeline;
using KmsEmulator.Policy;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// Audit delivery on its own, with the fake clock and an in-memory index: files are delivered when their interval ends
/// on the injected clock (never on wall time), a full queue makes callers wait instead of dropping records, and what a
/// crash leaves under <c>.partial/</c> is recovered.
/// </summary>
public sealed class AuditDeliveryTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.FromUnixTimeSeconds(1_800_000_000));
    private readonly string _root = Path.Combine(Path.GetTempPath(), "kmsemu-audit-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly MemoryIndex _index = new();
    private readonly Observer _observer = new();

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Fact]
    public async Task A_log_file_is_delivered_when_its_interval_ends_on_the_injected_clock()
    {
        var (trail, delivery) = Build(new AuditOptions { FlushInterval = TimeSpan.FromSeconds(5) });
        await delivery.StartAsync(CancellationToken.None);

        await trail.RecordAsync(Event("Encrypt"));
        await trail.RecordAsync(Event("Decrypt"));
        await _index.WaitForAsync(2);
        Assert.Empty(_observer.Delivered);

        _clock.Advance(TimeSpan.FromSeconds(5));
        var delivered = await _observer.Next.Task.WaitAsync(Bound);

        Assert.StartsWith("AWSLogs/111122223333/CloudTrail/us-east-1/2027/01/15/111122223333_CloudTrail_us-east-1_20270115T0800Z_", delivered.RelativePath, StringComparison.Ordinal);
        var records = ReadRecords(Path.Combine(_root, delivered.RelativePath));
        Assert.Equal(["Encrypt", "Decrypt"], records.Select(r => (string?)r["eventName"]));
        Assert.Equal(System.Security.Cryptography.SHA256.HashData(Gunzip(Path.Combine(_root, delivered.RelativePath))), delivered.Sha256);
        await delivery.StoppedAsync(CancellationToken.None);
        Assert.True(_observer.Completed);
    }

    [Fact]
    public async Task Records_are_written_in_one_commit_once_enough_have_gathered_or_a_flush_asks()
    {
        var (trail, delivery) = Build(new AuditOptions { CommitInterval = TimeSpan.FromHours(1), CommitRecords = 3 });
        await delivery.StartAsync(CancellationToken.None);

        // The first record is taken from the queue before the next two come: the three together must still make a
        // commit without waiting for the commit time.
        await trail.RecordAsync(Event("Encrypt"));
        await UntilAsync(() => trail.QueueDepth == 0);
        await trail.RecordAsync(Event("Decrypt"));
        await trail.RecordAsync(Event("GenerateDataKey"));

        await _index.WaitForAsync(3);
        await trail.RecordAsync(Event("Sign"));
        await trail.FlushAsync().WaitAsync(Bound);
        await delivery.StoppedAsync(CancellationToken.None);

        Assert.Equal([3, 1], _index.Commits);
        Assert.Equal(["Encrypt", "Decrypt", "GenerateDataKey", "Sign"], _index.Events.Select(e => e.EventName));
    }

    [Fact]
    public async Task Clearing_delivers_what_came_before_then_deletes_the_files_and_empties_the_index_and_the_observers()
    {
        var (trail, delivery) = Build(new AuditOptions());
        await delivery.StartAsync(CancellationToken.None);
        await trail.RecordAsync(Event("Encrypt"));
        await trail.FlushAsync().WaitAsync(Bound);
        var before = Assert.Single(_observer.Delivered);
        Assert.True(File.Exists(Path.Combine(_root, before.RelativePath)));

        await trail.ClearAsync().WaitAsync(Bound);
        await trail.RecordAsync(Event("Decrypt"));
        await trail.FlushAsync().WaitAsync(Bound);
        await delivery.StoppedAsync(CancellationToken.None);

        Assert.False(File.Exists(Path.Combine(_root, before.RelativePath)), "the file delivered before the clear is gone");
        Assert.Equal(1, _observer.Cleared);
        Assert.Equal(_clock.GetUtcNow(), _index.ClearedAt);
        Assert.Equal(["Decrypt"], _index.Events.Select(e => e.EventName));
        var after = _observer.Delivered.Last();
        Assert.Equal(["Decrypt"], ReadRecords(Path.Combine(_root, after.RelativePath)).Select(r => (string?)r["eventName"]));
        Assert.Single(Directory.GetFiles(Path.Combine(_root, "AWSLogs"), "*.json.gz", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task A_full_queue_makes_the_caller_wait_rather_than_drop_a_record()
    {
        var (trail, delivery) = Build(new AuditOptions { QueueCapacity = 1 });

        var first = trail.RecordAsync(Event("Encrypt"));
        var second = trail.RecordAsync(Event("Decrypt"));
        Assert.True(first.IsCompleted);
        Assert.False(second.IsCompleted);

        await delivery.StartAsync(CancellationToken.None);
        await second.AsTask().WaitAsync(Bound);
        await delivery.StoppedAsync(CancellationToken.None);

        Assert.Equal(["Encrypt", "Decrypt"], _index.Events.Select(e => e.EventName));
        Assert.Equal(2, _observer.Delivered.Sum(f => ReadRecords(Path.Combine(_root, f.RelativePath)).Count));
    }

    [Fact]
    public async Task While_records_gather_for_a_commit_a_full_queue_still_gets_room_before_the_commit_time()
    {
        // Gathering, delivery does not look at the queue for every record; a writer that finds it full wakes it.
        var (trail, delivery) = Build(new AuditOptions { QueueCapacity = 2, CommitInterval = TimeSpan.FromHours(1), CommitRecords = 1_000 });
        await delivery.StartAsync(CancellationToken.None);
        var names = Enumerable.Range(0, 12).Select(i => $"Op{i}").ToList();
        foreach (var name in names)
        {
            await trail.RecordAsync(Event(name)).AsTask().WaitAsync(Bound);
        }

        Assert.Empty(_index.Events);
        await trail.FlushAsync().WaitAsync(Bound);
        await delivery.StoppedAsync(CancellationToken.None);

        Assert.Equal(names, _index.Events.Select(e => e.EventName));
    }

    [Fact]
    public async Task Records_a_crash_left_in_a_partial_file_are_delivered_at_the_next_start()
    {
        // A file as a crash leaves it: three records flushed, no closing bracket, no gzip trailer.
        var crashed = Path.Combine(_root, LogFile.PartialFolder, "111122223333_us-east-1_0123456789abcdef0123456789abcdef.json.gz");
        using (var file = LogFile.Open(_root, "111122223333", "us-east-1", _clock.GetUtcNow()))
        {
            foreach (var name in new[] { "Encrypt", "Decrypt", "Sign" })
            {
                file.Append(CloudTrailRecord.ToUtf8(Event(name)), _clock.GetUtcNow());
            }

            file.Flush();
            File.Copy(file.PartialPath, crashed);
        }

        foreach (var leftover in Directory.GetFiles(Path.Combine(_root, LogFile.PartialFolder)).Where(f => f != crashed))
        {
            File.Delete(leftover);
        }

        var (_, delivery) = Build(new AuditOptions());
        await delivery.StartAsync(CancellationToken.None);
        await delivery.StoppedAsync(CancellationToken.None);

        var delivered = Assert.Single(_observer.Delivered);
        Assert.Equal(["Encrypt", "Decrypt", "Sign"], ReadRecords(Path.Combine(_root, delivered.RelativePath)).Select(r => (string?)r["eventName"]));
        Assert.False(File.Exists(crashed));
    }

    /// <summary>
    /// A log file is one gzip member framed by hand around the record groups the index stores: any gzip reader decodes
    /// it (CRC-32 and size checked), and each record's slice, inflated from its group alone, is the record.
    /// </summary>
    [Fact]
    public void A_log_file_is_standard_gzip_and_each_record_comes_back_from_its_group_alone()
    {
        var records = Enumerable.Range(0, 150)
            .Select(i => System.Text.Encoding.UTF8.GetBytes($$"""{"n":{{i}},"pad":"{{new string((char)('a' + i % 26), i % 97)}}"}"""))
            .ToList();
        var slices = new List<RecordSlice>();
        byte[] hash;
        string path;
        using (var file = LogFile.Open(_root, "111122223333", "us-east-1", _clock.GetUtcNow()))
        {
            path = file.PartialPath;
            for (var i = 0; i < records.Count; i++)
            {
                slices.Add(file.Append(records[i], _clock.GetUtcNow()));
                if (i % 45 == 44)
                {
                    file.Flush(); // a commit: its last group is sealed short
                }
            }

            hash = file.Finish();
        }

        var content = Gunzip(path);
        var expected = "{\"Records\":[\n"u8.ToArray()
            .Concat(records.SelectMany((r, i) => (i == 0 ? [] : ",\n"u8.ToArray()).Concat(r)))
            .Concat("\n]}\n"u8.ToArray())
            .ToArray();
        Assert.Equal(expected, content);
        Assert.Equal(System.Security.Cryptography.SHA256.HashData(content), hash);
        var stored = File.ReadAllBytes(path);
        Assert.Equal(System.IO.Hashing.Crc32.Hash(content), stored[^8..^4]);
        Assert.Equal(BitConverter.GetBytes((uint)content.Length), stored[^4..]);
        Assert.Equal(records, slices.Select(s => s.ToArray()));
        Assert.True(slices.Select(s => s.Group).Distinct().Count() >= 150 / RecordPacker.RecordsPerGroup);
    }

    [Fact]
    public void Recovery_keeps_only_complete_records()
    {
        var path = Path.Combine(_root, "111122223333_us-east-1_x.json.gz");
        Directory.CreateDirectory(_root);
        using (var gzip = new GZipStream(File.Create(path), CompressionLevel.Fastest))
        {
            gzip.Write("{\"Records\":[\n{\"eventName\":\"Encrypt\"},\n{\"eventName\":\"Decr"u8);
        }

        var recovered = LogFile.Recover(path);

        Assert.NotNull(recovered);
        Assert.Equal("111122223333", recovered.Value.AccountId);
        Assert.Equal("us-east-1", recovered.Value.Region);
        Assert.Equal("{\"eventName\":\"Encrypt\"}", System.Text.Encoding.UTF8.GetString(Assert.Single(recovered.Value.Records)));
    }

    /// <summary>
    /// An index that refuses appends (PostgreSQL gone, a full disk) does not lose records: the log file is still
    /// delivered when its time comes, and once the index works again delivery indexes them on its own, with no new
    /// record or flush to prompt it, and is healthy again.
    /// </summary>
    [Fact]
    public async Task Records_the_index_refused_are_indexed_on_their_own_once_it_works_again_and_their_file_is_delivered_meanwhile()
    {
        const string KeyArn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        var usage = new KeyUsageTracker(_clock);
        var (trail, delivery) = Build(new AuditOptions { CommitInterval = TimeSpan.Zero, FlushInterval = TimeSpan.FromSeconds(5) }, usage);
        await delivery.StartAsync(CancellationToken.None);
        _index.Fail = true;

        await trail.RecordAsync(Event("Encrypt") with { UsedKeyArns = [KeyArn] });
        await trail.RecordAsync(Event("Decrypt"));
        await Assert.ThrowsAsync<IOException>(() => trail.FlushAsync().WaitAsync(Bound));
        Assert.NotNull(trail.Delivery.CurrentFailure);
        _clock.Advance(TimeSpan.FromSeconds(5));
        var delivered = await _observer.Next.Task.WaitAsync(Bound);
        Assert.Equal(["Encrypt", "Decrypt"], ReadRecords(Path.Combine(_root, delivered.RelativePath)).Select(r => (string?)r["eventName"]));
        Assert.Empty(_index.Events);

        _index.Fail = false;
        await _index.WaitForAsync(2);
        await UntilAsync(() => trail.Delivery.CurrentFailure is null);

        Assert.Equal(["Encrypt", "Decrypt"], _index.Events.Select(e => e.EventName));
        Assert.Equal([2], _index.Commits);
        Assert.Equal([KeyArn], _index.Events[0].UsedKeyArns);
        await delivery.StoppedAsync(CancellationToken.None);
    }

    [Fact]
    public async Task An_index_that_stays_down_keeps_at_most_a_queue_of_records_for_it_and_gives_up_the_oldest()
    {
        var (trail, delivery) = Build(new AuditOptions { CommitInterval = TimeSpan.Zero, QueueCapacity = 2 });
        await delivery.StartAsync(CancellationToken.None);
        _index.Fail = true;

        foreach (var name in new[] { "Encrypt", "Decrypt", "Sign" })
        {
            await trail.RecordAsync(Event(name));
            await Assert.ThrowsAsync<IOException>(() => trail.FlushAsync().WaitAsync(Bound));
        }

        _index.Fail = false;
        await trail.FlushAsync().WaitAsync(Bound);

        Assert.Equal(["Decrypt", "Sign"], _index.Events.Select(e => e.EventName));
        await delivery.StoppedAsync(CancellationToken.None);
    }

    /// <summary>
    /// A delivery that keeps failing logs the first failure with its exception, then a reminder at most once per
    /// interval (not an error for every retry), and its recovery once.
    /// </summary>
    [Fact]
    public async Task A_delivery_that_keeps_failing_logs_the_failure_once_a_reminder_per_interval_and_the_recovery()
    {
        var log = new ListLogger();
        var (trail, delivery) = Build(new AuditOptions { CommitInterval = TimeSpan.Zero }, logger: log);
        await delivery.StartAsync(CancellationToken.None);
        _index.Fail = true;

        for (var i = 0; i < 5; i++)
        {
            await trail.RecordAsync(Event("Encrypt"));
            await Assert.ThrowsAsync<IOException>(() => trail.FlushAsync().WaitAsync(Bound));
        }

        Assert.Single(log.Entries, e => e.Level == LogLevel.Error && e.Exception is IOException);
        Assert.DoesNotContain(log.Entries, e => e.Message.Contains("still fails", StringComparison.Ordinal));

        _clock.Advance(TimeSpan.FromMinutes(1));
        await trail.RecordAsync(Event("Encrypt"));
        await Assert.ThrowsAsync<IOException>(() => trail.FlushAsync().WaitAsync(Bound));
        var reminder = Assert.Single(log.Entries, e => e.Message.Contains("still fails", StringComparison.Ordinal));
        Assert.Equal(LogLevel.Error, reminder.Level);
        Assert.Null(reminder.Exception);

        _index.Fail = false;
        await trail.FlushAsync().WaitAsync(Bound);
        Assert.Single(log.Entries, e => e.Level == LogLevel.Information && e.Message.Contains("works again", StringComparison.Ordinal));
        Assert.Null(trail.Delivery.CurrentFailure);
        await delivery.StoppedAsync(CancellationToken.None);
    }

    private static async Task UntilAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(Bound);
        while (!condition())
        {
            await Task.Yield();
            timeout.Token.ThrowIfCancellationRequested();
        }
    }

    private (AuditTrail Trail, AuditDelivery Delivery) Build(AuditOptions options, KeyUsageTracker? usage = null, ILogger<AuditDelivery>? logger = null)
    {
        var wrapped = Options.Create(options);
        var trail = new AuditTrail(wrapped, usage ?? new KeyUsageTracker(_clock), NullLogger<AuditTrail>.Instance);
        var delivery = new AuditDelivery(trail, wrapped, new AuditPaths(_root), [_observer], _clock, logger ?? NullLogger<AuditDelivery>.Instance, _index)
        {
            IndexRetryInterval = TimeSpan.FromMilliseconds(10),
        };
        return (trail, delivery);
    }

    private AuditEvent Event(string name) => new()
    {
        EventId = Guid.NewGuid(),
        RequestId = Guid.NewGuid().ToString(),
        EventTime = _clock.GetUtcNow(),
        EventName = name,
        Region = "us-east-1",
        Caller = new CallerIdentity("111122223333", "arn:aws:iam::111122223333:root", "AKIAEXAMPLE", PrincipalType.Root),
        ReadOnly = true,
        RecipientAccountId = "111122223333",
    };

    private static byte[] Gunzip(string path)
    {
        using var gzip = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var plain = new MemoryStream();
        gzip.CopyTo(plain);
        return plain.ToArray();
    }

    private static List<JsonObject> ReadRecords(string path) =>
        [.. JsonNode.Parse(Gunzip(path))!["Records"]!.AsArray().Select(r => r!.AsObject())];

    /// <summary>Keeps what delivery logs: level, message and exception.</summary>
    private sealed class ListLogger : ILogger<AuditDelivery>
    {
        private readonly ConcurrentQueue<(LogLevel Level, string Message, Exception? Exception)> _entries = new();

        public IReadOnlyList<(LogLevel Level, string Message, Exception? Exception)> Entries => [.. _entries];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            _entries.Enqueue((logLevel, formatter(state, exception), exception));
    }

    private sealed class MemoryIndex : IAuditIndex
    {
        private readonly ConcurrentQueue<IndexedEvent> _events = new();
        private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public IReadOnlyList<IndexedEvent> Events => [.. _events];

        /// <summary>How many events each AppendAsync call brought.</summary>
        public ConcurrentQueue<int> Commits { get; } = new();

        /// <summary>While set, appends fail as on a full disk or with the database gone.</summary>
        public volatile bool Fail;

        public ValueTask AppendAsync(IReadOnlyList<IndexedEvent> events, CancellationToken cancellationToken)
        {
            if (Fail)
            {
                throw new IOException("No space left on device");
            }

            Commits.Enqueue(events.Count);
            foreach (var e in events)
            {
                _events.Enqueue(e);
            }

            Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
            return ValueTask.CompletedTask;
        }

        public ValueTask<int> PruneAsync(DateTimeOffset before, CancellationToken cancellationToken) => ValueTask.FromResult(0);

        public ValueTask<AuditEventPage> LookupAsync(AuditLookup query, CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask ClearAsync(DateTimeOffset trackingStart, CancellationToken cancellationToken)
        {
            _events.Clear();
            ClearedAt = trackingStart;
            return ValueTask.CompletedTask;
        }

        public DateTimeOffset? ClearedAt { get; private set; }

        public async Task WaitForAsync(int count)
        {
            while (true)
            {
                var changed = Volatile.Read(ref _changed).Task;
                if (_events.Count >= count)
                {
                    return;
                }

                await changed.WaitAsync(Bound);
            }
        }
    }

    private sealed class Observer : IAuditFileObserver
    {
        public ConcurrentQueue<DeliveredLogFile> Delivered { get; } = new();

        public TaskCompletionSource<DeliveredLogFile> Next { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool Completed { get; private set; }

        public ValueTask DeliveredAsync(DeliveredLogFile file, CancellationToken cancellationToken)
        {
            Delivered.Enqueue(file);
            Next.TrySetResult(file);
            return ValueTask.CompletedTask;
        }

        public ValueTask CompleteAsync(CancellationToken cancellationToken)
        {
            Completed = true;
            return ValueTask.CompletedTask;
        }

        public int Cleared { get; private set; }

        public ValueTask ClearedAsync(CancellationToken cancellationToken)
        {
            Cleared++;
            return ValueTask.CompletedTask;
        }
    }
}
