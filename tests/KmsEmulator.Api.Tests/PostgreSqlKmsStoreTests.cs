using Dapper;
using KmsEmulator.Api.Hosting;
using KmsEmulator.Api.Storage;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// What is particular to the PostgreSQL store beyond <see cref="KmsStoreContract"/>: its schema against SQLite's,
/// migrations when several emulators start at once, the health probe, and that its description leaves the password out.
/// </summary>
[Collection(PostgreSqlCollection.Name)]
public sealed class PostgreSqlKmsStoreTests(PostgreSqlFixture postgres) : IAsyncLifetime
{
    private readonly List<PostgreSqlKmsStore> _opened = [];
    private string? _database;

    private string ConnectionString => postgres.Server.ConnectionString(_database!);

    public async Task InitializeAsync() => _database = await postgres.Server.CreateDatabaseAsync();

    public async Task DisposeAsync()
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

    /// <summary>The database holds what kms.db and audit.db hold (the audit index is in the same database, <see cref="PostgreSqlAuditIndex"/>).</summary>
    [SkippableFact]
    public async Task A_new_database_gets_the_tables_and_columns_of_the_SQLite_schemas_after_all_their_migrations()
    {
        await OpenAsync();
        var sqlitePath = Path.Combine(Path.GetTempPath(), "kmsemu-schema-" + Guid.NewGuid().ToString("N"), "kms.db");
        try
        {
            await SqliteKmsStore.OpenAsync(sqlitePath, _ => { });
            var auditPath = SqliteAuditIndex.PathIn(Path.GetDirectoryName(sqlitePath)!);
            SqliteAuditIndex.Open(auditPath, TimeProvider.System, _ => { }).Dispose();
            var sqliteColumns = new List<string>();
            foreach (var path in new[] { sqlitePath, auditPath })
            {
                await using var sqlite = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
                sqliteColumns.AddRange(await sqlite.QueryAsync<string>(
                    "SELECT m.name || '.' || p.name FROM sqlite_schema m JOIN pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'"));
            }

            sqliteColumns.Sort(StringComparer.Ordinal);

            await using var connection = new NpgsqlConnection(ConnectionString);
            var postgresColumns = (await connection.QueryAsync<string>(
                    "SELECT table_name || '.' || column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'schema_migrations'"))
                .Order(StringComparer.Ordinal).ToList();

            Assert.NotEmpty(sqliteColumns);
            Assert.Equal(sqliteColumns, postgresColumns);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(sqlitePath)!, recursive: true);
        }
    }

    [SkippableFact]
    public async Task Emulators_opening_a_new_database_at_once_migrate_it_once_and_share_one_store_id()
    {
        var stores = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(OpenAsync)));

        Assert.Single(stores.Select(s => s.StoreId).Distinct());
        await using var connection = new NpgsqlConnection(ConnectionString);
        var applied = (await connection.QueryAsync<int>("SELECT version FROM schema_migrations ORDER BY version")).ToList();
        Assert.Equal(PostgreSqlMigrations.Available.Select(m => m.Version), applied);

        // A restart finds everything applied and the same id.
        Assert.Equal(stores[0].StoreId, (await OpenAsync()).StoreId);
        Assert.Equal(applied.Count, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM schema_migrations"));
    }

    [SkippableFact]
    public async Task The_store_check_fails_while_the_store_cannot_be_read_or_is_another_one_and_passes_again_after()
    {
        var store = await OpenAsync();
        Assert.Null(await store.ProbeAsync());
        await using var connection = new NpgsqlConnection(ConnectionString);

        await connection.ExecuteAsync("ALTER TABLE store_meta RENAME TO store_meta_away");
        Assert.StartsWith("The store cannot be read (PostgreSQL error 42P01", await store.ProbeAsync(), StringComparison.Ordinal);

        await connection.ExecuteAsync("ALTER TABLE store_meta_away RENAME TO store_meta");
        Assert.Null(await store.ProbeAsync());

        await connection.ExecuteAsync("UPDATE store_meta SET value = 'someone-else' WHERE name = 'store_id'");
        Assert.Equal("The database holds another store (its store id changed).", await store.ProbeAsync());
    }

    [SkippableFact]
    public async Task The_store_check_fails_when_the_database_is_gone()
    {
        var store = await OpenAsync();
        Assert.Null(await store.ProbeAsync());

        await postgres.Server.DropDatabaseAsync(_database!);

        Assert.StartsWith("The store cannot be read (PostgreSQL error 3D000", await store.ProbeAsync(), StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Opening_a_store_on_a_server_that_cannot_be_reached_fails_without_naming_the_password()
    {
        _ = postgres.Server;
        var unreachable = new NpgsqlConnectionStringBuilder(ConnectionString) { Port = ClosedPort(), Timeout = 5 };

        var error = await Assert.ThrowsAnyAsync<NpgsqlException>(() => PostgreSqlKmsStore.OpenAsync(unreachable.ConnectionString));

        Assert.DoesNotContain(postgres.Server.Password, error.ToString(), StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Kms_Store_Provider_PostgreSql_opens_the_database_of_the_connection_string_and_still_makes_the_data_directory()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "kmsemu-select-pg-" + Guid.NewGuid().ToString("N"));
        try
        {
            var store = await KmsEmulatorApp.OpenStoreAsync(new KmsOptions
            {
                DataDir = dataDir,
                Store = new StoreOptions { Provider = StoreProvider.PostgreSql, ConnectionString = ConnectionString },
            });
            _opened.Add(Assert.IsType<PostgreSqlKmsStore>(store));

            Assert.True(Directory.Exists(dataDir));
            Assert.False(File.Exists(Path.Combine(dataDir, "kms.db")));
            await using var connection = new NpgsqlConnection(ConnectionString);
            Assert.Equal(store.StoreId, await connection.ExecuteScalarAsync<string>("SELECT value FROM store_meta WHERE name = 'store_id'"));
        }
        finally
        {
            if (Directory.Exists(dataDir))
            {
                Directory.Delete(dataDir, recursive: true);
            }
        }
    }

    [SkippableFact]
    public async Task Its_description_names_host_port_database_and_user_and_never_the_password()
    {
        var store = await OpenAsync();

        Assert.Equal($"127.0.0.1:{postgres.Server.Port}/{_database} as {PostgreSqlServer.User}", store.Location);
        Assert.DoesNotContain(postgres.Server.Password, store.Location, StringComparison.Ordinal);
    }

    private async Task<PostgreSqlKmsStore> OpenAsync()
    {
        var store = await PostgreSqlKmsStore.OpenAsync(ConnectionString);
        lock (_opened)
        {
            _opened.Add(store);
        }

        return store;
    }

    private static int ClosedPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
