using System.Buffers.Binary;
using System.Data;
using System.Text;
using System.Globalization;
using System.IO.Compression;
using Dapper;
using KmsEmulator.Api.Audit;
using KmsEmulator.Api.Keys;
using Microsoft.Data.Sqlite;
using Serilog;

namespace KmsEmulator.Api.Storage;

/// <summary>
/// The audit trail's index on its own SQLite file (<c>&lt;data-dir&gt;/audit.db</c>, 0600, WAL, migrations from
/// Storage/AuditMigrations): the events in chunks (<see cref="Chunk"/>: up to <see cref="MaxChunkEvents"/> events of one
/// account and region per row, with their records), a row per distinct attribute value per chunk, and the newest use
/// of each key (<see cref="IKeyUsageHistory"/> for GetKeyLastUsage). No lookup reads a log file.
/// <para>
/// Why chunks: a row and nine index entries per event cost the writer about 35 µs of CPU per event, a fifth of the
/// emulator's throughput under load; a chunk costs one row and a few term rows for hundreds of events. A lookup pays
/// instead: it reads the chunks that can hold a match, newest first, filters their directories in memory and stops as
/// soon as no older chunk can change the page.
/// </para>
/// <para>
/// Appends come from one writer (audit delivery), one transaction per batch, through commands prepared once on a
/// connection kept open for it; lookups use pooled connections of their own and never wait for the writer (WAL).
/// </para>
/// </summary>
public sealed class SqliteAuditIndex : IAuditIndex, IKeyUsageHistory, IDisposable
{
    public const string FileName = "audit.db";

    /// <summary>The most events one chunk holds; a delivered batch of one account and region fills as many as it needs.</summary>
    public const int MaxChunkEvents = 512;

    private const string TrackingStartName = "tracking_start";

    /// <summary>
    /// Records are compressed in groups of this many, each group a zlib stream of its own, so that a lookup inflates only
    /// the groups of the records it returns (a few dozen kilobytes) rather than its whole chunk.
    /// </summary>
    public const int RecordsPerGroup = 32;

    /// <summary>An event's sequence is its chunk's id shifted left by this, plus its position in the chunk.</summary>
    private const int PositionBits = 16;

    private readonly string _connectionString;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private Writer? _writer;
    private bool _disposed;

    private SqliteAuditIndex(string connectionString, DateTimeOffset trackingStart)
    {
        _connectionString = connectionString;
        TrackingStart = trackingStart;
    }

    /// <summary>
    /// When this index was first created, or last cleared: since then every key use is kept (GetKeyLastUsage's
    /// TrackingStartDate).
    /// </summary>
    public DateTimeOffset TrackingStart { get; private set; }

    /// <summary>The index of a data directory: <c>&lt;dataDir&gt;/audit.db</c>.</summary>
    public static string PathIn(string dataDir) => Path.Combine(Path.GetFullPath(dataDir), FileName);

    /// <summary>
    /// Opens (creating when missing) the index file and applies its pending migrations. The first open records
    /// <paramref name="clock"/>'s time as <see cref="TrackingStart"/>; later opens read it back.
    /// </summary>
    public static SqliteAuditIndex Open(string path, TimeProvider clock, Action<string>? warning = null)
    {
        warning ??= message => Log.Warning("Audit index: {Message}", message);
        StoreFilePermissions.PrepareDirectory(path, warning);
        StoreFilePermissions.RestrictDatabaseFiles(path, warning);
        var connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();

        using var connection = new SqliteConnection(connectionString);
        connection.Open();
        connection.Execute("PRAGMA journal_mode = WAL;");
        SqliteMigrations.ApplyAsync(connection, SqliteMigrations.Audit).GetAwaiter().GetResult();
        ConvertLegacyEvents(connection);

        var stored = connection.QuerySingleOrDefault<string>("SELECT value FROM audit_meta WHERE name = @name", new { name = TrackingStartName });
        DateTimeOffset trackingStart;
        if (stored is null)
        {
            trackingStart = clock.GetUtcNow();
            connection.Execute(
                "INSERT INTO audit_meta (name, value) VALUES (@name, @value)",
                new { name = TrackingStartName, value = trackingStart.UtcTicks.ToString(CultureInfo.InvariantCulture) });
        }
        else
        {
            trackingStart = new DateTimeOffset(long.Parse(stored, CultureInfo.InvariantCulture), TimeSpan.Zero);
        }

        return new SqliteAuditIndex(connectionString, trackingStart);
    }

    public async ValueTask AppendAsync(IReadOnlyList<IndexedEvent> events, CancellationToken cancellationToken)
    {
        if (events.Count == 0)
        {
            return;
        }

        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _writer ??= new Writer(_connectionString);
            _writer.Append(events);
        }
        catch
        {
            // The transaction was rolled back; start from the file's state again (its next sequence, its prepared
            // commands) rather than from this connection's.
            _writer?.Dispose();
            _writer = null;
            throw;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public async ValueTask ClearAsync(DateTimeOffset trackingStart, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _writer?.Dispose();
            _writer = null;
            await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await connection.ExecuteAsync(
                """
                DELETE FROM chunk_terms; DELETE FROM chunks; DELETE FROM key_last_use; DELETE FROM event_scopes;
                UPDATE audit_meta SET value = @value WHERE name = @name;
                """,
                new { name = TrackingStartName, value = trackingStart.UtcTicks.ToString(CultureInfo.InvariantCulture) },
                transaction).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            TrackingStart = trackingStart;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public async ValueTask<int> PruneAsync(DateTimeOffset before, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            var scopes = await connection.QueryAsync<(string AccountId, string Region)>(
                "SELECT DISTINCT account_id, region FROM event_scopes", transaction: transaction).ConfigureAwait(false);
            var removed = 0L;
            var cut = before.ToUnixTimeSeconds();
            foreach (var (accountId, region) in scopes)
            {
                // A chunk goes when its newest event is older than the cut: a chunk that straddles the cut keeps its older
                // events until it goes (a few seconds' worth; lookups bound time themselves).
                var args = new { accountId, region, cut };
                removed += await connection.ExecuteScalarAsync<long>(
                    "SELECT COALESCE(SUM(event_count), 0) FROM chunks WHERE account_id = @accountId AND region = @region AND last_time < @cut",
                    args,
                    transaction).ConfigureAwait(false);
                await connection.ExecuteAsync(
                    "DELETE FROM chunks WHERE account_id = @accountId AND region = @region AND last_time < @cut", args, transaction).ConfigureAwait(false);
            }

            await connection.ExecuteAsync("DELETE FROM chunk_terms WHERE last_time < @cut", new { cut }, transaction).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return (int)Math.Min(removed, int.MaxValue);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public async ValueTask<AuditEventPage> LookupAsync(AuditLookup query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentOutOfRangeException.ThrowIfLessThan(query.MaxResults, 1);
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        if (query.Attribute is { Key: LookupAttributeKey.EventSource } source)
        {
            // Sources are few per scope: a source never recorded has no events, and the only one is all of them.
            var sources = (await connection.QueryAsync<string>(
                new CommandDefinition(
                    "SELECT event_source FROM event_scopes WHERE account_id = @AccountId AND region = @Region",
                    new { query.AccountId, query.Region },
                    cancellationToken: cancellationToken)).ConfigureAwait(false)).AsList();
            if (!sources.Contains(source.Value))
            {
                return new AuditEventPage([], null);
            }

            if (sources.Count == 1)
            {
                query = query with { Attribute = null };
            }
        }

        var filter = EventFilter.For(query);
        if (filter.Impossible)
        {
            return new AuditEventPage([], null);
        }

        // Candidate chunks, newest last event first. Every event of a chunk is at or before its last_time and has a
        // sequence below the next chunk's, so once the page is full and a chunk cannot hold an event that sorts before
        // the page's last one, neither it nor any later candidate can change the page.
        var page = new List<Match>(query.MaxResults + 2);
        var wanted = query.MaxResults + 1;
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = CandidateSql(filter.Term is not null);
            AddCandidateParameters(command, query, filter);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var chunkId = reader.GetInt64(0);
                var lastTime = reader.GetInt64(1);
                if (page.Count >= wanted && (lastTime, Sequence(chunkId, MaxChunkEvents)).CompareTo(page[^1].Order) < 0)
                {
                    // Every event of this chunk, and of every later candidate (smaller last time, or the same and an
                    // older chunk), comes after the page's last event in newest-first order.
                    break;
                }

                var chunk = Chunk.Read(chunkId, (byte[])reader.GetValue(2));
                foreach (var entry in chunk.Entries)
                {
                    if (filter.Matches(chunk, entry))
                    {
                        page.Add(new Match(chunk, entry));
                    }
                }

                page.Sort(static (a, b) => b.Order.CompareTo(a.Order));
                if (page.Count > wanted)
                {
                    page.RemoveRange(wanted, page.Count - wanted);
                }
            }
        }

        var more = page.Count > query.MaxResults;
        if (more)
        {
            page.RemoveRange(query.MaxResults, page.Count - query.MaxResults);
        }

        var events = new List<LookedUpEvent>(page.Count);
        var compressed = new Dictionary<long, byte[]>();
        var groups = new Dictionary<(long Chunk, int Group), byte[]>();
        foreach (var match in page)
        {
            var entry = match.Entry;
            if (!groups.TryGetValue((match.Chunk.Id, entry.GroupOffset), out var group))
            {
                if (!compressed.TryGetValue(match.Chunk.Id, out var blob))
                {
                    blob = await ReadRecordsAsync(connection, match.Chunk.Id, cancellationToken).ConfigureAwait(false);
                    compressed.Add(match.Chunk.Id, blob);
                }

                // Inflated as far as the last record the page needs from the group.
                var needed = page.Where(m => m.Chunk.Id == match.Chunk.Id && m.Entry.GroupOffset == entry.GroupOffset)
                    .Max(m => m.Entry.RecordOffset + m.Entry.RecordLength);
                group = Inflate(blob, entry.GroupOffset, needed);
                groups.Add((match.Chunk.Id, entry.GroupOffset), group);
            }

            var strings = match.Chunk.Strings;
            events.Add(new LookedUpEvent(
                entry.EventId.ToString(),
                strings[entry.Name],
                entry.ReadOnly,
                entry.AccessKey < 0 ? null : strings[entry.AccessKey],
                DateTimeOffset.FromUnixTimeSeconds(entry.EventTime),
                strings[entry.Source],
                strings[entry.User],
                [.. entry.Resources.Select(r => new LookedUpResource(CloudTrailRecord.ResourceType, strings[r]))],
                group.AsSpan(entry.RecordOffset, entry.RecordLength).ToArray()));
        }

        return new AuditEventPage(events, more ? new AuditCursor(page[^1].Entry.EventTime, page[^1].Sequence) : null);
    }

    public async ValueTask<KeyUsage?> FindAsync(string keyArn, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        var row = await connection.QuerySingleOrDefaultAsync<UseRow>(
            new CommandDefinition(
                "SELECT operation AS Operation, used_at AS UsedAt, event_id AS EventId, request_id AS RequestId FROM key_last_use WHERE key_arn = @keyArn",
                new { keyArn },
                cancellationToken: cancellationToken)).ConfigureAwait(false);
        return row is null ? null : new KeyUsage(row.Operation, new DateTimeOffset(row.UsedAt, TimeSpan.Zero), row.EventId, row.RequestId);
    }

    public void Dispose()
    {
        _writeLock.Wait();
        try
        {
            _disposed = true;
            _writer?.Dispose();
            _writer = null;
            // Close this index's idle pooled connections (its own pool only), so the file is no longer held open.
            using var connection = new SqliteConnection(_connectionString);
            SqliteConnection.ClearPool(connection);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>A chunk's compressed records (the groups, one after another).</summary>
    private static async Task<byte[]> ReadRecordsAsync(SqliteConnection connection, long chunkId, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT records FROM chunks WHERE chunk_id = $id";
        command.Parameters.AddWithValue("$id", chunkId);
        return (byte[])(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>The first <paramref name="length"/> bytes of the group that starts at <paramref name="offset"/>, inflated.</summary>
    private static byte[] Inflate(byte[] records, int offset, int length)
    {
        var raw = new byte[length];
        using var inflater = new ZLibStream(new MemoryStream(records, offset, records.Length - offset, writable: false), CompressionMode.Decompress);
        inflater.ReadExactly(raw);
        return raw;
    }

    /// <summary>
    /// The candidate chunks' SQL: one index range, newest last event first. Without an attribute, the chunks of the scope
    /// through ix_chunks_time; with one, the chunks holding its value through chunk_terms' key.
    /// </summary>
    internal static string CandidateSql(bool byTerm) => byTerm
        ? """
          SELECT c.chunk_id, c.last_time, c.entries
          FROM chunk_terms t CROSS JOIN chunks c ON c.chunk_id = t.chunk_id
          WHERE t.account_id = $account AND t.region = $region AND t.kind = $kind AND t.value = $value
            AND t.last_time >= $start AND c.first_time <= $upper
          ORDER BY t.last_time DESC, t.chunk_id DESC
          """
        : """
          SELECT c.chunk_id, c.last_time, c.entries
          FROM chunks c
          WHERE c.account_id = $account AND c.region = $region AND c.last_time >= $start AND c.first_time <= $upper
          ORDER BY c.last_time DESC, c.chunk_id DESC
          """;

    internal static void AddCandidateParameters(SqliteCommand command, AuditLookup query, EventFilter filter)
    {
        command.Parameters.AddWithValue("$account", query.AccountId);
        command.Parameters.AddWithValue("$region", query.Region);
        command.Parameters.AddWithValue("$start", filter.Start);
        command.Parameters.AddWithValue("$upper", filter.Upper);
        if (filter.Term is { } term)
        {
            command.Parameters.AddWithValue("$kind", (int)term.Kind);
            command.Parameters.AddWithValue("$value", term.Value);
        }
    }

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        return connection;
    }

    /// <summary>
    /// Moves the events of a 0001 index (renamed legacy_* by migration 0002) into chunks, in one transaction with dropping
    /// the old tables, so that a crash leaves either the old tables or the chunks. Last uses are kept as they were.
    /// </summary>
    private static void ConvertLegacyEvents(SqliteConnection connection)
    {
        if (connection.ExecuteScalar<long>("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'legacy_events'") == 0)
        {
            return;
        }

        using var writer = new Writer(connection, ownsConnection: false);
        using var transaction = connection.BeginTransaction();
        var batch = new List<IndexedEvent>(MaxChunkEvents);
        var resources = connection.Query<(long Seq, string Name)>(
                "SELECT seq, resource_name FROM legacy_event_resources ORDER BY seq, position", transaction: transaction)
            .ToLookup(r => r.Seq, r => r.Name);
        foreach (var row in connection.Query<LegacyRow>(
                     """
                     SELECT seq AS Seq, event_id AS EventId, account_id AS AccountId, region AS Region, event_time AS EventTime,
                            event_name AS EventName, event_source AS EventSource, read_only AS ReadOnly, access_key_id AS AccessKeyId,
                            username AS Username, request_id AS RequestId, record AS Record
                     FROM legacy_events ORDER BY seq
                     """,
                     transaction: transaction,
                     buffered: false))
        {
            batch.Add(new IndexedEvent(
                Guid.Parse(row.EventId), row.AccountId, row.Region, DateTimeOffset.FromUnixTimeSeconds(row.EventTime), row.EventName,
                row.EventSource, row.ReadOnly == "true", row.AccessKeyId, row.Username, [.. resources[row.Seq]], [], row.RequestId, row.Record));
            if (batch.Count == MaxChunkEvents)
            {
                writer.AppendInTransaction(batch, transaction);
                batch.Clear();
            }
        }

        writer.AppendInTransaction(batch, transaction);
        connection.Execute("DROP TABLE legacy_event_resources; DROP TABLE legacy_events;", transaction: transaction);
        transaction.Commit();
    }

    /// <summary>What LookupEvents' attribute names in chunk_terms.</summary>
    internal enum TermKind
    {
        EventName = 1,
        ReadOnly = 2,
        Username = 3,
        ResourceType = 4,
        ResourceName = 5,
        EventSource = 6,
        AccessKeyId = 7,

        /// <summary>The Unix second of an event, which is also the second inside its UUIDv7 id.</summary>
        EventSecond = 8,
    }

    /// <summary>A query's conditions on single events, and the term (if any) that finds the chunks that can match.</summary>
    internal sealed class EventFilter
    {
        private LookupAttributeKey? _key;
        private string? _value;
        private Guid _eventId;

        /// <summary>Earliest event time (Unix seconds, inclusive).</summary>
        public long Start { get; private init; }

        /// <summary>Latest event time (inclusive): the query's end, or the cursor's time when paging.</summary>
        public long Upper { get; private init; }

        public AuditCursor? After { get; private init; }

        public (TermKind Kind, string Value)? Term { get; private set; }

        /// <summary>True when nothing can match (an event id that is not a GUID).</summary>
        public bool Impossible { get; private set; }

        public static EventFilter For(AuditLookup query)
        {
            var start = query.StartTime is { } s ? CeilingSeconds(s) : long.MinValue;
            var end = query.EndTime is { } e ? e.ToUnixTimeSeconds() : long.MaxValue;
            var filter = new EventFilter
            {
                Start = start,
                Upper = query.After is { } after ? Math.Min(end, after.EventTime) : end,
                After = query.After,
            };
            if (query.Attribute is not { } attribute)
            {
                return filter;
            }

            filter._key = attribute.Key;
            filter._value = attribute.Value;
            switch (attribute.Key)
            {
                case LookupAttributeKey.EventId:
                    if (!Guid.TryParse(attribute.Value, out filter._eventId))
                    {
                        filter.Impossible = true;
                    }
                    else if (filter._eventId.Version == 7)
                    {
                        // The id was made from the event's time: only chunks with events in that second can hold it.
                        var second = UuidV7Milliseconds(filter._eventId) / 1000;
                        filter.Term = (TermKind.EventSecond, second.ToString(CultureInfo.InvariantCulture));
                    }

                    // Any other id was not made here: every chunk of the scope is read (none will match).
                    break;
                case LookupAttributeKey.EventName:
                    filter.Term = (TermKind.EventName, attribute.Value);
                    break;
                case LookupAttributeKey.ReadOnly:
                    filter.Term = (TermKind.ReadOnly, attribute.Value);
                    break;
                case LookupAttributeKey.Username:
                    filter.Term = (TermKind.Username, attribute.Value);
                    break;
                case LookupAttributeKey.ResourceType:
                    filter.Term = (TermKind.ResourceType, attribute.Value);
                    break;
                case LookupAttributeKey.ResourceName:
                    filter.Term = (TermKind.ResourceName, attribute.Value);
                    break;
                case LookupAttributeKey.EventSource:
                    filter.Term = (TermKind.EventSource, attribute.Value);
                    break;
                case LookupAttributeKey.AccessKeyId:
                    filter.Term = (TermKind.AccessKeyId, attribute.Value);
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(query), attribute.Key, null);
            }

            return filter;
        }

        public bool Matches(Chunk chunk, Chunk.Entry entry)
        {
            if (entry.EventTime < Start || entry.EventTime > Upper)
            {
                return false;
            }

            if (After is { } after && entry.EventTime == after.EventTime && Sequence(chunk.Id, entry.Position) >= after.Sequence)
            {
                return false;
            }

            var strings = chunk.Strings;
            return _key switch
            {
                null => true,
                LookupAttributeKey.EventId => entry.EventId == _eventId,
                LookupAttributeKey.EventName => strings[entry.Name] == _value,
                LookupAttributeKey.ReadOnly => (entry.ReadOnly ? "true" : "false") == _value,
                LookupAttributeKey.Username => strings[entry.User] == _value,
                LookupAttributeKey.ResourceType => entry.Resources.Length > 0 && _value == CloudTrailRecord.ResourceType,
                LookupAttributeKey.ResourceName => entry.Resources.Any(r => strings[r] == _value),
                LookupAttributeKey.EventSource => strings[entry.Source] == _value,
                LookupAttributeKey.AccessKeyId => entry.AccessKey >= 0 && strings[entry.AccessKey] == _value,
                _ => false,
            };
        }

        private static long UuidV7Milliseconds(Guid id)
        {
            Span<byte> bytes = stackalloc byte[16];
            id.TryWriteBytes(bytes, bigEndian: true, out _);
            return (long)BinaryPrimitives.ReadUInt64BigEndian(bytes) >> 16;
        }
    }

    /// <summary>An event's position in the newest-first order: its time, then its sequence (the order it was indexed in).</summary>
    private static long Sequence(long chunkId, int position) => (chunkId << PositionBits) | (long)position;

    private static long CeilingSeconds(DateTimeOffset time)
    {
        var seconds = time.ToUnixTimeSeconds();
        return DateTimeOffset.FromUnixTimeSeconds(seconds) < time ? seconds + 1 : seconds;
    }

    private readonly record struct Match(Chunk Chunk, Chunk.Entry Entry)
    {
        public long Sequence => SqliteAuditIndex.Sequence(Chunk.Id, Entry.Position);

        public (long Time, long Sequence) Order => (Entry.EventTime, Sequence);
    }

    /// <summary>
    /// A chunk's directory of events (the <c>entries</c> column): a table of the distinct strings, then per event its
    /// time, id, the string numbers of its name, source, user name and access key (-1 for none), its read-only flag,
    /// where its record lies in the <c>records</c> column (its group's offset, its offset and length inflated), and the
    /// string numbers of its resources.
    /// </summary>
    internal sealed class Chunk
    {
        private Chunk(long id, string[] strings, Entry[] entries)
        {
            Id = id;
            Strings = strings;
            Entries = entries;
        }

        public long Id { get; }

        public string[] Strings { get; }

        public Entry[] Entries { get; }

        public static Chunk Read(long id, byte[] blob)
        {
            using var reader = new BinaryReader(new MemoryStream(blob, writable: false), Encoding.UTF8);
            var entries = new Entry[reader.ReadInt32()];
            Span<byte> id16 = stackalloc byte[16];
            for (var i = 0; i < entries.Length; i++)
            {
                var time = reader.ReadInt64();
                reader.ReadExactly(id16);
                var eventId = new Guid(id16, bigEndian: true);
                var name = reader.ReadInt32();
                var source = reader.ReadInt32();
                var user = reader.ReadInt32();
                var accessKey = reader.ReadInt32();
                var readOnly = reader.ReadBoolean();
                var group = reader.ReadInt32();
                var offset = reader.ReadInt32();
                var length = reader.ReadInt32();
                var resources = new int[reader.ReadInt32()];
                for (var r = 0; r < resources.Length; r++)
                {
                    resources[r] = reader.ReadInt32();
                }

                entries[i] = new Entry(i, time, eventId, name, source, user, accessKey, readOnly, group, offset, length, resources);
            }

            var strings = new string[reader.ReadInt32()];
            for (var i = 0; i < strings.Length; i++)
            {
                strings[i] = reader.ReadString();
            }

            return new Chunk(id, strings, entries);
        }

        /// <summary>
        /// One event of a chunk; string fields are numbers into <see cref="Strings"/>. Its record is at
        /// <paramref name="RecordOffset"/> in the inflated group that starts at <paramref name="GroupOffset"/> in the
        /// chunk's records.
        /// </summary>
        internal sealed record Entry(
            int Position, long EventTime, Guid EventId, int Name, int Source, int User, int AccessKey, bool ReadOnly,
            int GroupOffset, int RecordOffset, int RecordLength, int[] Resources);

        /// <summary>
        /// Builds chunk rows while a batch is appended. Reused from chunk to chunk (its buffers are bound to the insert
        /// with their used length), so that appending allocates little beyond the compressor.
        /// </summary>
        internal sealed class Builder
        {
            private readonly Dictionary<string, int> _strings = new(StringComparer.Ordinal);
            private readonly List<string> _stringList = [];
            private readonly MemoryStream _entries = new();
            private readonly BinaryWriter _writer;
            private readonly MemoryStream _records = new();
            private readonly HashSet<(TermKind, string)> _terms = [];
            private readonly HashSet<string> _resources = new(StringComparer.Ordinal);
            private readonly List<int> _resourceIds = [];
            private ZLibStream? _compressor;
            private int _groupStart;
            private int _groupRaw;
            private int _groupCount;
            private long _lastSecond = long.MinValue;

            public Builder()
            {
                _writer = new BinaryWriter(_entries, Encoding.UTF8, leaveOpen: true);
            }

            public string AccountId { get; private set; } = string.Empty;

            public string Region { get; private set; } = string.Empty;

            public int Count { get; private set; }

            public long FirstTime { get; private set; }

            public long LastTime { get; private set; }

            public IReadOnlyCollection<(TermKind Kind, string Value)> Terms => _terms;

            /// <summary>Starts an empty chunk of <paramref name="accountId"/> and <paramref name="region"/>.</summary>
            public void Start(string accountId, string region)
            {
                AccountId = accountId;
                Region = region;
                Count = 0;
                FirstTime = long.MaxValue;
                LastTime = long.MinValue;
                _lastSecond = long.MinValue;
                _strings.Clear();
                _stringList.Clear();
                _terms.Clear();
                _entries.SetLength(0);
                _writer.Write(0); // the entry count, written by Finish
                _records.SetLength(0);
                _compressor = null;
            }

            public void Add(IndexedEvent e)
            {
                var time = e.EventTime.ToUnixTimeSeconds();
                FirstTime = Math.Min(FirstTime, time);
                LastTime = Math.Max(LastTime, time);
                _writer.Write(time);
                Span<byte> id = stackalloc byte[16];
                e.EventId.TryWriteBytes(id, bigEndian: true, out _);
                _writer.Write(id);
                _writer.Write(String(e.EventName ?? throw new ArgumentException("An event needs a name.", nameof(e)), TermKind.EventName));
                _writer.Write(String(e.EventSource, TermKind.EventSource));
                _writer.Write(String(e.Username, TermKind.Username));
                _writer.Write(e.AccessKeyId is null ? -1 : String(e.AccessKeyId, TermKind.AccessKeyId));
                _writer.Write(e.ReadOnly);
                if (_compressor is null || _groupCount == RecordsPerGroup)
                {
                    _compressor?.Dispose();
                    _groupStart = checked((int)_records.Length);
                    _groupRaw = 0;
                    _groupCount = 0;
                    _compressor = new ZLibStream(_records, CompressionLevel.Fastest, leaveOpen: true);
                }

                _writer.Write(_groupStart);
                _writer.Write(_groupRaw);
                _writer.Write(e.Record.Length);
                _compressor.Write(e.Record);
                _groupRaw = checked(_groupRaw + e.Record.Length);
                _groupCount++;

                _resources.Clear();
                _resourceIds.Clear();
                foreach (var arn in e.ResourceArns)
                {
                    if (_resources.Add(arn))
                    {
                        _resourceIds.Add(String(arn, TermKind.ResourceName));
                    }
                }

                _writer.Write(_resourceIds.Count);
                foreach (var resource in _resourceIds)
                {
                    _writer.Write(resource);
                }

                _terms.Add((TermKind.ReadOnly, e.ReadOnly ? "true" : "false"));
                if (time != _lastSecond)
                {
                    _lastSecond = time;
                    _terms.Add((TermKind.EventSecond, time.ToString(CultureInfo.InvariantCulture)));
                }

                if (_resourceIds.Count > 0)
                {
                    _terms.Add((TermKind.ResourceType, CloudTrailRecord.ResourceType));
                }

                Count++;
            }

            /// <summary>
            /// Completes the chunk: the directory (entry count, entries, then the string table) and the compressed
            /// records, each as a buffer and the length of it that is used.
            /// </summary>
            public ((byte[] Buffer, int Length) Entries, (byte[] Buffer, int Length) Records) Finish()
            {
                _writer.Write(_stringList.Count);
                foreach (var value in _stringList)
                {
                    _writer.Write(value);
                }

                _writer.Flush();
                var end = _entries.Position;
                _entries.Position = 0;
                _writer.Write(Count);
                _writer.Flush();
                _entries.Position = end;
                _compressor?.Dispose();
                _compressor = null;
                return ((_entries.GetBuffer(), (int)_entries.Length), (_records.GetBuffer(), (int)_records.Length));
            }

            /// <summary>The string's number in the chunk's table; each use also makes a term of it (as <paramref name="kind"/>; a set, so once).</summary>
            private int String(string value, TermKind kind)
            {
                if (!_strings.TryGetValue(value, out var index))
                {
                    index = _stringList.Count;
                    _strings.Add(value, index);
                    _stringList.Add(value);
                }

                _terms.Add((kind, value));
                return index;
            }
        }
    }

    /// <summary>
    /// The writer's connection and its prepared commands. Chunk ids are assigned here (the file has one writer), so a
    /// chunk's terms are inserted without reading its row back.
    /// </summary>
    private sealed class Writer : IDisposable
    {
        private readonly SqliteConnection _connection;
        private readonly bool _ownsConnection;
        private readonly SqliteCommand _chunk;
        private readonly SqliteCommand _term;
        private readonly SqliteCommand _use;
        private readonly SqliteCommand _scope;
        private readonly HashSet<(string AccountId, string Region, string EventSource)> _scopes = [];
        private readonly Dictionary<string, IndexedEvent> _newestUse = new(StringComparer.Ordinal);
        private readonly Dictionary<(string AccountId, string Region), Chunk.Builder> _open = [];
        private readonly Stack<Chunk.Builder> _spare = new();
        private long _nextChunk;

        public Writer(string connectionString)
            : this(new SqliteConnection(connectionString), ownsConnection: true)
        {
        }

        public Writer(SqliteConnection connection, bool ownsConnection)
        {
            _connection = connection;
            _ownsConnection = ownsConnection;
            if (ownsConnection)
            {
                _connection.Open();
                // WAL with NORMAL: a commit survives a crash of the process; the log files are the record of last resort.
                _connection.Execute("PRAGMA synchronous = NORMAL;");
                _connection.Execute("PRAGMA cache_size = -65536;");
                _connection.Execute("PRAGMA wal_autocheckpoint = 16384;");
                _connection.Execute("PRAGMA journal_size_limit = 67108864;");
            }

            _nextChunk = _connection.ExecuteScalar<long>("SELECT COALESCE(MAX(chunk_id), 0) + 1 FROM chunks");

            _chunk = Prepare(
                """
                INSERT INTO chunks (chunk_id, account_id, region, first_time, last_time, event_count, entries, records)
                VALUES ($chunk_id, $account_id, $region, $first_time, $last_time, $event_count, $entries, $records)
                """,
                "$chunk_id", "$account_id", "$region", "$first_time", "$last_time", "$event_count", "$entries", "$records");
            _term = Prepare(
                """
                INSERT OR IGNORE INTO chunk_terms (account_id, region, kind, value, last_time, chunk_id)
                VALUES ($account_id, $region, $kind, $value, $last_time, $chunk_id)
                """,
                "$account_id", "$region", "$kind", "$value", "$last_time", "$chunk_id");
            _use = Prepare(
                """
                INSERT INTO key_last_use (key_arn, operation, used_at, event_id, request_id)
                VALUES ($key_arn, $operation, $used_at, $event_id, $request_id)
                ON CONFLICT (key_arn) DO UPDATE SET
                    operation = excluded.operation, used_at = excluded.used_at,
                    event_id = excluded.event_id, request_id = excluded.request_id
                WHERE excluded.used_at >= key_last_use.used_at
                """,
                "$key_arn", "$operation", "$used_at", "$event_id", "$request_id");
            _scope = Prepare(
                "INSERT OR IGNORE INTO event_scopes (account_id, region, event_source) VALUES ($account_id, $region, $event_source)",
                "$account_id", "$region", "$event_source");
            _scopes.UnionWith(_connection.Query<(string, string, string)>("SELECT account_id, region, event_source FROM event_scopes"));
        }

        public void Append(IReadOnlyList<IndexedEvent> events)
        {
            using var transaction = _connection.BeginTransaction();
            var next = _nextChunk;
            try
            {
                AppendInTransaction(events, transaction);
                transaction.Commit();
            }
            catch
            {
                _nextChunk = next;
                throw;
            }
        }

        /// <summary>Adds the events' chunks, terms, scopes and key uses inside <paramref name="transaction"/>.</summary>
        public void AppendInTransaction(IReadOnlyList<IndexedEvent> events, SqliteTransaction transaction)
        {
            _chunk.Transaction = transaction;
            _term.Transaction = transaction;
            _use.Transaction = transaction;
            _scope.Transaction = transaction;
            _newestUse.Clear();
            _open.Clear();
            var newScopes = new List<(string AccountId, string Region, string EventSource)>();
            foreach (var e in events)
            {
                if (!_open.TryGetValue((e.AccountId, e.Region), out var chunk))
                {
                    chunk = _spare.TryPop(out var spare) ? spare : new Chunk.Builder();
                    chunk.Start(e.AccountId, e.Region);
                    _open.Add((e.AccountId, e.Region), chunk);
                }

                chunk.Add(e);
                if (chunk.Count == MaxChunkEvents)
                {
                    Write(chunk);
                    _open.Remove((e.AccountId, e.Region));
                    _spare.Push(chunk);
                }

                if (!_scopes.Contains((e.AccountId, e.Region, e.EventSource)) && !newScopes.Contains((e.AccountId, e.Region, e.EventSource)))
                {
                    newScopes.Add((e.AccountId, e.Region, e.EventSource));
                    var sp = _scope.Parameters;
                    sp[0].Value = e.AccountId;
                    sp[1].Value = e.Region;
                    sp[2].Value = e.EventSource;
                    _scope.ExecuteNonQuery();
                }

                foreach (var keyArn in e.UsedKeyArns)
                {
                    if (!_newestUse.TryGetValue(keyArn, out var newest) || e.EventTime >= newest.EventTime)
                    {
                        _newestUse[keyArn] = e;
                    }
                }
            }

            foreach (var chunk in _open.Values)
            {
                Write(chunk);
                _spare.Push(chunk);
            }

            _open.Clear();

            foreach (var (keyArn, e) in _newestUse)
            {
                var u = _use.Parameters;
                u[0].Value = keyArn;
                u[1].Value = e.EventName;
                u[2].Value = e.EventTime.UtcTicks;
                u[3].Value = e.EventId.ToString();
                u[4].Value = e.RequestId;
                _use.ExecuteNonQuery();
            }

            _scopes.UnionWith(newScopes);
        }

        public void Dispose()
        {
            _chunk.Dispose();
            _term.Dispose();
            _use.Dispose();
            _scope.Dispose();
            if (_ownsConnection)
            {
                _connection.Dispose();
            }
        }

        private void Write(Chunk.Builder chunk)
        {
            var id = _nextChunk++;
            var (entries, records) = chunk.Finish();
            var p = _chunk.Parameters;
            p[0].Value = id;
            p[1].Value = chunk.AccountId;
            p[2].Value = chunk.Region;
            p[3].Value = chunk.FirstTime;
            p[4].Value = chunk.LastTime;
            p[5].Value = chunk.Count;
            // Bound with their used length: the buffers are the builder's, reused for its next chunk.
            p[6].Value = entries.Buffer;
            p[6].Size = entries.Length;
            p[7].Value = records.Buffer;
            p[7].Size = records.Length;
            _chunk.ExecuteNonQuery();
            foreach (var (kind, value) in chunk.Terms)
            {
                var t = _term.Parameters;
                t[0].Value = chunk.AccountId;
                t[1].Value = chunk.Region;
                t[2].Value = (int)kind;
                t[3].Value = value;
                t[4].Value = chunk.LastTime;
                t[5].Value = id;
                _term.ExecuteNonQuery();
            }
        }

        private SqliteCommand Prepare(string sql, params string[] names)
        {
            var command = _connection.CreateCommand();
            command.CommandText = sql;
            foreach (var name in names)
            {
                command.Parameters.Add(new SqliteParameter { ParameterName = name });
            }

            command.Prepare();
            return command;
        }
    }

    private sealed record LegacyRow(
        long Seq, string EventId, string AccountId, string Region, long EventTime, string EventName, string EventSource, string ReadOnly,
        string? AccessKeyId, string Username, string RequestId, byte[] Record);

    private sealed record UseRow(string Operation, long UsedAt, string EventId, string RequestId);
}
