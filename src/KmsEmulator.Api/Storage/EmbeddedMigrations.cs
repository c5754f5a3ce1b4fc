using System.Globalization;

namespace KmsEmulator.Api.Storage;

/// <summary>
/// The numbered SQL files (NNNN_name.sql) embedded from one folder of Storage: their versions in order, and their text.
/// Each store applies its own series (<see cref="SqliteMigrations"/>, <see cref="PostgreSqlMigrations"/>).
/// </summary>
internal static class EmbeddedMigrations
{
    /// <summary>The migrations embedded from Storage/<paramref name="folder"/>, by version.</summary>
    public static IReadOnlyList<(int Version, string Name)> Discover(string folder)
    {
        var marker = ".Storage." + folder + ".";
        return typeof(EmbeddedMigrations).Assembly.GetManifestResourceNames()
            .Where(n => n.Contains(marker, StringComparison.Ordinal) && n.EndsWith(".sql", StringComparison.Ordinal))
            .Select(n => (Version: int.Parse(n[(n.IndexOf(marker, StringComparison.Ordinal) + marker.Length)..].Split('_')[0], CultureInfo.InvariantCulture), Name: n))
            .OrderBy(m => m.Version)
            .ToList();
    }

    /// <summary>The text of the embedded migration <paramref name="name"/> (a resource name from <see cref="Discover"/>).</summary>
    public static string Read(string name)
    {
        using var stream = typeof(EmbeddedMigrations).Assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"Migration resource {name} is missing.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
