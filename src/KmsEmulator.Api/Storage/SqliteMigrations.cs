using System.Reflection;
using Dapper;
using Microsoft.Data.Sqlite;

namespace KmsEmulator.Api.Storage;

/// <summary>
/// Applies the numbered SQL files embedded from Storage/Migrations (NNNN_name.sql) in order, each in its own
/// transaction, and records the schema version in SQLite's user_version.
/// </summary>
public static class SqliteMigrations
{
    public static IReadOnlyList<(int Version, string Name)> Available { get; } = Discover();

    public static async Task ApplyAsync(SqliteConnection connection, CancellationToken cancellationToken = default)
    {
        var current = await connection.ExecuteScalarAsync<long>("PRAGMA user_version;");
        foreach (var (version, name) in Available)
        {
            if (version <= current)
            {
                continue;
            }

            var sql = ReadResource(name);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await connection.ExecuteAsync(sql, transaction: transaction);
            await connection.ExecuteAsync($"PRAGMA user_version = {version};", transaction: transaction);
            await transaction.CommitAsync(cancellationToken);
        }
    }

    private static List<(int Version, string Name)> Discover()
    {
        const string marker = ".Storage.Migrations.";
        return typeof(SqliteMigrations).Assembly.GetManifestResourceNames()
            .Where(n => n.Contains(marker, StringComparison.Ordinal) && n.EndsWith(".sql", StringComparison.Ordinal))
            .Select(n => (Version: int.Parse(n[(n.IndexOf(marker, StringComparison.Ordinal) + marker.Length)..].Split('_')[0], System.Globalization.CultureInfo.InvariantCulture), Name: n))
            .OrderBy(m => m.Version)
            .ToList();
    }

    private static string ReadResource(string name)
    {
        using var stream = typeof(SqliteMigrations).Assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"Migration resource {name} is missing.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
