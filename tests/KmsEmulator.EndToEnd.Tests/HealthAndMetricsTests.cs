using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Amazon.KeyManagementService.Model;
using KmsEmulator.Hsm;
using KmsEmulator.Hsm.Pkcs11;
using Microsoft.Extensions.DependencyInjection;
using Net.Pkcs11Interop.Common;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>
/// <c>GET /metrics</c> and <c>GET /health</c> on a real emulator: the official SDK makes the calls, the Prometheus text
/// is parsed, and /health is made to fail by really breaking the store (its file moved away) and the HSM (the token
/// logged out through a PKCS#11 session), then mended.
/// </summary>
public sealed class HealthAndMetricsTests : IAsyncLifetime
{
    private EmulatorHost _host = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        _host = await EmulatorHost.StartNewAsync();
        _http = new HttpClient { BaseAddress = new Uri(_host.Url) };
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _host.DisposeAsync();
    }

    [Fact]
    public async Task Metrics_count_exactly_the_calls_made_per_operation_and_outcome()
    {
        using var kms = _host.CreateClient();
        var key = await kms.CreateKeyAsync(new CreateKeyRequest());
        var before = await ScrapeAsync();
        const int calls = 7;

        for (var i = 0; i < calls; i++)
        {
            await kms.EncryptAsync(new EncryptRequest { KeyId = key.KeyMetadata.KeyId, Plaintext = new MemoryStream("metrics"u8.ToArray()) });
        }

        await Assert.ThrowsAsync<NotFoundException>(() =>
            kms.EncryptAsync(new EncryptRequest { KeyId = Guid.NewGuid().ToString(), Plaintext = new MemoryStream("metrics"u8.ToArray()) }));
        var after = await ScrapeAsync();

        Assert.Equal(calls, Delta(before, after, """kmsemu_requests_total{operation="Encrypt",outcome="success"}"""));
        Assert.Equal(1, Delta(before, after, """kmsemu_requests_total{operation="Encrypt",outcome="NotFoundException"}"""));
        Assert.Equal(calls, Delta(before, after, """kmsemu_request_duration_seconds_count{operation="Encrypt",outcome="success"}"""));
        Assert.Equal(calls, Delta(before, after, """kmsemu_request_duration_seconds_bucket{operation="Encrypt",outcome="success",le="+Inf"}"""));
        Assert.Equal(1, Delta(before, after, """kmsemu_request_duration_seconds_count{operation="Encrypt",outcome="NotFoundException"}"""));
        Assert.Equal(0, Delta(before, after, """kmsemu_requests_total{operation="CreateKey",outcome="success"}"""));
        Assert.Equal(1, after["""kmsemu_requests_total{operation="CreateKey",outcome="success"}"""]);
        Assert.True(after["""kmsemu_request_duration_seconds_sum{operation="Encrypt",outcome="success"}"""] > 0);
        Assert.True(after["kmsemu_hsm_session_pool_size"] >= 4);
        Assert.True(after.ContainsKey("kmsemu_hsm_sessions_in_use"));
        Assert.True(after.ContainsKey("kmsemu_hsm_session_waiters"));
        Assert.True(after.ContainsKey("kmsemu_audit_queue_depth"));
        Assert.Equal(20000, after["kmsemu_audit_queue_capacity"]);
        Assert.Equal(1, after["kmsemu_audit_delivery_running"]);
        Assert.Equal(0, after["kmsemu_audit_delivery_failures_total"]);
    }

    [Fact]
    public async Task A_request_naming_no_operation_is_counted_as_unknown_with_its_error()
    {
        var before = await ScrapeAsync();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new StringContent("{}", Encoding.UTF8, "application/x-amz-json-1.1") };
        request.Headers.Add("X-Amz-Target", "TrentService.NoSuchOperation");
        using var response = await _http.SendAsync(request);
        var after = await ScrapeAsync();

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(1, Delta(before, after, """kmsemu_requests_total{operation="unknown",outcome="UnknownOperationException"}"""));
    }

    [Fact]
    public async Task Metrics_are_served_as_Prometheus_text_and_scraping_them_is_not_a_KMS_request()
    {
        using var first = await _http.GetAsync("/metrics");
        using var second = await _http.GetAsync("/metrics");

        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", second.Content.Headers.ContentType?.ToString());
        var text = await second.Content.ReadAsStringAsync();
        Assert.Contains("# TYPE kmsemu_requests_total counter", text, StringComparison.Ordinal);
        Assert.DoesNotContain("kmsemu_requests_total{", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Health_answers_200_with_the_HSM_store_and_audit_checks_ok()
    {
        var (status, body) = await HealthAsync();

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("ready", body.GetProperty("status").GetString());
        Assert.Equal("ok", body.GetProperty("hsm").GetProperty("status").GetString());
        Assert.True(body.GetProperty("hsm").GetProperty("sessionPoolSize").GetInt32() >= 4);
        Assert.Equal("ok", body.GetProperty("store").GetProperty("status").GetString());
        Assert.Equal("ok", body.GetProperty("audit").GetProperty("status").GetString());
        Assert.True(body.GetProperty("audit").GetProperty("deliveryRunning").GetBoolean());
    }

    [Fact]
    public async Task Health_answers_503_while_the_store_file_is_gone_and_200_once_it_is_back()
    {
        var path = Path.Combine(_host.DataDir, "kms.db");
        Assert.Equal(HttpStatusCode.OK, (await HealthAsync()).Status);

        File.Move(path, path + ".away");
        try
        {
            _host.Clock.Advance(TimeSpan.FromSeconds(1)); // past the cache interval
            var (status, body) = await HealthAsync();

            Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
            Assert.Equal("unhealthy", body.GetProperty("status").GetString());
            Assert.Equal("failing", body.GetProperty("store").GetProperty("status").GetString());
            Assert.StartsWith("The store cannot be read (SQLite error 14", body.GetProperty("store").GetProperty("error").GetString(), StringComparison.Ordinal);
            Assert.Equal("ok", body.GetProperty("hsm").GetProperty("status").GetString());
        }
        finally
        {
            File.Move(path + ".away", path);
        }

        _host.Clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(HttpStatusCode.OK, (await HealthAsync()).Status);
    }

    [Fact]
    public async Task Health_answers_503_while_the_HSM_refuses_the_login_and_200_by_itself_once_it_accepts_it_again()
    {
        var backend = (Pkcs11Backend)_host.Services.GetRequiredService<IKeyMaterialBackend>();
        Assert.Equal(HttpStatusCode.OK, (await HealthAsync()).Status);
        using var kms = _host.CreateClient();
        var key = await kms.NewKeyAsync("used before the logout");
        var context = Blob.Context(("token", "logged out"));
        var before = (await kms.EncryptTextAsync(key.KeyId, "before", context)).CiphertextBlob;

        // The token's user PIN changes and the token is logged out (through any session: the login is per token and
        // process), so the emulator cannot log in again with its configured PIN.
        var pin = new HsmOptions().UserPin;
        const string otherPin = "a-pin-the-emulator-does-not-know";
        await backend.RunAsync("change the PIN and log out", session => { session.SetPin(pin, otherPin); session.Logout(); return 0; }, CancellationToken.None);
        try
        {
            _host.Clock.Advance(TimeSpan.FromSeconds(1));
            var (status, body) = await HealthAsync();

            Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
            Assert.Equal("unhealthy", body.GetProperty("status").GetString());
            Assert.Equal("failing", body.GetProperty("hsm").GetProperty("status").GetString());
            Assert.Equal("The HSM session is not logged in (CKS_RW_PUBLIC_SESSION). Opening a new session failed (CKR_PIN_INCORRECT).",
                body.GetProperty("hsm").GetProperty("error").GetString());
            Assert.Equal("ok", body.GetProperty("store").GetProperty("status").GetString());
        }
        finally
        {
            // The PIN the emulator knows is valid again, and the token logged out again: nothing here logs the
            // emulator back in, so the next check must do it itself.
            await backend.RunAsync("restore the PIN", session =>
            {
                session.Login(CKU.CKU_USER, otherPin);
                session.SetPin(otherPin, pin);
                session.Logout();
                return 0;
            }, CancellationToken.None);
        }

        _host.Clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(HttpStatusCode.OK, (await HealthAsync()).Status);

        // The key used before works again: the in-HSM session copy the logout took is made anew from the token object.
        Assert.Equal("before", Blob.Text((await kms.DecryptBlobAsync(before, context)).Plaintext));
        var after = (await kms.EncryptTextAsync(key.KeyId, "after", context)).CiphertextBlob;
        Assert.Equal("after", Blob.Text((await kms.DecryptBlobAsync(after, context)).Plaintext));
    }

    [Fact]
    public async Task Health_answers_503_starting_once_the_HSM_backend_is_closed()
    {
        ((IDisposable)_host.Services.GetRequiredService<IKeyMaterialBackend>()).Dispose();

        var (status, body) = await HealthAsync();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal("starting", body.GetProperty("status").GetString());
    }

    private async Task<(HttpStatusCode Status, JsonElement Body)> HealthAsync()
    {
        using var response = await _http.GetAsync("/health");
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return (response.StatusCode, body.RootElement.Clone());
    }

    /// <summary>Every sample of the exposition, by its name and labels as written.</summary>
    private async Task<Dictionary<string, double>> ScrapeAsync()
    {
        var samples = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in (await _http.GetStringAsync("/metrics")).Split('\n'))
        {
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var space = line.LastIndexOf(' ');
            samples.Add(line[..space], double.Parse(line[(space + 1)..], CultureInfo.InvariantCulture));
        }

        return samples;
    }

    private static double Delta(Dictionary<string, double> before, Dictionary<string, double> after, string series) =>
        after.GetValueOrDefault(series) - before.GetValueOrDefault(series);
}

/// <summary><c>Kms:Metrics:Enabled=false</c>: /metrics is not served, and is answered as any other non-KMS request.</summary>
public sealed class MetricsOffTests : IAsyncLifetime
{
    private EmulatorHost _host = null!;

    public async Task InitializeAsync() => _host = await EmulatorHost.StartNewAsync("--Kms:Metrics:Enabled=false");

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task With_metrics_off_GET_metrics_gets_the_KMS_APIs_error_answer()
    {
        using var http = new HttpClient { BaseAddress = new Uri(_host.Url) };

        using var response = await http.GetAsync("/metrics");

        Assert.NotEqual(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain("kmsemu_", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.True(response.Headers.Contains("x-amzn-RequestId"));
    }
}
