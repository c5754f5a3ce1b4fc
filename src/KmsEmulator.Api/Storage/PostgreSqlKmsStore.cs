using System.Data;
using Dapper;
using KmsEmulator.Api.Keys;
using Npgsql;
using static KmsEmulator.Api.Storage.StoreRows;

namespace KmsEmulator.Api.Storage;

/// <summary>
/// <see cref="IKmsStore"/> on PostgreSQL through Npgsql and Dapper, for emulators that share one store: the schema,
/// statements and row mapping of the SQLite store (<see cref="StoreRows"/>), its own numbered migrations
/// (<see cref="PostgreSqlMigrations"/>), one transaction per call.
/// </summary>
/// <remarks>
/// Several processes may write at once, so each write is made safe against the others inside its transaction (READ
/// COMMITTED): every statement that changes a key row checks the version it expects in its WHERE clause
/// (<c>UPDATE keys ... WHERE version = @prev</c>) and the count of rows it changed. PostgreSQL locks the row for the rest
/// of the transaction and, when another transaction changed it meanwhile, waits for that one and then checks the
/// condition against the committed row, so of two writes computed from the same version exactly one is made and the
/// other throws <see cref="KeyVersionConflictException"/>. Every write locks its key rows before any other row, and
/// several keys in the order of (account, region, key id), so two writes never wait for each other in a circle.
/// <see cref="LoadAsync"/> reads every table in one REPEATABLE READ snapshot.
/// </remarks>
public sealed class PostgreSqlKmsStore : IKmsStore, IStoreProbe, IAsyncDisposable, IDisposable
{
    /// <summary>The advisory lock that orders the change feed's numbers by commit (<see cref="AppendAsync"/>).</summary>
    private const long ChangeFeedLockKey = 0x6B6D_7365_6D75_0002; // "kmsemu", 2

    private readonly NpgsqlDataSource _dataSource;

    /// <summary>The same database without pooling, for the health probe: each probe is a fresh connection.</summary>
    private readonly NpgsqlDataSource _probeDataSource;

    private PostgreSqlKmsStore(NpgsqlDataSource dataSource, NpgsqlDataSource probeDataSource, string storeId, string location)
    {
        _dataSource = dataSource;
        _probeDataSource = probeDataSource;
        StoreId = storeId;
        Location = location;
    }

    public string StoreId { get; }

    /// <summary>Where the store is, for logs: host, port, database and user, never the password.</summary>
    public string Location { get; }

    /// <summary>
    /// Connects to the database named by <paramref name="connectionString"/> (an Npgsql connection string; the database
    /// must exist), applies pending migrations and reads the store id, creating it on first use.
    /// </summary>
    /// <exception cref="ArgumentException">The connection string is malformed (the message names the keyword, not the value).</exception>
    public static async Task<PostgreSqlKmsStore> OpenAsync(string connectionString, CancellationToken cancellationToken = default)
    {
        var settings = new NpgsqlConnectionStringBuilder(connectionString);
        var probeSettings = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false, Timeout = 5, CommandTimeout = 5 };
        var dataSource = NpgsqlDataSource.Create(settings);
        var probeDataSource = NpgsqlDataSource.Create(probeSettings);
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            // One emulator at a time migrates; the others wait, then find it done. The first store id stored wins.
            var storeId = await PostgreSqlMigrations.MigrateAndReadSettingAsync(
                connection, "store_meta", "store_id", Guid.NewGuid().ToString("N")[..12], cancellationToken);

            return new PostgreSqlKmsStore(dataSource, probeDataSource, storeId, Describe(settings));
        }
        catch
        {
            await dataSource.DisposeAsync();
            await probeDataSource.DisposeAsync();
            throw;
        }
    }

    /// <summary>Host, port, database and user of a connection string, for messages; never its password.</summary>
    public static string Describe(NpgsqlConnectionStringBuilder settings) =>
        $"{settings.Host ?? "localhost"}:{settings.Port}/{settings.Database ?? settings.Username ?? "(default database)"}"
        + (settings.Username is { Length: > 0 } user ? $" as {user}" : string.Empty);

    public async Task<StoreSnapshot> LoadAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        // One snapshot for every table: under READ COMMITTED each SELECT would see the writes committed before it.
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken);
        var snapshot = Snapshot(
            await connection.QueryAsync<KeyRow>(SelectKeys, transaction: transaction),
            await connection.QueryAsync<MaterialRow>(SelectMaterials, transaction: transaction),
            await connection.QueryAsync<ImportParametersRow>(SelectImportParameters, transaction: transaction),
            await connection.QueryAsync<TagRow>(SelectTags, transaction: transaction),
            await connection.QueryAsync<GrantRow>(SelectGrants, transaction: transaction),
            await connection.QueryAsync<AliasRow>(SelectAliases, transaction: transaction)) with
        {
            ChangeSequence = await connection.ExecuteScalarAsync<long>(SelectLastChange, transaction: transaction),
        };
        await transaction.CommitAsync(cancellationToken);
        return snapshot;
    }

    public Task<StoreSnapshot> LoadSomeAsync(IReadOnlyCollection<string> keyIds, IReadOnlyCollection<string> aliasNames, CancellationToken cancellationToken = default) =>
        PostgreSqlReads.RunAsync(_dataSource, async connection =>
        {
            await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken);
            // Npgsql sends the lists as arrays (Dapper leaves array parameters whole for PostgreSQL).
            var snapshot = await StoreRows.LoadSomeAsync(connection, transaction, "key_id = ANY(@keyIds)", "alias_name = ANY(@aliasNames)",
                new { keyIds = keyIds.ToArray(), aliasNames = aliasNames.ToArray() });
            await transaction.CommitAsync(cancellationToken);
            return snapshot;
        }, cancellationToken);

    /// <summary>
    /// One statement, no transaction: the cheap question every request of a node sharing the store asks (and the one
    /// that, after a PostgreSQL restart, clears the dead connections from the pool: <see cref="PostgreSqlReads"/>).
    /// </summary>
    public Task<StoreChanges> ReadChangesAsync(long after, int limit, CancellationToken cancellationToken = default) =>
        PostgreSqlReads.RunAsync(_dataSource, async connection =>
        {
            var rows = (await connection.QueryAsync<ChangeReadRow>(new CommandDefinition(SelectChanges, new { after, limit }, cancellationToken: cancellationToken))).AsList();
            return Changes(rows, after, limit);
        }, cancellationToken);

    public async Task PruneChangesAsync(int keep, CancellationToken cancellationToken = default)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(PruneChanges, new { keep = Math.Max(keep, 1) }, cancellationToken: cancellationToken));
    }

    public Task SaveKeyAsync(KeyRecord key, CancellationToken cancellationToken = default) => SaveKeysAsync([key], cancellationToken);

    public async Task SaveKeysAsync(IReadOnlyList<KeyRecord> keys, CancellationToken cancellationToken = default)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // Each key's row is written (and so locked) before its other rows, and the keys in one order.
        foreach (var key in keys.OrderBy(k => KeyVersion.Of(k), LockOrder.Instance))
        {
            await WriteKeyAsync(connection, transaction, key);
        }

        await AppendAsync(connection, transaction, keys.Select(ChangeRow.Key));
        await transaction.CommitAsync(cancellationToken);
    }

    // Materials, tags, aliases, grants and import parameters go with the key (ON DELETE CASCADE).
    public async Task<bool> DeleteKeyAsync(KeyVersion current, CancellationToken cancellationToken = default)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var deleted = await connection.ExecuteAsync(DeleteKey, KeyParameters(current), transaction);
        if (deleted != 1 && await StoredVersionAsync(connection, transaction, current) is not null)
        {
            throw await ConflictAsync(connection, transaction, current, current.Version);
        }

        // Deleted, or there was no such key to delete.
        if (deleted == 1)
        {
            await AppendAsync(connection, transaction, [ChangeRow.Key(current)]);
        }

        await transaction.CommitAsync(cancellationToken);
        return deleted == 1;
    }

    public async Task<(int Keys, int Aliases)> DeleteAllAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // Writes in flight finish first and new ones wait (each writes a key row before anything else); reads go on.
        await connection.ExecuteAsync("LOCK TABLE keys IN SHARE ROW EXCLUSIVE MODE", transaction: transaction);
        var aliases = await connection.ExecuteAsync("DELETE FROM aliases", transaction: transaction);
        await connection.ExecuteAsync("DELETE FROM grants; DELETE FROM import_parameters; DELETE FROM key_tags; DELETE FROM key_materials;", transaction: transaction);
        var keys = await connection.ExecuteAsync("DELETE FROM keys", transaction: transaction);
        await AppendAsync(connection, transaction, [ChangeRow.Everything]);
        await transaction.CommitAsync(cancellationToken);
        return (keys, aliases);
    }

    public Task SaveAliasAsync(AliasRecord alias, IReadOnlyList<KeyVersion> next, CancellationToken cancellationToken = default) =>
        WriteAsync(next, WriteKind.Save, UpsertAlias, AliasParameters(alias), ChangeRow.Alias(alias.Scope, alias.AliasName), cancellationToken);

    public Task DeleteAliasAsync(KeyVersion next, string aliasName, CancellationToken cancellationToken = default) =>
        WriteAsync([next], WriteKind.Delete, DeleteAlias, new { next.Scope.AccountId, next.Scope.Region, aliasName }, ChangeRow.Alias(next.Scope, aliasName), cancellationToken);

    public Task SaveGrantAsync(KeyVersion next, GrantRecord grant, CancellationToken cancellationToken = default) =>
        WriteAsync([next], WriteKind.Save, InsertGrant, GrantRow.From(next.Scope, next.KeyId, grant), null, cancellationToken);

    public Task DeleteGrantAsync(KeyVersion next, string grantId, CancellationToken cancellationToken = default) =>
        WriteAsync([next], WriteKind.Delete, DeleteGrant, new { next.Scope.AccountId, next.Scope.Region, next.KeyId, grantId }, null, cancellationToken);

    private enum WriteKind
    {
        /// <summary>Inserts or replaces a row: the keys must exist at the version before.</summary>
        Save,

        /// <summary>Deletes a row: when there is none, nothing changes and no version steps.</summary>
        Delete,
    }

    /// <summary>One statement and the version steps of the keys it changes, in one transaction.</summary>
    private async Task WriteAsync(IReadOnlyList<KeyVersion> next, WriteKind kind, string sql, object parameters, ChangeRow? alias, CancellationToken cancellationToken)
    {
        var ordered = next.Order(LockOrder.Instance).ToList();
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        if (kind == WriteKind.Delete)
        {
            // The key rows are locked before the row to delete, as every other write does; whether that row is there
            // decides, as in the SQLite store, between changing nothing and checking the versions.
            foreach (var key in ordered)
            {
                await connection.ExecuteAsync("SELECT 1 FROM keys WHERE account_id = @AccountId AND region = @Region AND key_id = @KeyId FOR UPDATE", KeyParameters(key), transaction);
            }

            if (await connection.ExecuteAsync(sql, parameters, transaction) == 0)
            {
                await transaction.RollbackAsync(cancellationToken);
                return;
            }
        }

        foreach (var key in ordered)
        {
            if (await connection.ExecuteAsync(StepVersion, KeyParameters(key), transaction) != 1)
            {
                throw await ConflictAsync(connection, transaction, key, key.Version - 1);
            }
        }

        if (kind == WriteKind.Save)
        {
            await connection.ExecuteAsync(sql, parameters, transaction);
        }

        await AppendAsync(connection, transaction, alias is null ? next.Select(ChangeRow.Key) : next.Select(ChangeRow.Key).Append(alias));
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>
    /// Appends a write's entries to the change feed as the last thing before its commit, under a transaction-scoped
    /// advisory lock held until the commit. Identity values are taken in the order writers reach the lock, and a writer
    /// only gets it once the one before has committed (PostgreSQL makes a transaction visible before it releases its
    /// locks), so the numbers follow the order of commits: no reader ever sees a number while a smaller one is still to
    /// come. The lock serialises only this last step of writes (an insert and the commit), never reads.
    /// </summary>
    private static async Task AppendAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, IEnumerable<ChangeRow> changes)
    {
        await connection.ExecuteAsync("SELECT pg_advisory_xact_lock(@key)", new { key = ChangeFeedLockKey }, transaction);
        await AppendChangesAsync(connection, transaction, changes);
    }

    /// <summary>
    /// Connects afresh (not from the pool, whose connections may outlive the server's restart or the database) and reads
    /// the store id, which must be the one this store started with.
    /// </summary>
    public async Task<string?> ProbeAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            await using var connection = await _probeDataSource.OpenConnectionAsync(cancellationToken);
            var storeId = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(SelectStoreId, cancellationToken: cancellationToken));
            return storeId == StoreId ? null : "The database holds another store (its store id changed).";
        }
        catch (PostgresException e)
        {
            return $"The store cannot be read (PostgreSQL error {e.SqlState}: {e.MessageText}).";
        }
        catch (NpgsqlException e)
        {
            return $"The store cannot be reached ({e.Message}).";
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _dataSource.DisposeAsync();
        await _probeDataSource.DisposeAsync();
    }

    public void Dispose()
    {
        _dataSource.Dispose();
        _probeDataSource.Dispose();
    }

    /// <summary>The order in which a write locks the rows of several keys: account, region, key id (ordinal).</summary>
    private sealed class LockOrder : IComparer<KeyVersion>
    {
        public static readonly LockOrder Instance = new();

        public int Compare(KeyVersion x, KeyVersion y)
        {
            var order = string.CompareOrdinal(x.Scope.AccountId, y.Scope.AccountId);
            order = order != 0 ? order : string.CompareOrdinal(x.Scope.Region, y.Scope.Region);
            return order != 0 ? order : string.CompareOrdinal(x.KeyId, y.KeyId);
        }
    }
}
