using Dapper;
using Npgsql;

namespace KmsEmulator.Api.Storage;

/// <summary>
/// Applies the numbered SQL files embedded from Storage/PostgreSqlMigrations (NNNN_name.sql) in order, each in its own
/// transaction with its row in <c>schema_migrations</c>. Several emulators may start on one database at once: each takes
/// a PostgreSQL advisory lock for the whole run, so one applies the pending migrations and the others then find none.
/// The series covers the store's tables and, from 0003, the audit index's (<see cref="PostgreSqlAuditIndex"/>): one
/// database, one schema version.
/// </summary>
public static class PostgreSqlMigrations
{
    /// <summary>The advisory lock key that serialises migrations (and the store id's creation) on one database.</summary>
    internal const long LockKey = 0x6B6D_7365_6D75_0001; // "kmsemu", 1

    /// <summary>The migrations of the PostgreSQL store, by version.</summary>
    public static IReadOnlyList<(int Version, string Name)> Available { get; } = EmbeddedMigrations.Discover("PostgreSqlMigrations");

    /// <summary>
    /// Applies the pending migrations under the advisory lock (<see cref="LockKey"/>): whoever opens the database first (the
    /// store or the audit index, of any node) migrates it, and everyone else waits for that, then finds nothing to do.
    /// </summary>
    internal static async Task MigrateAsync(NpgsqlConnection connection, CancellationToken cancellationToken = default)
    {
        await connection.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_lock(@key)", new { key = LockKey }, cancellationToken: cancellationToken));
        try
        {
            await ApplyAsync(connection, cancellationToken);
        }
        finally
        {
            await connection.ExecuteAsync("SELECT pg_advisory_unlock(@key)", new { key = LockKey });
        }
    }

    /// <summary>
    /// Migrates (<see cref="MigrateAsync"/>), then reads the setting <paramref name="name"/> of the name/value table
    /// <paramref name="table"/> (<c>store_meta</c>, <c>audit_meta</c>), storing <paramref name="proposed"/> first when it
    /// is not there: of emulators starting at once, the first insert wins and every one reads that value.
    /// </summary>
    internal static async Task<string> MigrateAndReadSettingAsync(
        NpgsqlConnection connection, string table, string name, string proposed, CancellationToken cancellationToken = default)
    {
        await MigrateAsync(connection, cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            $"INSERT INTO {table} (name, value) VALUES (@name, @proposed) ON CONFLICT (name) DO NOTHING",
            new { name, proposed },
            cancellationToken: cancellationToken));
        return await connection.QuerySingleAsync<string>(new CommandDefinition(
            $"SELECT value FROM {table} WHERE name = @name", new { name }, cancellationToken: cancellationToken));
    }

    /// <summary>Applies the pending migrations. The caller holds the advisory lock (<see cref="LockKey"/>).</summary>
    internal static async Task ApplyAsync(NpgsqlConnection connection, CancellationToken cancellationToken = default)
    {
        await connection.ExecuteAsync(new CommandDefinition(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer     NOT NULL PRIMARY KEY,
                name       text        NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            cancellationToken: cancellationToken));
        var current = await connection.ExecuteScalarAsync<int>(new CommandDefinition(
            "SELECT coalesce(max(version), 0) FROM schema_migrations", cancellationToken: cancellationToken));
        foreach (var (version, name) in Available)
        {
            if (version <= current)
            {
                continue;
            }

            var sql = EmbeddedMigrations.Read(name);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await connection.ExecuteAsync(new CommandDefinition(sql, transaction: transaction, cancellationToken: cancellationToken));
            await connection.ExecuteAsync(new CommandDefinition(
                "INSERT INTO schema_migrations (version, name) VALUES (@version, @name)",
                new { version, name = ShortName(name) },
                transaction,
                cancellationToken: cancellationToken));
            await transaction.CommitAsync(cancellationToken);
        }
    }

    /// <summary>The file name of an embedded migration (<c>0001_initial.sql</c>) from its resource name.</summary>
    private static string ShortName(string resource)
    {
        const string Marker = ".PostgreSqlMigrations.";
        var at = resource.IndexOf(Marker, StringComparison.Ordinal);
        return at < 0 ? resource : resource[(at + Marker.Length)..];
    }
}
