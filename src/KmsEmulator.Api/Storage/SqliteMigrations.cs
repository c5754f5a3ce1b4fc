using Dapper;
using Microsoft.Data.Sqlite;

namespace KmsEmulator.Api.Storage;

/// <summary>
/// Applies the numbered SQL files embedded from one folder (NNNN_name.sql) in order, each in its own transaction, and
/// records the schema version in SQLite's user_version. kms.db's come from Storage/Migrations; audit.db has its own
/// series in Storage/AuditMigrations (<see cref="Audit"/>), numbered independently.
/// </summary>
public static class SqliteMigrations
{
    private const string KmsFolder = "Migrations";
    private const string AuditFolder = "AuditMigrations";

    /// <summary>kms.db's migrations (Storage/Migrations).</summary>
    public static IReadOnlyList<(int Version, string Name)> Available { get; } = EmbeddedMigrations.Discover(KmsFolder);

    /// <summary>audit.db's migrations (Storage/AuditMigrations).</summary>
    public static IReadOnlyList<(int Version, string Name)> Audit { get; } = EmbeddedMigrations.Discover(AuditFolder);

    public static Task ApplyAsync(SqliteConnection connection, CancellationToken cancellationToken = default) =>
        ApplyAsync(connection, Available, cancellationToken);

    public static async Task ApplyAsync(SqliteConnection connection, IReadOnlyList<(int Version, string Name)> migrations, CancellationToken cancellationToken = default)
    {
        var current = await connection.ExecuteScalarAsync<long>("PRAGMA user_version;");
        foreach (var (version, name) in migrations)
        {
            if (version <= current)
            {
                continue;
            }

            var sql = EmbeddedMigrations.Read(name);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await connection.ExecuteAsync(sql, transaction: transaction);
            await connection.ExecuteAsync($"PRAGMA user_version = {version};", transaction: transaction);
            await transaction.CommitAsync(cancellationToken);
        }
    }
}
