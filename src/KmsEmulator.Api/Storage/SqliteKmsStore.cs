using Dapper;
using KmsEmulator.Api.Keys;
using Microsoft.Data.Sqlite;
using Serilog;
using static KmsEmulator.Api.Storage.StoreRows;

namespace KmsEmulator.Api.Storage;

/// <summary>
/// <see cref="IKmsStore"/> on a SQLite file through Dapper: explicit parameterised SQL, WAL journal,
/// numbered migrations embedded in the assembly, one transaction per call. Every write checks and increments the
/// version of each key it changes in that transaction (<see cref="KeyVersionConflictException"/> when it is stale).
/// The rows, statements and mapping are shared with the PostgreSQL store (<see cref="StoreRows"/>).
/// </summary>
public sealed class SqliteKmsStore : IKmsStore, IStoreProbe
{
    private readonly string _connectionString;

    /// <summary>The same file, opened afresh for each health probe: never created, never taken from the pool.</summary>
    private readonly string _probeConnectionString;

    private SqliteKmsStore(string connectionString, string storeId)
    {
        _connectionString = connectionString;
        _probeConnectionString = new SqliteConnectionStringBuilder(connectionString)
        {
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = false,
            DefaultTimeout = 5,
        }.ToString();
        StoreId = storeId;
    }

    public string StoreId { get; }

    /// <summary>
    /// Opens (creating when missing) the database file, applies pending migrations and reads the store id. On Unix a
    /// directory it creates is 0700 and the database files are 0600 (<see cref="StoreFilePermissions"/>).
    /// </summary>
    /// <param name="warning">Where warnings about file permissions go; by default the Serilog logger.</param>
    public static async Task<SqliteKmsStore> OpenAsync(string path, Action<string>? warning = null, CancellationToken cancellationToken = default)
    {
        warning ??= message => Log.Warning("Storage: {Message}", message);
        StoreFilePermissions.PrepareDirectory(path, warning);
        StoreFilePermissions.RestrictDatabaseFiles(path, warning);
        var connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            ForeignKeys = true,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();

        await using var connection = new SqliteConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await connection.ExecuteAsync("PRAGMA journal_mode = WAL;");
        await SqliteMigrations.ApplyAsync(connection, cancellationToken);

        var storeId = await connection.QuerySingleOrDefaultAsync<string>(StoreRows.SelectStoreId);
        if (storeId is null)
        {
            storeId = Guid.NewGuid().ToString("N")[..12];
            await connection.ExecuteAsync("INSERT INTO store_meta (name, value) VALUES ('store_id', @storeId)", new { storeId });
        }

        return new SqliteKmsStore(connectionString, storeId);
    }

    public async Task<StoreSnapshot> LoadAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

        var snapshot = StoreRows.Snapshot(
            await connection.QueryAsync<KeyRow>(StoreRows.SelectKeys, transaction: transaction),
            await connection.QueryAsync<MaterialRow>(StoreRows.SelectMaterials, transaction: transaction),
            await connection.QueryAsync<ImportParametersRow>(StoreRows.SelectImportParameters, transaction: transaction),
            await connection.QueryAsync<TagRow>(StoreRows.SelectTags, transaction: transaction),
            await connection.QueryAsync<GrantRow>(StoreRows.SelectGrants, transaction: transaction),
            await connection.QueryAsync<AliasRow>(StoreRows.SelectAliases, transaction: transaction)) with
        {
            ChangeSequence = await connection.ExecuteScalarAsync<long>(StoreRows.SelectLastChange, transaction: transaction),
        };
        await transaction.CommitAsync(cancellationToken);
        return snapshot;
    }

    public async Task<StoreSnapshot> LoadSomeAsync(IReadOnlyCollection<string> keyIds, IReadOnlyCollection<string> aliasNames, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // Dapper expands a list parameter after IN into one parameter per element.
        var snapshot = await StoreRows.LoadSomeAsync(connection, transaction, "key_id IN @keyIds", "alias_name IN @aliasNames",
            new { keyIds = keyIds.ToArray(), aliasNames = aliasNames.ToArray() });
        await transaction.CommitAsync(cancellationToken);
        return snapshot;
    }

    public async Task<StoreChanges> ReadChangesAsync(long after, int limit, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        var rows = (await connection.QueryAsync<ChangeReadRow>(new CommandDefinition(StoreRows.SelectChanges, new { after, limit }, cancellationToken: cancellationToken))).AsList();
        return StoreRows.Changes(rows, after, limit);
    }

    public async Task PruneChangesAsync(int keep, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(StoreRows.PruneChanges, new { keep = Math.Max(keep, 1) }, cancellationToken: cancellationToken));
    }

    public Task SaveKeyAsync(KeyRecord key, CancellationToken cancellationToken = default) => SaveKeysAsync([key], cancellationToken);

    public async Task SaveKeysAsync(IReadOnlyList<KeyRecord> keys, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        foreach (var key in keys)
        {
            await StoreRows.WriteKeyAsync(connection, transaction, key);
        }

        await StoreRows.AppendChangesAsync(connection, transaction, keys.Select(ChangeRow.Key));
        await transaction.CommitAsync(cancellationToken);
    }

    // Materials, tags, aliases and grants go with the key (ON DELETE CASCADE).
    public async Task<bool> DeleteKeyAsync(KeyVersion current, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var deleted = await connection.ExecuteAsync(StoreRows.DeleteKey, StoreRows.KeyParameters(current), transaction);
        if (deleted != 1 && await StoreRows.StoredVersionAsync(connection, transaction, current) is not null)
        {
            throw await StoreRows.ConflictAsync(connection, transaction, current, current.Version);
        }

        // Deleted, or there was no such key to delete.
        if (deleted == 1)
        {
            await StoreRows.AppendChangesAsync(connection, transaction, [ChangeRow.Key(current)]);
        }

        await transaction.CommitAsync(cancellationToken);
        return deleted == 1;
    }

    public async Task<(int Keys, int Aliases)> DeleteAllAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var aliases = await connection.ExecuteAsync("DELETE FROM aliases", transaction: transaction);
        await connection.ExecuteAsync("DELETE FROM grants; DELETE FROM import_parameters; DELETE FROM key_tags; DELETE FROM key_materials;", transaction: transaction);
        var keys = await connection.ExecuteAsync("DELETE FROM keys", transaction: transaction);
        await StoreRows.AppendChangesAsync(connection, transaction, [ChangeRow.Everything]);
        await transaction.CommitAsync(cancellationToken);
        return (keys, aliases);
    }

    public Task SaveAliasAsync(AliasRecord alias, IReadOnlyList<KeyVersion> next, CancellationToken cancellationToken = default) =>
        WriteAsync(next, WriteKind.Save, StoreRows.UpsertAlias, StoreRows.AliasParameters(alias), ChangeRow.Alias(alias.Scope, alias.AliasName), cancellationToken);

    public Task DeleteAliasAsync(KeyVersion next, string aliasName, CancellationToken cancellationToken = default) =>
        WriteAsync([next], WriteKind.Delete, StoreRows.DeleteAlias, new { next.Scope.AccountId, next.Scope.Region, aliasName }, ChangeRow.Alias(next.Scope, aliasName), cancellationToken);

    public Task SaveGrantAsync(KeyVersion next, GrantRecord grant, CancellationToken cancellationToken = default) =>
        WriteAsync([next], WriteKind.Save, StoreRows.InsertGrant, GrantRow.From(next.Scope, next.KeyId, grant), null, cancellationToken);

    public Task DeleteGrantAsync(KeyVersion next, string grantId, CancellationToken cancellationToken = default) =>
        WriteAsync([next], WriteKind.Delete, StoreRows.DeleteGrant, new { next.Scope.AccountId, next.Scope.Region, next.KeyId, grantId }, null, cancellationToken);

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
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        if (kind == WriteKind.Delete && await connection.ExecuteAsync(sql, parameters, transaction) == 0)
        {
            await transaction.RollbackAsync(cancellationToken);
            return;
        }

        foreach (var key in next)
        {
            if (await connection.ExecuteAsync(StoreRows.StepVersion, StoreRows.KeyParameters(key), transaction) != 1)
            {
                throw await StoreRows.ConflictAsync(connection, transaction, key, key.Version - 1);
            }
        }

        if (kind == WriteKind.Save)
        {
            await connection.ExecuteAsync(sql, parameters, transaction);
        }

        await StoreRows.AppendChangesAsync(connection, transaction, Changes(next, alias));
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>The change feed's entries of a write to <paramref name="next"/> and perhaps an alias.</summary>
    private static IEnumerable<ChangeRow> Changes(IReadOnlyList<KeyVersion> next, ChangeRow? alias) =>
        alias is null ? next.Select(ChangeRow.Key) : next.Select(ChangeRow.Key).Append(alias);

    /// <summary>
    /// Opens the database file anew (a pooled connection would go on reading a file that was deleted or replaced
    /// under it) and reads the store id, which must be the one this store started with.
    /// </summary>
    public async Task<string?> ProbeAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            await using var connection = new SqliteConnection(_probeConnectionString);
            await connection.OpenAsync(cancellationToken);
            var storeId = await connection.QuerySingleOrDefaultAsync<string>(
                new CommandDefinition(StoreRows.SelectStoreId, cancellationToken: cancellationToken));
            return storeId == StoreId ? null : "The store file holds another store (its store id changed).";
        }
        catch (SqliteException e)
        {
            return $"The store cannot be read (SQLite error {e.SqliteErrorCode}: {e.Message}).";
        }
    }

    private async Task<SqliteConnection> OpenConnectionAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken);
        // Every write is one transaction that must survive a crash once acknowledged.
        await connection.ExecuteAsync("PRAGMA synchronous = FULL;");
        return connection;
    }
}
