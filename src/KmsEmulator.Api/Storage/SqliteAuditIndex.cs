using System.Data;
using System.Globalization;
using Dapper;
using KmsEmulator.Api.Audit;
using KmsEmulator.Api.Keys;
using Microsoft.Data.Sqlite;
using Serilog;

namespace KmsEmulator.Api.Storage;

/// <summary>
/// The audit trail's index on its own SQLite file (<c>&lt;data-dir&gt;/audit.db</c>, 0600, WAL, migrations from
/// Storage/AuditMigrations): the events with every LookupEvents attribute and the record's JSON, the resources of each
/// event, and the newest use of each key (<see cref="IKeyUsageHistory"/> for GetKeyLastUsage). Every lookup is one
/// index range scan, newest first; no lookup reads a log file.
/// <para>
/// Appends come from one writer (audit delivery), one transaction per batch, through commands prepared once on a
/// connection kept open for it; lookups use pooled connections of their own and never wait for the writer (WAL).
/// </para>
/// </summary>
public sealed class SqliteAuditIndex : IAuditIndex, IKeyUsageHistory, IDisposable
{
    public const string FileName = "audit.db";

    private const string TrackingStartName = "tracking_start";

    private readonly string _connectionString;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private Writer? _writer;
    private bool _disposed;

    private SqliteAuditIndex(string connectionString, DateTimeOffset trackingStart)
    {
        _connectionString = connectionString;
        TrackingStart = trackingStart;
    }

    /// <summary>When this index was first created: since then every key use is kept (GetKeyLastUsage's TrackingStartDate).</summary>
    public DateTimeOffset TrackingStart { get; }

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

    public async ValueTask<int> PruneAsync(DateTimeOffset before, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            var scopes = await connection.QueryAsync<(string AccountId, string Region)>(
                "SELECT DISTINCT account_id, region FROM event_scopes", transaction: transaction).ConfigureAwait(false);
            var removed = 0;
            foreach (var (accountId, region) in scopes)
            {
                // Both deletes walk ix_events_time for the scope; resources are found by their event's seq.
                var cut = new { accountId, region, cut = before.ToUnixTimeSeconds() };
                await connection.ExecuteAsync(
                    "DELETE FROM event_resources WHERE seq IN (SELECT seq FROM events WHERE account_id = @accountId AND region = @region AND event_time < @cut)",
                    cut,
                    transaction).ConfigureAwait(false);
                removed += await connection.ExecuteAsync(
                    "DELETE FROM events WHERE account_id = @accountId AND region = @region AND event_time < @cut", cut, transaction).ConfigureAwait(false);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return removed;
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

        var parameters = LookupParameters(query);
        var rows = (await connection.QueryAsync<EventRow>(
                new CommandDefinition(LookupSql(query.Attribute?.Key, query.After is not null), parameters, cancellationToken: cancellationToken))
            .ConfigureAwait(false)).AsList();

        var more = rows.Count > query.MaxResults;
        if (more)
        {
            rows.RemoveRange(query.MaxResults, rows.Count - query.MaxResults);
        }

        var resources = rows.Count == 0
            ? null
            : (await connection.QueryAsync<ResourceRow>(
                    new CommandDefinition(
                        "SELECT seq AS Seq, resource_type AS ResourceType, resource_name AS ResourceName FROM event_resources WHERE seq IN @Seqs ORDER BY seq, position",
                        new { Seqs = rows.Select(r => r.Seq).ToArray() },
                        cancellationToken: cancellationToken))
                .ConfigureAwait(false))
                .ToLookup(r => r.Seq);

        var events = rows.Select(r => new LookedUpEvent(
                r.EventId,
                r.EventName,
                r.ReadOnly == "true",
                r.AccessKeyId,
                DateTimeOffset.FromUnixTimeSeconds(r.EventTime),
                r.EventSource,
                r.Username,
                [.. resources![r.Seq].Select(x => new LookedUpResource(x.ResourceType, x.ResourceName))],
                r.Record))
            .ToList();
        return new AuditEventPage(events, more ? new AuditCursor(rows[^1].EventTime, rows[^1].Seq) : null);
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

    /// <summary>The lookup's SQL: a fixed text per attribute (values are parameters), one index range scan, newest first.</summary>
    internal static string LookupSql(LookupAttributeKey? key, bool afterCursor)
    {
        const string columns =
            "e.seq AS Seq, e.event_id AS EventId, e.event_time AS EventTime, e.event_name AS EventName, e.event_source AS EventSource, "
            + "e.read_only AS ReadOnly, e.access_key_id AS AccessKeyId, e.username AS Username, e.record AS Record";
        var byResource = key is LookupAttributeKey.ResourceName or LookupAttributeKey.ResourceType;
        var t = byResource ? "r" : "e";
        var from = byResource ? "event_resources r CROSS JOIN events e ON e.seq = r.seq" : "events e";
        var filter = key switch
        {
            null => string.Empty,
            LookupAttributeKey.ResourceName => " AND r.resource_name = @Value",
            LookupAttributeKey.ResourceType => " AND r.resource_type = @Value AND r.first_of_type = 1",
            LookupAttributeKey.EventId => " AND e.event_id = @Value",
            LookupAttributeKey.EventName => " AND e.event_name = @Value",
            LookupAttributeKey.ReadOnly => " AND e.read_only = @Value",
            LookupAttributeKey.Username => " AND e.username = @Value",
            // Served by ix_events_time with a filter, only when a scope has more than one source (see LookupAsync).
            LookupAttributeKey.EventSource => " AND e.event_source = @Value",
            LookupAttributeKey.AccessKeyId => " AND e.access_key_id = @Value",
            _ => throw new ArgumentOutOfRangeException(nameof(key), key, null),
        };
        // The cursor: events strictly older in (time, seq) order. The first half narrows the index range, the second
        // skips what the previous page already returned at that same second.
        var cursor = afterCursor
            ? $" AND {t}.event_time <= @CursorTime AND ({t}.event_time < @CursorTime OR {t}.seq < @CursorSeq)"
            : string.Empty;
        return $"SELECT {columns} FROM {from} WHERE {t}.account_id = @AccountId AND {t}.region = @Region{filter}"
            + $" AND {t}.event_time >= @Start AND {t}.event_time <= @End{cursor}"
            + $" ORDER BY {t}.event_time DESC, {t}.seq DESC LIMIT @Limit";
    }

    /// <summary>The query's parameters; the time range in whole seconds (inclusive), as records show their time.</summary>
    internal static DynamicParameters LookupParameters(AuditLookup query)
    {
        var parameters = new DynamicParameters();
        parameters.Add("AccountId", query.AccountId);
        parameters.Add("Region", query.Region);
        parameters.Add("Value", query.Attribute is { } attribute ? Normalize(attribute.Key, attribute.Value) : null);
        parameters.Add("Start", query.StartTime is { } start ? CeilingSeconds(start) : long.MinValue);
        parameters.Add("End", query.EndTime is { } end ? end.ToUnixTimeSeconds() : long.MaxValue);
        parameters.Add("CursorTime", query.After?.EventTime ?? 0);
        parameters.Add("CursorSeq", query.After?.Sequence ?? 0);
        parameters.Add("Limit", query.MaxResults + 1);
        return parameters;
    }

    /// <summary>Event ids are stored as lower-case GUIDs; an id written in upper case still finds its event.</summary>
    private static string Normalize(LookupAttributeKey key, string value) =>
        key == LookupAttributeKey.EventId && Guid.TryParse(value, out var id) ? id.ToString() : value;

    private static long CeilingSeconds(DateTimeOffset time)
    {
        var seconds = time.ToUnixTimeSeconds();
        return DateTimeOffset.FromUnixTimeSeconds(seconds) < time ? seconds + 1 : seconds;
    }

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        return connection;
    }

    /// <summary>
    /// The writer's own connection and its prepared commands. Sequence numbers are assigned here (the file has one
    /// writer), so an event's resources are inserted without reading its row back.
    /// </summary>
    private sealed class Writer : IDisposable
    {
        private readonly SqliteConnection _connection;
        private readonly SqliteCommand _event;
        private readonly SqliteCommand _resource;
        private readonly SqliteCommand _use;
        private readonly SqliteCommand _scope;
        private readonly HashSet<(string AccountId, string Region, string EventSource)> _scopes = [];
        private readonly Dictionary<string, IndexedEvent> _newestUse = new(StringComparer.Ordinal);
        private readonly HashSet<string> _arns = new(StringComparer.Ordinal);
        private long _nextSeq;

        public Writer(string connectionString)
        {
            _connection = new SqliteConnection(connectionString);
            _connection.Open();
            // WAL with NORMAL: a commit survives a crash of the process; the log files are the record of last resort.
            // Appends touch the tail of each index: a large cache and infrequent checkpoints write each page once per
            // many batches rather than once per batch (the WAL stays under 64 MiB).
            _connection.Execute("PRAGMA synchronous = NORMAL;");
            _connection.Execute("PRAGMA cache_size = -65536;");
            _connection.Execute("PRAGMA wal_autocheckpoint = 16384;");
            _connection.Execute("PRAGMA journal_size_limit = 67108864;");
            _nextSeq = _connection.ExecuteScalar<long>("SELECT COALESCE(MAX(seq), 0) + 1 FROM events");

            _event = Prepare(
                """
                INSERT INTO events (seq, event_id, account_id, region, event_time, event_name, event_source, read_only,
                                    access_key_id, username, request_id, record)
                VALUES ($seq, $event_id, $account_id, $region, $event_time, $event_name, $event_source, $read_only,
                        $access_key_id, $username, $request_id, $record)
                """,
                "$seq", "$event_id", "$account_id", "$region", "$event_time", "$event_name", "$event_source", "$read_only",
                "$access_key_id", "$username", "$request_id", "$record");
            _resource = Prepare(
                """
                INSERT INTO event_resources (seq, position, account_id, region, event_time, resource_type, resource_name, first_of_type)
                VALUES ($seq, $position, $account_id, $region, $event_time, $resource_type, $resource_name, $first_of_type)
                """,
                "$seq", "$position", "$account_id", "$region", "$event_time", "$resource_type", "$resource_name", "$first_of_type");
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
            var seq = _nextSeq;
            using var transaction = _connection.BeginTransaction();
            _event.Transaction = transaction;
            _resource.Transaction = transaction;
            _use.Transaction = transaction;
            _scope.Transaction = transaction;
            _newestUse.Clear();
            var newScopes = new List<(string AccountId, string Region, string EventSource)>();
            foreach (var e in events)
            {
                var time = e.EventTime.ToUnixTimeSeconds();
                var p = _event.Parameters;
                p[0].Value = seq;
                p[1].Value = e.EventId.ToString();
                p[2].Value = e.AccountId;
                p[3].Value = e.Region;
                p[4].Value = time;
                p[5].Value = e.EventName;
                p[6].Value = e.EventSource;
                p[7].Value = e.ReadOnly ? "true" : "false";
                p[8].Value = (object?)e.AccessKeyId ?? DBNull.Value;
                p[9].Value = e.Username;
                p[10].Value = e.RequestId;
                p[11].Value = e.Record;
                _event.ExecuteNonQuery();
                if (!_scopes.Contains((e.AccountId, e.Region, e.EventSource)) && !newScopes.Contains((e.AccountId, e.Region, e.EventSource)))
                {
                    newScopes.Add((e.AccountId, e.Region, e.EventSource));
                    var sp = _scope.Parameters;
                    sp[0].Value = e.AccountId;
                    sp[1].Value = e.Region;
                    sp[2].Value = e.EventSource;
                    _scope.ExecuteNonQuery();
                }

                _arns.Clear();
                var position = 0;
                foreach (var arn in e.ResourceArns)
                {
                    if (!_arns.Add(arn))
                    {
                        continue;
                    }

                    var r = _resource.Parameters;
                    r[0].Value = seq;
                    r[1].Value = position;
                    r[2].Value = e.AccountId;
                    r[3].Value = e.Region;
                    r[4].Value = time;
                    r[5].Value = CloudTrailRecord.ResourceType;
                    r[6].Value = arn;
                    // Every resource of a KMS record has the one type, so the first row is the first of its type.
                    r[7].Value = position == 0 ? 1 : 0;
                    _resource.ExecuteNonQuery();
                    position++;
                }

                foreach (var keyArn in e.UsedKeyArns)
                {
                    if (!_newestUse.TryGetValue(keyArn, out var newest) || e.EventTime >= newest.EventTime)
                    {
                        _newestUse[keyArn] = e;
                    }
                }

                seq++;
            }

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

            transaction.Commit();
            _nextSeq = seq;
            _scopes.UnionWith(newScopes);
        }

        public void Dispose()
        {
            _event.Dispose();
            _resource.Dispose();
            _use.Dispose();
            _scope.Dispose();
            _connection.Dispose();
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

    private sealed record EventRow(
        long Seq, string EventId, long EventTime, string EventName, string EventSource, string ReadOnly, string? AccessKeyId, string Username, byte[] Record);

    private sealed record ResourceRow(long Seq, string ResourceType, string ResourceName);

    private sealed record UseRow(string Operation, long UsedAt, string EventId, string RequestId);
}
