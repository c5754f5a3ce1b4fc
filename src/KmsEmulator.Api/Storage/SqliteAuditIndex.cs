using System.Runtime.CompilerServices;
using Dapper;
using KmsEmulator.Api.Audit;
using KmsEmulator.Api.Keys;
using Microsoft.Data.Sqlite;
using Serilog;

namespace KmsEmulator.Api.Storage;

/// <summary>
/// The audit trail's index on its own SQLite file (<c>&lt;data-dir&gt;/audit.db</c>, 0600, WAL, migrations from
/// Storage/AuditMigrations): the events in chunks (<see cref="AuditChunks"/>: up to <see cref="AuditChunks.MaxChunkEvents"/>
/// events of one account and region per row, with their records), a row per distinct attribute value per chunk, and
/// the newest use of each key (<see cref="IKeyUsageHistory"/> for GetKeyLastUsage). No lookup reads a log file. The
/// same tables and chunk format serve several nodes on PostgreSQL (<see cref="PostgreSqlAuditIndex"/>).
/// <para>
/// Why chunks: a row and nine index entries per event cost the writer about 35 µs of CPU per event, a fifth of the
/// emulator's throughput under load; a chunk costs one row and a few term rows for hundreds of events. A lookup pays
/// instead: it reads the chunks that can hold a match, newest first, filters their directories in memory and stops as
/// soon as no older chunk can change the page.
/// </para>
/// <para>
/// Appends come from one writer (audit delivery), one transaction per batch, through commands prepared once on a
/// connection kept open for it; lookups use pooled connections of their own, each in a read transaction (one
/// snapshot), and never wait for the writer (WAL).
/// </para>
/// </summary>
public sealed class SqliteAuditIndex : IAuditIndex, IKeyUsageHistory, IDisposable
{
    public const string FileName = "audit.db";

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

        var stored = connection.QuerySingleOrDefault<string>("SELECT value FROM audit_meta WHERE name = @name", new { name = AuditChunks.TrackingStartName });
        DateTimeOffset trackingStart;
        if (stored is null)
        {
            trackingStart = clock.GetUtcNow();
            connection.Execute(
                "INSERT INTO audit_meta (name, value) VALUES (@name, @value)",
                new { name = AuditChunks.TrackingStartName, value = AuditChunks.Ticks(trackingStart) });
        }
        else
        {
            trackingStart = AuditChunks.FromTicks(stored);
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
            await connection.ExecuteAsync(AuditChunks.ClearSql, new { value = AuditChunks.Ticks(trackingStart) }, transaction).ConfigureAwait(false);
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
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        // Deferred: a read transaction, whose snapshot (WAL) starts at its first read and never blocks the writer.
        await using var transaction = connection.BeginTransaction(deferred: true);
        var page = await AuditChunks.LookupAsync(
            connection, transaction, query, filter => CandidatesAsync(connection, transaction, query, filter, cancellationToken), cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return page;
    }

    public async ValueTask<KeyUsage?> FindAsync(string keyArn, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        var row = await connection.QuerySingleOrDefaultAsync<AuditChunks.KeyUseRow>(
            new CommandDefinition(AuditChunks.SelectKeyUse, new { keyArn }, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return row?.ToUsage();
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

    /// <summary>
    /// The candidate chunks' SQL: one index range, newest last event first. Without an attribute, the chunks of the scope
    /// through ix_chunks_time; with one, the chunks holding its value through chunk_terms' key.
    /// </summary>
    internal static string CandidateSql(bool byTerm) => byTerm
        ? """
          SELECT c.chunk_id, c.last_time, c.entries
          FROM chunk_terms t CROSS JOIN chunks c ON c.chunk_id = t.chunk_id
          WHERE t.account_id = @account AND t.region = @region AND t.kind = @kind AND t.value = @value
            AND t.last_time >= @start AND c.first_time <= @upper
          ORDER BY t.last_time DESC, t.chunk_id DESC
          """
        : """
          SELECT c.chunk_id, c.last_time, c.entries
          FROM chunks c
          WHERE c.account_id = @account AND c.region = @region AND c.last_time >= @start AND c.first_time <= @upper
          ORDER BY c.last_time DESC, c.chunk_id DESC
          """;

    /// <summary>The candidate chunks of a lookup (<see cref="CandidateSql"/>), read as SQLite steps through them.</summary>
    private static async IAsyncEnumerable<AuditChunks.Candidate> CandidatesAsync(
        SqliteConnection connection,
        SqliteTransaction transaction,
        AuditLookup query,
        AuditChunks.EventFilter filter,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = CandidateSql(filter.Term is not null);
        AuditChunks.AddCandidateParameters(command, query, filter);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            yield return new AuditChunks.Candidate(reader.GetInt64(0), reader.GetInt64(1), (byte[])reader.GetValue(2));
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
        var resources = connection.Query<(long Seq, string Name)>(
                "SELECT seq, resource_name FROM legacy_event_resources ORDER BY seq, position", transaction: transaction)
            .ToLookup(r => r.Seq, r => r.Name);
        foreach (var rows in connection.Query<LegacyRow>(
                     """
                     SELECT seq AS Seq, event_id AS EventId, account_id AS AccountId, region AS Region, event_time AS EventTime,
                            event_name AS EventName, event_source AS EventSource, read_only AS ReadOnly, access_key_id AS AccessKeyId,
                            username AS Username, request_id AS RequestId, record AS Record
                     FROM legacy_events ORDER BY seq
                     """,
                     transaction: transaction,
                     buffered: false).Chunk(AuditChunks.MaxChunkEvents))
        {
            var records = RecordSlice.Pack(rows.Select(r => r.Record));
            writer.AppendInTransaction(
                [.. rows.Select((row, i) => new IndexedEvent(
                    Guid.Parse(row.EventId), row.AccountId, row.Region, DateTimeOffset.FromUnixTimeSeconds(row.EventTime), row.EventName,
                    row.EventSource, row.ReadOnly == "true", row.AccessKeyId, row.Username, [.. resources[row.Seq]], [], row.RequestId,
                    records[i]))],
                transaction);
        }
        connection.Execute("DROP TABLE legacy_event_resources; DROP TABLE legacy_events;", transaction: transaction);
        transaction.Commit();
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
        private readonly AuditChunks.ChunkBatcher _batcher = new();
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
                """ + "\n" + AuditChunks.KeyUseUpsert,
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
            _batcher.Split(events, Write);
            var newScopes = _batcher.Scopes.Where(scope => !_scopes.Contains(scope)).ToList();
            foreach (var (accountId, region, eventSource) in newScopes)
            {
                var sp = _scope.Parameters;
                sp[0].Value = accountId;
                sp[1].Value = region;
                sp[2].Value = eventSource;
                _scope.ExecuteNonQuery();
            }

            foreach (var (keyArn, e) in _batcher.NewestUse)
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

        private void Write(AuditChunks.Chunk.Builder chunk)
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

}
