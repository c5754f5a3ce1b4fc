using System.Data;
using System.Runtime.CompilerServices;
using Dapper;
using KmsEmulator.Api.Audit;
using KmsEmulator.Api.Keys;
using Npgsql;

namespace KmsEmulator.Api.Storage;

/// <summary>
/// The audit trail's index in the store's PostgreSQL database, one for every node on it: the tables and chunk format of
/// <see cref="SqliteAuditIndex"/> (<see cref="AuditChunks"/>; migration 0003 of the store's series), so LookupEvents
/// and GetKeyLastUsage on any node see what every node delivered. Each node still writes its own log files and digests
/// in its own data directory; only the index is shared.
/// </summary>
/// <remarks>
/// <para>
/// Several nodes append at once, each one transaction per delivered batch, sent as one round trip: a chunk row per
/// chunk with its term rows (chunk ids from the identity column, so the terms are inserted by the same statement), the
/// batch's scopes, and the newest use of each key, which replaces a key's row only when it is not older
/// (<see cref="AuditChunks.KeyUseUpsert"/>), so the last use never moves back whatever order nodes commit in. Rows two
/// nodes may both write (scopes, key uses) are written in ordinal order, so two appends never wait for each other in a
/// circle.
/// </para>
/// <para>
/// Appends hold a shared transaction-scoped advisory lock, a clear the exclusive one: a clear lets the appends in flight
/// finish and makes new ones wait, then deletes every node's events and key uses in one transaction. Pruning holds the
/// shared lock (it touches only old chunks, which appends never do) and an exclusive lock of its own, so two nodes
/// starting at once prune one after the other rather than deadlock on the same rows.
/// </para>
/// <para>
/// A lookup reads in one REPEATABLE READ snapshot; its candidate chunks are fetched a few at a time (keyset pages), so a
/// lookup that needs the newest chunk or two never transfers the directories of older ones.
/// </para>
/// </remarks>
public sealed class PostgreSqlAuditIndex : IAuditIndex, IKeyUsageHistory, IAsyncDisposable, IDisposable
{
    /// <summary>Appends and prunes hold it shared, a clear exclusive.</summary>
    private const long TrailLockKey = 0x6B6D_7365_6D75_0003; // "kmsemu", 3

    /// <summary>Held exclusive by a prune, so that prunes of two nodes take turns.</summary>
    private const long PruneLockKey = 0x6B6D_7365_6D75_0004; // "kmsemu", 4

    /// <summary>How many candidate chunks the first keyset page fetches; each next page four times as many, up to the most.</summary>
    private const int FirstCandidatePage = 4;

    private const int MostCandidatesPerPage = 256;

    private const string SelectTrackingStart = "SELECT value FROM audit_meta WHERE name = @name";

    private const string InsertChunk = """
        WITH chunk AS (
            INSERT INTO chunks (account_id, region, first_time, last_time, event_count, entries, records)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            RETURNING chunk_id)
        INSERT INTO chunk_terms (account_id, region, kind, value, last_time, chunk_id)
        SELECT $1, $2, term.kind, term.value, $4, chunk.chunk_id FROM chunk, unnest($8::integer[], $9::text[]) AS term (kind, value)
        """;

    private const string InsertScopes = """
        INSERT INTO event_scopes (account_id, region, event_source)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
        ON CONFLICT DO NOTHING
        """;

    private const string UpsertKeyUses = """
        INSERT INTO key_last_use (key_arn, operation, used_at, event_id, request_id)
        SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[])
        """ + "\n" + AuditChunks.KeyUseUpsert;

    private readonly NpgsqlDataSource _dataSource;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly AuditChunks.ChunkBatcher _batcher = new();
    private long _trackingStartTicks;

    private PostgreSqlAuditIndex(NpgsqlDataSource dataSource, DateTimeOffset trackingStart)
    {
        _dataSource = dataSource;
        _trackingStartTicks = trackingStart.UtcTicks;
    }

    /// <summary>
    /// Since when key uses are kept (GetKeyLastUsage's TrackingStartDate): one value for every node, set by the first node
    /// that opened the index on this database, reset by a clear on any node. Read again by every <see cref="FindAsync"/>,
    /// so a clear on another node shows here with the next GetKeyLastUsage.
    /// </summary>
    public DateTimeOffset TrackingStart => new(Interlocked.Read(ref _trackingStartTicks), TimeSpan.Zero);

    /// <summary>
    /// Connects to the database of <paramref name="connectionString"/> (the store's), applies the pending migrations of
    /// the store's series under its advisory lock, and reads the tracking start, recording <paramref name="clock"/>'s time
    /// when no node has yet.
    /// </summary>
    public static async Task<PostgreSqlAuditIndex> OpenAsync(string connectionString, TimeProvider clock, CancellationToken cancellationToken = default)
    {
        var dataSource = NpgsqlDataSource.Create(connectionString);
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            // The first node's tracking start wins; every node reads that one.
            var stored = await PostgreSqlMigrations.MigrateAndReadSettingAsync(
                connection, "audit_meta", AuditChunks.TrackingStartName, AuditChunks.Ticks(clock.GetUtcNow()), cancellationToken);
            return new PostgreSqlAuditIndex(dataSource, AuditChunks.FromTicks(stored));
        }
        catch
        {
            await dataSource.DisposeAsync();
            throw;
        }
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
            await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using var batch = new NpgsqlBatch(connection, transaction);
            batch.BatchCommands.Add(Command("SELECT pg_advisory_xact_lock_shared($1)", TrailLockKey));
            _batcher.Split(events, chunk => batch.BatchCommands.Add(ChunkCommand(chunk)));

            var scopes = _batcher.Scopes
                .OrderBy(s => s.AccountId, StringComparer.Ordinal).ThenBy(s => s.Region, StringComparer.Ordinal).ThenBy(s => s.EventSource, StringComparer.Ordinal)
                .ToList();
            batch.BatchCommands.Add(Command(
                InsertScopes, scopes.Select(s => s.AccountId).ToArray(), scopes.Select(s => s.Region).ToArray(), scopes.Select(s => s.EventSource).ToArray()));

            var uses = _batcher.NewestUse.OrderBy(u => u.Key, StringComparer.Ordinal).ToList();
            if (uses.Count > 0)
            {
                batch.BatchCommands.Add(Command(
                    UpsertKeyUses,
                    uses.Select(u => u.Key).ToArray(),
                    uses.Select(u => u.Value.EventName).ToArray(),
                    uses.Select(u => u.Value.EventTime.UtcTicks).ToArray(),
                    uses.Select(u => u.Value.EventId.ToString()).ToArray(),
                    uses.Select(u => u.Value.RequestId).ToArray()));
            }

            await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Deletes every node's events and key uses (a reset with the audit trail cleared), after appends in flight.</summary>
    public async ValueTask ClearAsync(DateTimeOffset trackingStart, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await connection.ExecuteAsync(new CommandDefinition(
            "SELECT pg_advisory_xact_lock(@key)", new { key = TrailLockKey }, transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
        await connection.ExecuteAsync(new CommandDefinition(
            AuditChunks.ClearSql, new { value = AuditChunks.Ticks(trackingStart) }, transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        Interlocked.Exchange(ref _trackingStartTicks, trackingStart.UtcTicks);
    }

    public async ValueTask<int> PruneAsync(DateTimeOffset before, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await connection.ExecuteAsync(new CommandDefinition(
            "SELECT pg_advisory_xact_lock_shared(@trail); SELECT pg_advisory_xact_lock(@prune);",
            new { trail = TrailLockKey, prune = PruneLockKey },
            transaction,
            cancellationToken: cancellationToken)).ConfigureAwait(false);
        // A chunk goes when its newest event is older than the cut, with its terms (which carry the same last time).
        var cut = before.ToUnixTimeSeconds();
        var removed = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "WITH gone AS (DELETE FROM chunks WHERE last_time < @cut RETURNING event_count) SELECT coalesce(sum(event_count), 0) FROM gone",
            new { cut },
            transaction,
            cancellationToken: cancellationToken)).ConfigureAwait(false);
        await connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM chunk_terms WHERE last_time < @cut", new { cut }, transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return (int)Math.Min(removed, int.MaxValue);
    }

    public async ValueTask<AuditEventPage> LookupAsync(AuditLookup query, CancellationToken cancellationToken) =>
        await PostgreSqlReads.RunAsync(_dataSource, async connection =>
        {
            await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken).ConfigureAwait(false);
            var page = await AuditChunks.LookupAsync(
                connection, transaction, query, filter => CandidatesAsync(connection, transaction, query, filter, cancellationToken), cancellationToken).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return page;
        }, cancellationToken).ConfigureAwait(false);

    /// <summary>The newest use of the key by any node; also brings <see cref="TrackingStart"/> up to date.</summary>
    public async ValueTask<KeyUsage?> FindAsync(string keyArn, CancellationToken cancellationToken) =>
        await PostgreSqlReads.RunAsync(_dataSource, async connection =>
        {
            await using var results = await connection.QueryMultipleAsync(new CommandDefinition(
                SelectTrackingStart + ";\n" + AuditChunks.SelectKeyUse,
                new { name = AuditChunks.TrackingStartName, keyArn },
                cancellationToken: cancellationToken)).ConfigureAwait(false);
            if (await results.ReadSingleOrDefaultAsync<string>().ConfigureAwait(false) is { } trackingStart)
            {
                Interlocked.Exchange(ref _trackingStartTicks, AuditChunks.FromTicks(trackingStart).UtcTicks);
            }

            return (await results.ReadSingleOrDefaultAsync<AuditChunks.KeyUseRow>().ConfigureAwait(false))?.ToUsage();
        }, cancellationToken).ConfigureAwait(false);

    public async ValueTask DisposeAsync() => await _dataSource.DisposeAsync();

    public void Dispose() => _dataSource.Dispose();

    /// <summary>
    /// One keyset page of candidate chunks, newest last event first: the chunks of the scope (ix_chunks_time), or with an
    /// attribute those holding its value (chunk_terms' key), before (<c>@afterTime</c>, <c>@afterChunk</c>).
    /// </summary>
    internal static string CandidateSql(bool byTerm) => byTerm
        ? """
          SELECT c.chunk_id, c.last_time, c.entries
          FROM chunk_terms t JOIN chunks c ON c.chunk_id = t.chunk_id
          WHERE t.account_id = @account AND t.region = @region AND t.kind = @kind AND t.value = @value
            AND t.last_time >= @start AND (t.last_time, t.chunk_id) < (@afterTime, @afterChunk) AND c.first_time <= @upper
          ORDER BY t.last_time DESC, t.chunk_id DESC
          LIMIT @limit
          """
        : """
          SELECT c.chunk_id, c.last_time, c.entries
          FROM chunks c
          WHERE c.account_id = @account AND c.region = @region
            AND c.last_time >= @start AND (c.last_time, c.chunk_id) < (@afterTime, @afterChunk) AND c.first_time <= @upper
          ORDER BY c.last_time DESC, c.chunk_id DESC
          LIMIT @limit
          """;

    /// <summary>
    /// The parameters of <see cref="CandidateSql"/> for the page after (<paramref name="afterTime"/>,
    /// <paramref name="afterChunk"/>) of at most <paramref name="limit"/> chunks.
    /// </summary>
    internal static void AddCandidateParameters(NpgsqlCommand command, AuditLookup query, AuditChunks.EventFilter filter, long afterTime, long afterChunk, int limit)
    {
        AuditChunks.AddCandidateParameters(command, query, filter);
        AuditChunks.AddParameter(command, "@afterTime", afterTime);
        AuditChunks.AddParameter(command, "@afterChunk", afterChunk);
        AuditChunks.AddParameter(command, "@limit", limit);
    }

    /// <summary>
    /// The candidate chunks of a lookup, a keyset page at a time: stopping early (the page is full) leaves at most the rest
    /// of one small page unread, where one query for them all would make the server send every directory.
    /// </summary>
    private static async IAsyncEnumerable<AuditChunks.Candidate> CandidatesAsync(
        NpgsqlConnection connection,
        NpgsqlTransaction transaction,
        AuditLookup query,
        AuditChunks.EventFilter filter,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var (afterTime, afterChunk, limit) = (long.MaxValue, long.MaxValue, FirstCandidatePage);
        while (true)
        {
            await using var command = new NpgsqlCommand(CandidateSql(filter.Term is not null), connection, transaction);
            AddCandidateParameters(command, query, filter, afterTime, afterChunk, limit);
            var rows = 0;
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    rows++;
                    (afterChunk, afterTime) = (reader.GetInt64(0), reader.GetInt64(1));
                    yield return new AuditChunks.Candidate(afterChunk, afterTime, (byte[])reader.GetValue(2));
                }
            }

            if (rows < limit)
            {
                yield break;
            }

            limit = Math.Min(limit * 4, MostCandidatesPerPage);
        }
    }

    /// <summary>A finished chunk's statement: its row and its terms. Its buffers are copied: the builder is reused.</summary>
    private static NpgsqlBatchCommand ChunkCommand(AuditChunks.Chunk.Builder chunk)
    {
        var (entries, records) = chunk.Finish();
        var terms = chunk.Terms.ToList();
        return Command(
            InsertChunk,
            chunk.AccountId,
            chunk.Region,
            chunk.FirstTime,
            chunk.LastTime,
            chunk.Count,
            entries.Buffer.AsSpan(0, entries.Length).ToArray(),
            records.Buffer.AsSpan(0, records.Length).ToArray(),
            terms.Select(t => (int)t.Kind).ToArray(),
            terms.Select(t => t.Value).ToArray());
    }

    /// <summary>A statement of a batch with positional parameters (<c>$1</c>, <c>$2</c>, ...).</summary>
    private static NpgsqlBatchCommand Command(string sql, params object[] values)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var value in values)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }

        return command;
    }
}
