using System.Diagnostics;
using Amazon.KeyManagementService.Model;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>
/// The emulator with <c>Kms:Store:Provider=PostgreSql</c> on a database of the test cluster (one per test), used through
/// the official AWS SDK: what was created before a restart (in this process, and as a killed separate process) is there
/// and usable after it, and the connection string's password never reaches the log.
/// </summary>
[Collection(PostgreSqlCollection.Name)]
public sealed class PostgreSqlStoreTests(PostgreSqlFixture postgres) : IAsyncLifetime
{
    private string? _database;

    private string[] StoreArgs =>
    [
        "--Kms:Store:Provider=PostgreSql",
        "--Kms:Store:ConnectionString=" + postgres.Server.ConnectionString(_database ?? throw new InvalidOperationException("No database yet.")),
    ];

    public async Task InitializeAsync() => _database = await postgres.Server.CreateDatabaseAsync();

    public async Task DisposeAsync()
    {
        if (_database is not null)
        {
            await postgres.Server.DropDatabaseAsync(_database);
        }
    }

    [SkippableFact]
    public async Task Keys_and_aliases_made_through_the_SDK_are_in_PostgreSQL_and_usable_after_a_restart()
    {
        var host = await EmulatorHost.StartNewAsync(StoreArgs);
        try
        {
            Assert.IsType<PostgreSqlKmsStore>(host.Services.GetRequiredService<IKmsStore>());
            // A store other nodes may share: objects without a row are spared for an hour by default (docs/scale-out.md).
            Assert.Equal(TimeSpan.FromHours(1), host.Services.GetRequiredService<OrphanPolicy>().GracePeriod);
            KeyMetadata key, other;
            string alias, movedAlias;
            MemoryStream ciphertext;
            var context = Blob.Context(("tenant", "acme"));
            using (var kms = host.CreateClient())
            {
                key = await kms.NewKeyAsync("on postgres", [new Tag { TagKey = "store", TagValue = "postgresql" }]);
                other = await kms.NewKeyAsync("other");
                alias = await kms.NewAliasAsync(key.KeyId);
                movedAlias = await kms.NewAliasAsync(key.KeyId);
                await kms.UpdateAliasAsync(new UpdateAliasRequest { AliasName = movedAlias, TargetKeyId = other.KeyId });
                await kms.CreateGrantAsync(new CreateGrantRequest
                {
                    KeyId = key.KeyId,
                    GranteePrincipal = "arn:aws:iam::111122223333:user/dave",
                    Operations = ["Decrypt"],
                    Constraints = new GrantConstraints { EncryptionContextSubset = context },
                });
                ciphertext = (await kms.EncryptTextAsync(alias, "before restart", context)).CiphertextBlob;
            }

            // The metadata is in the database, and no SQLite file was made.
            Assert.False(File.Exists(Path.Combine(host.DataDir, "kms.db")));
            var stored = await PostgreSqlKmsStore.OpenAsync(postgres.Server.ConnectionString(_database!));
            await using (stored)
            {
                var snapshot = await stored.LoadAsync();
                Assert.Equal(new[] { key.KeyId, other.KeyId }.Order(StringComparer.Ordinal), snapshot.Keys.Select(k => k.KeyId).Order(StringComparer.Ordinal));
                Assert.Equal(new[] { alias, movedAlias }.Order(StringComparer.Ordinal), snapshot.Aliases.Select(a => a.AliasName).Order(StringComparer.Ordinal));
                Assert.Equal(host.Services.GetRequiredService<IKmsStore>().StoreId, stored.StoreId);
            }

            host = await host.RestartAsync();

            using (var kms = host.CreateClient())
            {
                var described = await kms.DescribeAsync(alias);
                Assert.Equal(key.KeyId, described.KeyId);
                Assert.Equal("on postgres", described.Description);
                Assert.Equal(key.CurrentKeyMaterialId, described.CurrentKeyMaterialId);
                Assert.Equal(other.KeyId, (await kms.DescribeAsync(movedAlias)).KeyId);
                Assert.Equal([("store", "postgresql")], (await kms.TagsAsync(key.KeyId)).Select(t => (t.TagKey, t.TagValue)).ToList());
                var grant = Assert.Single((await kms.ListGrantsAsync(new ListGrantsRequest { KeyId = key.KeyId })).Grants);
                Assert.Equal(context, grant.Constraints.EncryptionContextSubset);

                Assert.Equal("before restart", Blob.Text((await kms.DecryptBlobAsync(ciphertext, context)).Plaintext));
                var after = await kms.EncryptTextAsync(alias, "after restart");
                Assert.Equal("after restart", Blob.Text((await kms.DecryptBlobAsync(after.CiphertextBlob)).Plaintext));

                // Writes after the restart go on from the stored versions.
                await kms.UpdateAliasAsync(new UpdateAliasRequest { AliasName = alias, TargetKeyId = other.KeyId });
                await kms.DisableKeyAsync(new DisableKeyRequest { KeyId = key.KeyId });
                Assert.Equal(other.KeyId, (await kms.DescribeAsync(alias)).KeyId);
                Assert.Equal(Amazon.KeyManagementService.KeyState.Disabled, (await kms.DescribeAsync(key.KeyId)).KeyState);
            }

            using var http = new HttpClient();
            using var health = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync(host.Url + "/health"));
            Assert.Equal("ok", health.RootElement.GetProperty("store").GetProperty("status").GetString());
        }
        finally
        {
            await host.DisposeAsync();
        }
    }

    [SkippableFact]
    public async Task The_built_emulator_on_PostgreSQL_killed_and_started_again_serves_its_keys_and_never_logs_the_password()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "kmsemu-e2e-pg-" + Guid.NewGuid().ToString("N"));
        try
        {
            string keyId, alias;
            MemoryStream ciphertext;
            string firstOutput;
            await using (var first = await EmulatorProcess.StartAsync(dataDir, StoreArgs))
            {
                using var kms = EmulatorHost.CreateClient(first.Url);
                keyId = (await kms.NewKeyAsync("process")).KeyId;
                alias = await kms.NewAliasAsync(keyId);
                ciphertext = (await kms.EncryptTextAsync(alias, "acknowledged")).CiphertextBlob;
                await first.KillAsync();
                firstOutput = first.Output;
            }

            await using var second = await EmulatorProcess.StartAsync(dataDir, StoreArgs);
            using (var kms = EmulatorHost.CreateClient(second.Url))
            {
                Assert.Equal(keyId, (await kms.DescribeAsync(alias)).KeyId);
                Assert.Equal("acknowledged", Blob.Text((await kms.DecryptBlobAsync(ciphertext)).Plaintext));
            }

            Assert.Contains("Storage: PostgreSQL 127.0.0.1:", firstOutput, StringComparison.Ordinal);
            Assert.DoesNotContain(postgres.Server.Password, firstOutput + second.Output, StringComparison.Ordinal);
        }
        finally
        {
            if (Directory.Exists(dataDir))
            {
                Directory.Delete(dataDir, recursive: true);
            }
        }
    }
}

/// <summary>A store setting that cannot work stops the built emulator with exit code 2 and a message naming it.</summary>
public sealed class StoreSettingErrorTests
{
    [Theory]
    [InlineData("--Kms:Store:Provider=PostgreSql", null, "Kms:Store:Provider is PostgreSql but Kms:Store:ConnectionString is not set")]
    [InlineData("--Kms:Store:Provider=Postgres", null, "--Kms:Store:Provider: 'Postgres' is not a valid Sqlite|PostgreSql")]
    [InlineData(null, "Postgres", "Failed to convert configuration value")]
    public async Task A_bad_store_setting_stops_the_start_with_exit_code_2(string? argument, string? environmentProvider, string message)
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "kmsemu-e2e-bad-store-" + Guid.NewGuid().ToString("N"));
        var dll = Path.Combine(AppContext.BaseDirectory, "KmsEmulator.Api.dll");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        foreach (var item in new[] { dll, "--urls", "http://127.0.0.1:0", "--Kms:Tls:Enabled=false", "--data-dir", dataDir })
        {
            start.ArgumentList.Add(item);
        }

        if (argument is not null)
        {
            start.ArgumentList.Add(argument);
        }

        if (environmentProvider is not null)
        {
            start.Environment["Kms__Store__Provider"] = environmentProvider;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        var output = await stdout + await stderr;

        Assert.True(process.ExitCode == 2, $"exit code {process.ExitCode}:\n{output}");
        Assert.Contains(message, output, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(dataDir, "kms.db")));
        if (Directory.Exists(dataDir))
        {
            Directory.Delete(dataDir, recursive: true);
        }
    }
}
