using System.Net;
using System.Text.Json;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using KmsEmulator.Api.Audit;
using Microsoft.Extensions.DependencyInjection;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>
/// The emulator on a PostgreSQL store while PostgreSQL goes away and comes back, without a restart of the emulator:
/// calls that need the store fail as KMS errors (never a 500 page or a hang), /health says the store is failing, and
/// both recover on their own once the server is back.
/// </summary>
[Collection(PostgreSqlCollection.Name)]
public sealed class PostgreSqlOutageTests(PostgreSqlFixture postgres) : IAsyncLifetime
{
    private string? _database;

    public async Task InitializeAsync() => _database = await postgres.Server.CreateDatabaseAsync();

    public async Task DisposeAsync()
    {
        if (_database is not null)
        {
            await postgres.Server.DropDatabaseAsync(_database);
        }
    }

    [SkippableFact]
    public async Task While_PostgreSQL_is_down_writes_fail_with_KMSInternalException_and_health_is_503_and_both_recover_when_it_is_back()
    {
        await using var host = await EmulatorHost.StartNewAsync(
            "--Kms:Store:Provider=PostgreSql", "--Kms:Store:ConnectionString=" + postgres.Server.ConnectionString(_database!));
        using var kms = host.CreateClient();
        using var http = new HttpClient { BaseAddress = new Uri(host.Url) };
        var before = await kms.NewKeyAsync("before the outage");
        Assert.Equal(HttpStatusCode.OK, (await HealthAsync(http)).Status);

        await postgres.Server.StopAsync();
        try
        {
            var error = await Assert.ThrowsAnyAsync<AmazonKeyManagementServiceException>(
                () => kms.CreateKeyAsync(new CreateKeyRequest { Description = "during the outage" }));
            Assert.Equal("KMSInternalException", error.ErrorCode);
            Assert.Equal(HttpStatusCode.InternalServerError, error.StatusCode);

            host.Clock.Advance(TimeSpan.FromSeconds(1));
            var (status, body) = await HealthAsync(http);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
            Assert.Equal("failing", body.GetProperty("store").GetProperty("status").GetString());
            Assert.DoesNotContain(postgres.Server.Password, body.GetRawText(), StringComparison.Ordinal);
        }
        finally
        {
            await postgres.Server.StartAgainAsync();
        }

        // The audit index is in PostgreSQL too: delivery indexes the records it refused on its own, trying again every
        // second, and health is 200 once it has (and the store check passes). Polled, with a bound.
        await HealthyAgainAsync(host, http);
        var after = await kms.NewKeyAsync("after the outage");
        var context = Blob.Context(("outage", "over"));
        foreach (var key in new[] { before, after })
        {
            var ciphertext = (await kms.EncryptTextAsync(key.KeyId, "recovered", context)).CiphertextBlob;
            Assert.Equal("recovered", Blob.Text((await kms.DecryptBlobAsync(ciphertext, context)).Plaintext));
        }

        Assert.Equal("after the outage", (await kms.DescribeAsync(after.KeyId)).Description);
    }

    /// <summary>
    /// The first calls after PostgreSQL is back, before health or delivery has touched the connection pool (whose
    /// connections the restart cut): LookupEvents, which reads the index, and a call that reads the store succeed, and
    /// the lookup finds the calls made before the outage.
    /// </summary>
    [SkippableFact]
    public async Task The_first_LookupEvents_and_store_calls_after_PostgreSQL_restarts_succeed()
    {
        await using var host = await EmulatorHost.StartNewAsync(
            "--Kms:Store:Provider=PostgreSql", "--Kms:Store:ConnectionString=" + postgres.Server.ConnectionString(_database!));
        using var kms = host.CreateClient();
        var key = await kms.NewKeyAsync("before the restart");
        await host.Services.GetRequiredService<AuditTrail>().FlushAsync();
        // Every pooled connection has been used (the key, the index), so the restart leaves them all dead.
        var before = await CloudTrailHttp.LookupAsync(host.Url, CloudTrailHttp.Attribute("EventName", "CreateKey"), LookupFixture.Root);
        Assert.Single(before.Events);

        await postgres.Server.StopAsync();
        await postgres.Server.StartAgainAsync();

        var after = await CloudTrailHttp.LookupAsync(host.Url, CloudTrailHttp.Attribute("EventName", "CreateKey"), LookupFixture.Root);
        Assert.Equal(before.Events.Select(e => e.GetProperty("EventId").GetString()), after.Events.Select(e => e.GetProperty("EventId").GetString()));
        Assert.Equal("before the restart", (await kms.DescribeAsync(key.KeyId)).Description);
    }

    private static async Task HealthyAgainAsync(EmulatorHost host, HttpClient http)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            host.Clock.Advance(TimeSpan.FromSeconds(1)); // past the health check's cache
            var (status, body) = await HealthAsync(http);
            if (status == HttpStatusCode.OK)
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, $"/health did not recover within 30 s: {body}");
        }
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> HealthAsync(HttpClient http)
    {
        using var response = await http.GetAsync("/health");
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return (response.StatusCode, body.RootElement.Clone());
    }
}
