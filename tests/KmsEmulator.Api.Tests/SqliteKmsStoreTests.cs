using System.Runtime.Versioning;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Storage;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// What only the SQLite store has: migrations, WAL, file permissions. What every store promises is in
/// <see cref="KmsStoreContract"/>, run on SQLite by <see cref="SqliteKmsStoreContractTests"/>.
/// </summary>
public sealed class SqliteKmsStoreTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "kmsemu-store-" + Guid.NewGuid().ToString("N"));

    private string DbPath => Path.Combine(_dir, "kms.db");

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private static KeyRecord Key(string keyId, params KeyTag[] tags) => TestKeys.Create(keyId) with
    {
        Materials = [new KeyMaterialVersion(1, new string('a', 64), "kmsemu/s/" + keyId + "/1", DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_123))],
        CurrentMaterialVersion = 1,
        Tags = [.. tags],
    };

    [Fact]
    public async Task Migrations_are_applied_once_and_recorded()
    {
        await SqliteKmsStore.OpenAsync(DbPath);
        await SqliteKmsStore.OpenAsync(DbPath);

        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={DbPath}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA user_version;";
        Assert.Equal((long)SqliteMigrations.Available.Max(m => m.Version), (long)(await command.ExecuteScalarAsync())!);
        command.CommandText = "PRAGMA journal_mode;";
        Assert.Equal("wal", (string)(await command.ExecuteScalarAsync())!);
    }

    [SkippableFact]
    [UnsupportedOSPlatform("windows")]
    public async Task A_new_store_creates_its_directory_0700_and_its_database_files_0600()
    {
        Skip.If(OperatingSystem.IsWindows(), "Unix file modes only.");
        var nested = Path.Combine(_dir, "nested", "data");
        var dbPath = Path.Combine(nested, "kms.db");

        var store = await SqliteKmsStore.OpenAsync(dbPath);
        await store.SaveKeyAsync(Key("1234abcd-12ab-34cd-56ef-1234567890ab"));

        Assert.Equal(StoreFilePermissions.OwnerOnlyDirectory, File.GetUnixFileMode(_dir));
        Assert.Equal(StoreFilePermissions.OwnerOnlyDirectory, File.GetUnixFileMode(Path.Combine(_dir, "nested")));
        Assert.Equal(StoreFilePermissions.OwnerOnlyDirectory, File.GetUnixFileMode(nested));
        Assert.Equal(StoreFilePermissions.OwnerOnlyFile, File.GetUnixFileMode(dbPath));
        Assert.True(File.Exists(dbPath + "-wal"), "A pooled connection keeps the WAL file.");
        foreach (var sidecar in new[] { "-wal", "-shm", "-journal" }.Select(suffix => dbPath + suffix).Where(File.Exists))
        {
            Assert.Equal(StoreFilePermissions.OwnerOnlyFile, File.GetUnixFileMode(sidecar));
        }

        var warnings = new List<string>();
        await SqliteKmsStore.OpenAsync(dbPath, warnings.Add);
        Assert.Empty(warnings);
    }

    [SkippableFact]
    [UnsupportedOSPlatform("windows")]
    public async Task An_existing_directory_open_to_others_is_warned_about_and_kept_and_existing_database_files_become_0600()
    {
        Skip.If(OperatingSystem.IsWindows(), "Unix file modes only.");
        const UnixFileMode shared = (UnixFileMode)0b111_101_101; // 0755
        const UnixFileMode readable = (UnixFileMode)0b110_100_100; // 0644
        Directory.CreateDirectory(_dir);
        File.SetUnixFileMode(_dir, shared);
        await File.WriteAllBytesAsync(DbPath, []);
        File.SetUnixFileMode(DbPath, readable);
        await File.WriteAllBytesAsync(DbPath + "-journal", []);
        File.SetUnixFileMode(DbPath + "-journal", readable);
        var warnings = new List<string>();

        await SqliteKmsStore.OpenAsync(DbPath, warnings.Add);

        var warning = Assert.Single(warnings);
        Assert.Contains(_dir, warning);
        Assert.Contains("0755", warning);
        Assert.Equal(shared, File.GetUnixFileMode(_dir));
        Assert.Equal(StoreFilePermissions.OwnerOnlyFile, File.GetUnixFileMode(DbPath));
        foreach (var sidecar in new[] { "-wal", "-shm", "-journal" }.Select(suffix => DbPath + suffix).Where(File.Exists))
        {
            Assert.Equal(StoreFilePermissions.OwnerOnlyFile, File.GetUnixFileMode(sidecar));
        }
    }
}
