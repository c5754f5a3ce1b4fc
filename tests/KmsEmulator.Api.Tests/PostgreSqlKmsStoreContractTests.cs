using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Storage;
using Npgsql;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// The store contract on <see cref="PostgreSqlKmsStore"/>: each test gets a database of its own (a random name on the
/// test cluster, dropped afterwards); rows that name a key are counted with plain SQL over every table of the schema
/// that has a key id column. Skipped where the PostgreSQL server is not installed, except under
/// KMS_COMPAT_REQUIRE_ALL=1 (CI), where that fails.
/// </summary>
[Collection(PostgreSqlCollection.Name)]
public sealed class PostgreSqlKmsStoreContractTests(PostgreSqlFixture postgres) : KmsStoreContract
{
    private readonly List<PostgreSqlKmsStore> _opened = [];
    private string? _database;

    private string ConnectionString => postgres.Server.ConnectionString(_database ?? throw new InvalidOperationException("No database yet."));

    protected override async Task<IKmsStore> CreateStoreAsync()
    {
        _database = await postgres.Server.CreateDatabaseAsync();
        return await OpenAsync();
    }

    protected override async Task<IKmsStore> ReopenStoreAsync() => await OpenAsync();

    protected override async Task DestroyStoreAsync()
    {
        foreach (var store in _opened)
        {
            await store.DisposeAsync();
        }

        if (_database is not null)
        {
            await postgres.Server.DropDatabaseAsync(_database);
        }
    }

    private async Task<PostgreSqlKmsStore> OpenAsync()
    {
        var store = await PostgreSqlKmsStore.OpenAsync(ConnectionString);
        _opened.Add(store);
        return store;
    }

    /// <summary>
    /// Per table and key id column ("table.column"): the rows whose column holds the key id, within the key's account
    /// and region where the table has those columns. The tables and columns are read from the catalogue, so a table
    /// that a later migration adds is counted too.
    /// </summary>
    protected override async Task<IReadOnlyDictionary<string, long>> CountRowsNamingKeyAsync(KeyScope scope, string keyId)
    {
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(ConnectionString) { Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        var columns = new List<(string Table, string Column)>();
        await using (var command = new NpgsqlCommand(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position", connection))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                columns.Add((reader.GetString(0), reader.GetString(1)));
            }
        }

        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        // The change feed names keys by id only, as the record that they changed (a deleted key's too), and is pruned
        // by count, not with the key: it holds no row of a key's metadata.
        foreach (var table in columns.Where(c => c.Table != "key_changes").GroupBy(c => c.Table, c => c.Column))
        {
            var scoped = table.Contains("account_id") && table.Contains("region");
            foreach (var column in table.Where(IsKeyIdColumn))
            {
                await using var command = new NpgsqlCommand(
                    $"SELECT count(*) FROM \"{table.Key}\" WHERE \"{column}\" = @keyId" + (scoped ? " AND account_id = @account AND region = @region" : string.Empty),
                    connection);
                command.Parameters.AddWithValue("keyId", keyId);
                command.Parameters.AddWithValue("account", scope.AccountId);
                command.Parameters.AddWithValue("region", scope.Region);
                counts[$"{table.Key}.{column}"] = (long)(await command.ExecuteScalarAsync())!;
            }
        }

        return counts;
    }

    [SkippableFact]
    public async Task The_row_count_looks_at_every_table_of_the_schema_that_names_a_key()
    {
        var counts = await CountRowsNamingKeyAsync(Scope, "1234abcd-12ab-34cd-56ef-1234567890ab");

        Assert.Superset(
            new HashSet<string>(["keys.key_id", "key_materials.key_id", "key_tags.key_id", "aliases.target_key_id", "grants.key_id", "import_parameters.key_id"], StringComparer.Ordinal),
            counts.Keys.ToHashSet(StringComparer.Ordinal));
    }

    private static bool IsKeyIdColumn(string column) =>
        column == "key_id" || column.EndsWith("_key_id", StringComparison.Ordinal);
}
