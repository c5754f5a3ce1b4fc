using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Storage;
using Microsoft.Data.Sqlite;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// The store contract on <see cref="SqliteKmsStore"/>: a real database file in a temporary directory of its own per
/// test; rows that name a key are counted with plain SQL over every table that has a key id column.
/// </summary>
public sealed class SqliteKmsStoreContractTests : KmsStoreContract
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "kmsemu-contract-" + Guid.NewGuid().ToString("N"));

    private string DbPath => Path.Combine(_dir, "kms.db");

    protected override async Task<IKmsStore> CreateStoreAsync() => await SqliteKmsStore.OpenAsync(DbPath);

    protected override async Task<IKmsStore> ReopenStoreAsync() => await SqliteKmsStore.OpenAsync(DbPath);

    // No SqliteConnection.ClearAllPools() here: it would close the pooled connections of tests running in parallel
    // (SqliteKmsStoreTests checks that a pooled connection keeps the WAL file). Removing the files of a database with
    // open connections is fine on the Unix systems the emulator runs on.
    protected override Task DestroyStoreAsync()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// Per table and key id column ("table.column"): the rows whose column holds the key id, within the key's account
    /// and region where the table has those columns. The tables and columns are read from the schema, so a table that
    /// a later migration adds is counted too.
    /// </summary>
    protected override async Task<IReadOnlyDictionary<string, long>> CountRowsNamingKeyAsync(KeyScope scope, string keyId)
    {
        await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = DbPath, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        await connection.OpenAsync();
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (table, columns) in await KeyIdColumnsAsync(connection))
        {
            var scoped = columns.Contains("account_id") && columns.Contains("region");
            foreach (var column in columns.Where(IsKeyIdColumn))
            {
                await using var command = connection.CreateCommand();
                command.CommandText = $"SELECT count(*) FROM \"{table}\" WHERE \"{column}\" = @keyId"
                    + (scoped ? " AND account_id = @account AND region = @region" : string.Empty);
                command.Parameters.AddWithValue("@keyId", keyId);
                command.Parameters.AddWithValue("@account", scope.AccountId);
                command.Parameters.AddWithValue("@region", scope.Region);
                counts[$"{table}.{column}"] = (long)(await command.ExecuteScalarAsync())!;
            }
        }

        return counts;
    }

    [Fact]
    public async Task The_row_count_looks_at_every_table_of_the_schema_that_names_a_key()
    {
        var counts = await CountRowsNamingKeyAsync(Scope, "1234abcd-12ab-34cd-56ef-1234567890ab");

        Assert.Superset(
            new HashSet<string>(["keys.key_id", "key_materials.key_id", "key_tags.key_id", "aliases.target_key_id", "grants.key_id"], StringComparer.Ordinal),
            counts.Keys.ToHashSet(StringComparer.Ordinal));
    }

    private static bool IsKeyIdColumn(string column) =>
        column == "key_id" || column.EndsWith("_key_id", StringComparison.Ordinal);

    private static async Task<List<(string Table, HashSet<string> Columns)>> KeyIdColumnsAsync(SqliteConnection connection)
    {
        var tables = new List<string>();
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name";
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                tables.Add(reader.GetString(0));
            }
        }

        var result = new List<(string, HashSet<string>)>();
        foreach (var table in tables)
        {
            var columns = new HashSet<string>(StringComparer.Ordinal);
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT name FROM pragma_table_info(@table)";
            command.Parameters.AddWithValue("@table", table);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                columns.Add(reader.GetString(0));
            }

            // The change feed names keys by id only, as the record that they changed (a deleted key's too), and is
            // pruned by count, not with the key: it holds no row of a key's metadata.
            if (columns.Any(IsKeyIdColumn) && table != "key_changes")
            {
                result.Add((table, columns));
            }
        }

        return result;
    }
}
