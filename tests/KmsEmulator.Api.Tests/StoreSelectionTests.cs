using KmsEmulator.Api.Hosting;
using KmsEmulator.Api.Storage;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// <c>Kms:Store:Provider</c> picks the store; a PostgreSQL store without a usable connection string stops start-up with
/// a message that names the setting and never the password. (Opening a PostgreSQL store through this path:
/// PostgreSqlKmsStoreTests.)
/// </summary>
public sealed class StoreSelectionTests : IDisposable
{
    private readonly string _dataDir = Path.Combine(Path.GetTempPath(), "kmsemu-select-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dataDir))
        {
            Directory.Delete(_dataDir, recursive: true);
        }
    }

    [Fact]
    public async Task By_default_the_store_is_SQLite_in_the_data_directory()
    {
        var store = await KmsEmulatorApp.OpenStoreAsync(new KmsOptions { DataDir = _dataDir });

        Assert.IsType<SqliteKmsStore>(store);
        Assert.True(File.Exists(Path.Combine(_dataDir, "kms.db")));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("  ")]
    public async Task PostgreSql_without_a_connection_string_is_a_start_up_error_naming_the_setting(string? connectionString)
    {
        var options = new KmsOptions { DataDir = _dataDir, Store = new StoreOptions { Provider = StoreProvider.PostgreSql, ConnectionString = connectionString } };

        var error = await Assert.ThrowsAsync<StartupConfigurationException>(() => KmsEmulatorApp.OpenStoreAsync(options));

        Assert.StartsWith("Kms:Store:Provider is PostgreSql but Kms:Store:ConnectionString is not set", error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_dataDir));
    }

    [Fact]
    public async Task A_malformed_connection_string_is_a_start_up_error_that_names_the_keyword_and_not_the_password()
    {
        var options = new KmsOptions
        {
            DataDir = _dataDir,
            Store = new StoreOptions { Provider = StoreProvider.PostgreSql, ConnectionString = "Host=127.0.0.1;Password=hunter2-secret;Colour=blue" },
        };

        var error = await Assert.ThrowsAsync<StartupConfigurationException>(() => KmsEmulatorApp.OpenStoreAsync(options));

        Assert.StartsWith("Kms:Store:ConnectionString is not a valid Npgsql connection string", error.Message, StringComparison.Ordinal);
        Assert.Contains("colour", error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("hunter2-secret", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_provider_that_is_not_one_of_the_names_is_a_start_up_error()
    {
        var options = new KmsOptions { DataDir = _dataDir, Store = new StoreOptions { Provider = (StoreProvider)7 } };

        var error = await Assert.ThrowsAsync<StartupConfigurationException>(() => KmsEmulatorApp.OpenStoreAsync(options));

        Assert.Equal("Kms:Store:Provider '7' is not one of Sqlite, PostgreSql.", error.Message);
    }
}
