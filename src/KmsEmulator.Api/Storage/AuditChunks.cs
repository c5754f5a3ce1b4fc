using System.Buffers.Binary;
using System.Data.Common;
using System.Globalization;
using System.IO.Compression;
using System.Runtime.CompilerServices;
using System.Text;
using Dapper;
using KmsEmulator.Api.Audit;
using KmsEmulator.Api.Keys;

namespace KmsEmulator.Api.Storage;

/// <summary>
/// The audit index's chunk format and lookup, shared by its two stores (<see cref="SqliteAuditIndex"/>,
/// <see cref="PostgreSqlAuditIndex"/>), which keep the same tables: <c>chunks</c> (up to <see cref="MaxChunkEvents"/>
/// events of one account and region per row: a binary directory of their attributes, <see cref="Chunk"/>, and their
/// records in the compressed groups the log files hold, <see cref="RecordGroup"/>), <c>chunk_terms</c> (one row per
/// distinct attribute value per chunk, <see cref="TermKind"/>), <c>event_scopes</c>, <c>key_last_use</c> and <c>audit_meta</c>. What differs between the
/// two is how rows are written and how the candidate chunks of a lookup are read.
/// </summary>
internal static class AuditChunks
{
    /// <summary>The most events one chunk holds; a delivered batch of one account and region fills as many as it needs.</summary>
    public const int MaxChunkEvents = 512;

    /// <summary>
    /// The first number of a chunk's directory when its records are <see cref="RecordGroup"/>s as the log files hold them
    /// (raw deflate); a directory without it starts with its entry count, and its groups are zlib streams (chunks
    /// written before the log files and the index shared their compression).
    /// </summary>
    private const int SharedGroupsFormat = -1;

    /// <summary>An event's sequence is its chunk's id shifted left by this, plus its position in the chunk.</summary>
    private const int PositionBits = 16;

    /// <summary>The row of <c>audit_meta</c> that holds GetKeyLastUsage's TrackingStartDate (.NET UTC ticks, as text).</summary>
    public const string TrackingStartName = "tracking_start";

    /// <summary>Forgets every event and key use, and tracks again from <c>@value</c> (<see cref="Ticks"/>): one transaction.</summary>
    public const string ClearSql = """
        DELETE FROM chunk_terms; DELETE FROM chunks; DELETE FROM key_last_use; DELETE FROM event_scopes;
        UPDATE audit_meta SET value = @value WHERE name = 'tracking_start';
        """;

    /// <summary>
    /// How a key use meets the key's row in <c>key_last_use</c>: it replaces it only when it is not older, so the last use
    /// never moves back in time, whoever writes and in whatever order; of two uses at the same instant the one written
    /// later wins, as the trail's order decided for the caller.
    /// </summary>
    public const string KeyUseUpsert = """
        ON CONFLICT (key_arn) DO UPDATE SET
            operation = excluded.operation, used_at = excluded.used_at,
            event_id = excluded.event_id, request_id = excluded.request_id
        WHERE excluded.used_at >= key_last_use.used_at
        """;

    private const string SelectRecords = "SELECT records FROM chunks WHERE chunk_id = @id";

    /// <summary>The newest use of the key <c>@keyArn</c>, as a <see cref="KeyUseRow"/>.</summary>
    public const string SelectKeyUse =
        "SELECT operation AS Operation, used_at AS UsedAt, event_id AS EventId, request_id AS RequestId FROM key_last_use WHERE key_arn = @keyArn";

    /// <summary>A time as <c>audit_meta</c> keeps it: .NET UTC ticks in invariant digits.</summary>
    public static string Ticks(DateTimeOffset time) => time.UtcTicks.ToString(CultureInfo.InvariantCulture);

    /// <summary>The time <see cref="Ticks"/> wrote.</summary>
    public static DateTimeOffset FromTicks(string ticks) => new(long.Parse(ticks, CultureInfo.InvariantCulture), TimeSpan.Zero);

    /// <summary>
    /// One page of a LookupEvents query over the chunks that <paramref name="candidates"/> yields for the query's
    /// filter: every chunk of the account and region (or, with an attribute, every chunk holding its value) whose events
    /// can fall in the time range, newest last event first (by <c>last_time</c>, then <c>chunk_id</c>, descending). Its
    /// enumeration is stopped as soon as no later chunk can change the page. The records the page returns are then read
    /// on <paramref name="connection"/> in <paramref name="transaction"/>, which should be the snapshot the candidates
    /// were read from, so that a chunk pruned or cleared meanwhile is still there.
    /// </summary>
    public static async ValueTask<AuditEventPage> LookupAsync(
        DbConnection connection,
        DbTransaction? transaction,
        AuditLookup query,
        Func<EventFilter, IAsyncEnumerable<Candidate>> candidates,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentOutOfRangeException.ThrowIfLessThan(query.MaxResults, 1);
        if (query.Attribute is { Key: LookupAttributeKey.EventSource } source)
        {
            // Sources are few per scope: a source never recorded has no events, and the only one is all of them.
            var sources = (await connection.QueryAsync<string>(
                new CommandDefinition(
                    "SELECT event_source FROM event_scopes WHERE account_id = @AccountId AND region = @Region",
                    new { query.AccountId, query.Region },
                    transaction,
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

        // Every event of a chunk is at or before its last_time and has a sequence below the next chunk's, so once the
        // page is full and a chunk cannot hold an event that sorts before the page's last one, neither it nor any later
        // candidate can change the page.
        var page = new List<Match>(query.MaxResults + 2);
        var wanted = query.MaxResults + 1;
        await foreach (var candidate in candidates(filter).WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            if (page.Count >= wanted && (candidate.LastTime, Sequence(candidate.ChunkId, MaxChunkEvents)).CompareTo(page[^1].Order) < 0)
            {
                // Every event of this chunk, and of every later candidate (smaller last time, or the same and an older
                // chunk), comes after the page's last event in newest-first order.
                break;
            }

            var chunk = Chunk.Read(candidate.ChunkId, candidate.Entries);
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
                    blob = await connection.ExecuteScalarAsync<byte[]>(
                            new CommandDefinition(SelectRecords, new { id = match.Chunk.Id }, transaction, cancellationToken: cancellationToken))
                        .ConfigureAwait(false)
                        ?? throw new InvalidOperationException($"Audit index chunk {match.Chunk.Id} went away during a lookup.");
                    compressed.Add(match.Chunk.Id, blob);
                }

                // Inflated as far as the last record the page needs from the group.
                var needed = page.Where(m => m.Chunk.Id == match.Chunk.Id && m.Entry.GroupOffset == entry.GroupOffset)
                    .Max(m => m.Entry.RecordOffset + m.Entry.RecordLength);
                group = match.Chunk.SharedGroups ? RecordGroup.Inflate(blob, entry.GroupOffset, needed) : Inflate(blob, entry.GroupOffset, needed);
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

    /// <summary>
    /// The parameters of a candidate query: <c>@account</c>, <c>@region</c>, <c>@start</c> and <c>@upper</c> (Unix
    /// seconds: the earliest last event and the latest first event a chunk may have), and with an attribute
    /// <c>@kind</c> and <c>@value</c>, the term that names the chunks holding it.
    /// </summary>
    public static void AddCandidateParameters(DbCommand command, AuditLookup query, EventFilter filter)
    {
        AddParameter(command, "@account", query.AccountId);
        AddParameter(command, "@region", query.Region);
        AddParameter(command, "@start", filter.Start);
        AddParameter(command, "@upper", filter.Upper);
        if (filter.Term is { } term)
        {
            AddParameter(command, "@kind", (int)term.Kind);
            AddParameter(command, "@value", term.Value);
        }
    }

    public static void AddParameter(DbCommand command, string name, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        command.Parameters.Add(parameter);
    }

    /// <summary>A row of <c>key_last_use</c>; <paramref name="UsedAt"/> is .NET UTC ticks (exact).</summary>
    internal sealed record KeyUseRow(string Operation, long UsedAt, string EventId, string RequestId)
    {
        public KeyUsage ToUsage() => new(Operation, new DateTimeOffset(UsedAt, TimeSpan.Zero), EventId, RequestId);
    }

    /// <summary>A chunk that can hold a match, as a candidate query reads it: its id, its newest event's time, its directory.</summary>
    internal readonly record struct Candidate(long ChunkId, long LastTime, byte[] Entries);

    /// <summary>
    /// Splits a delivered batch into chunks of one account and region each, at most <see cref="MaxChunkEvents"/> events
    /// each, in the batch's order, and notes what else the batch adds to the index: the scopes (account, region, event
    /// source) it names, in the order they first appear, and the newest use of each key (of two at the same instant,
    /// the later in the batch). Its chunk builders are reused from batch to batch, so one batcher serves one writer at
    /// a time.
    /// </summary>
    internal sealed class ChunkBatcher
    {
        private readonly Dictionary<(string AccountId, string Region), Chunk.Builder> _open = [];
        private readonly Stack<Chunk.Builder> _spare = new();
        private readonly HashSet<(string AccountId, string Region, string EventSource)> _named = [];
        private readonly NewestUses<IndexedEvent> _newestUse = new(static e => e.EventTime);

        /// <summary>The scopes the last batch names.</summary>
        public List<(string AccountId, string Region, string EventSource)> Scopes { get; } = [];

        /// <summary>The newest use of each key the last batch used.</summary>
        public IReadOnlyDictionary<string, IndexedEvent> NewestUse => _newestUse.Result;

        /// <summary>
        /// Builds the chunks of <paramref name="events"/> and hands each to <paramref name="write"/> when it is full or the
        /// batch ends; the builder's buffers are reused once <paramref name="write"/> returns.
        /// </summary>
        public void Split(IReadOnlyList<IndexedEvent> events, Action<Chunk.Builder> write)
        {
            _open.Clear();
            _named.Clear();
            Scopes.Clear();
            _newestUse.Clear();
            // Consecutive events mostly share their scope (and their chunk): those are compared, not hashed.
            IndexedEvent? previous = null;
            Chunk.Builder? chunk = null;
            foreach (var e in events)
            {
                var sameScope = previous is not null && string.Equals(e.AccountId, previous.AccountId, StringComparison.Ordinal)
                    && string.Equals(e.Region, previous.Region, StringComparison.Ordinal);
                if (!sameScope || chunk is null)
                {
                    if (!_open.TryGetValue((e.AccountId, e.Region), out chunk))
                    {
                        chunk = _spare.TryPop(out var spare) ? spare : new Chunk.Builder();
                        chunk.Start(e.AccountId, e.Region);
                        _open.Add((e.AccountId, e.Region), chunk);
                    }
                }

                chunk.Add(e);
                if (chunk.Count == MaxChunkEvents)
                {
                    write(chunk);
                    _open.Remove((e.AccountId, e.Region));
                    _spare.Push(chunk);
                    chunk = null;
                }

                if (!(sameScope && string.Equals(e.EventSource, previous!.EventSource, StringComparison.Ordinal))
                    && _named.Add((e.AccountId, e.Region, e.EventSource)))
                {
                    Scopes.Add((e.AccountId, e.Region, e.EventSource));
                }

                foreach (var keyArn in e.UsedKeyArns)
                {
                    _newestUse.Note(keyArn, e);
                }

                previous = e;
            }

            foreach (var rest in _open.Values)
            {
                write(rest);
                _spare.Push(rest);
            }

            _open.Clear();
        }
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
    internal static long Sequence(long chunkId, int position) => (chunkId << PositionBits) | (long)position;

    internal static long CeilingSeconds(DateTimeOffset time)
    {
        var seconds = time.ToUnixTimeSeconds();
        return DateTimeOffset.FromUnixTimeSeconds(seconds) < time ? seconds + 1 : seconds;
    }

    internal readonly record struct Match(Chunk Chunk, Chunk.Entry Entry)
    {
        public long Sequence => AuditChunks.Sequence(Chunk.Id, Entry.Position);

        public (long Time, long Sequence) Order => (Entry.EventTime, Sequence);
    }

    /// <summary>
    /// A chunk's directory of events (the <c>entries</c> column): <see cref="SharedGroupsFormat"/> (absent in older
    /// chunks), the entry count, then per event its time, id, the string numbers of its name, source, user name and
    /// access key (-1 for none), its read-only flag, where its record lies in the <c>records</c> column (its group's
    /// offset, its offset and length inflated) and the string numbers of its resources; then the table of the
    /// distinct strings.
    /// </summary>
    internal sealed class Chunk
    {
        private Chunk(long id, string[] strings, Entry[] entries, bool sharedGroups)
        {
            Id = id;
            Strings = strings;
            Entries = entries;
            SharedGroups = sharedGroups;
        }

        public long Id { get; }

        /// <summary>Whether the records are <see cref="RecordGroup"/>s (raw deflate) rather than zlib streams of the chunk's own.</summary>
        public bool SharedGroups { get; }

        public string[] Strings { get; }

        public Entry[] Entries { get; }

        public static Chunk Read(long id, byte[] blob)
        {
            using var reader = new BinaryReader(new MemoryStream(blob, writable: false), Encoding.UTF8);
            var first = reader.ReadInt32();
            var sharedGroups = first == SharedGroupsFormat;
            var entries = new Entry[sharedGroups ? reader.ReadInt32() : first];
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

            return new Chunk(id, strings, entries, sharedGroups);
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
        /// with their used length), so that appending allocates little.
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
            private RecordGroup? _group;
            private int _groupStart;
            private long _lastSecond = long.MinValue;

            // The last string of each kind and its number: a busy trail repeats the same name, user, key and resource
            // from event to event, and an equal string is cheaper to compare than to hash (twice: table and terms).
            private readonly string?[] _lastString = new string?[(int)TermKind.EventSecond + 1];
            private readonly int[] _lastNumber = new int[(int)TermKind.EventSecond + 1];
            private bool _readOnlyTerm;
            private bool _readWriteTerm;
            private bool _resourceTypeTerm;

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
                _writer.Write(SharedGroupsFormat);
                _writer.Write(0); // the entry count, written by Finish
                _records.SetLength(0);
                _group = null;
                Array.Clear(_lastString);
                _readOnlyTerm = _readWriteTerm = _resourceTypeTerm = false;
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
                // The record's group, as the log file compressed it, goes into the chunk once: a batch's events of
                // one group come one after another. (A group split between two chunks is stored in both.)
                var record = e.Record;
                if (!ReferenceEquals(record.Group, _group))
                {
                    _group = record.Group;
                    _groupStart = checked((int)_records.Length);
                    _records.Write(_group.Compressed);
                }

                _writer.Write(_groupStart);
                _writer.Write(record.Offset);
                _writer.Write(record.Length);

                var resources = e.ResourceArns;
                if (resources.Count == 1)
                {
                    _writer.Write(1);
                    _writer.Write(String(resources[0], TermKind.ResourceName));
                }
                else
                {
                    _resources.Clear();
                    _resourceIds.Clear();
                    foreach (var arn in resources)
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
                }

                if (e.ReadOnly ? !_readOnlyTerm : !_readWriteTerm)
                {
                    _terms.Add((TermKind.ReadOnly, e.ReadOnly ? "true" : "false"));
                    _readOnlyTerm |= e.ReadOnly;
                    _readWriteTerm |= !e.ReadOnly;
                }

                if (time != _lastSecond)
                {
                    _lastSecond = time;
                    _terms.Add((TermKind.EventSecond, time.ToString(CultureInfo.InvariantCulture)));
                }

                if (resources.Count > 0 && !_resourceTypeTerm)
                {
                    _terms.Add((TermKind.ResourceType, CloudTrailRecord.ResourceType));
                    _resourceTypeTerm = true;
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
                _entries.Position = sizeof(int);
                _writer.Write(Count);
                _writer.Flush();
                _entries.Position = end;
                _group = null;
                return ((_entries.GetBuffer(), (int)_entries.Length), (_records.GetBuffer(), (int)_records.Length));
            }

            /// <summary>The string's number in the chunk's table; each use also makes a term of it (as <paramref name="kind"/>; a set, so once).</summary>
            private int String(string value, TermKind kind)
            {
                if (string.Equals(value, _lastString[(int)kind], StringComparison.Ordinal))
                {
                    return _lastNumber[(int)kind];
                }

                if (!_strings.TryGetValue(value, out var index))
                {
                    index = _stringList.Count;
                    _strings.Add(value, index);
                    _stringList.Add(value);
                }

                _terms.Add((kind, value));
                _lastString[(int)kind] = value;
                _lastNumber[(int)kind] = index;
                return index;
            }
        }
    }


    /// <summary>The first <paramref name="length"/> bytes of the zlib group that starts at <paramref name="offset"/> (older chunks), inflated.</summary>
    internal static byte[] Inflate(byte[] records, int offset, int length)
    {
        var raw = new byte[length];
        using var inflater = new ZLibStream(new MemoryStream(records, offset, records.Length - offset, writable: false), CompressionMode.Decompress);
        inflater.ReadExactly(raw);
        return raw;
    }

}
