using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Amazon.KeyManagementService.Model;
using static KmsEmulator.EndToEnd.Tests.StrictPrincipals;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>Strict mode verifies SigV4 signatures and answers AWS's authentication errors.</summary>
public sealed class SignatureTests : IAsyncLifetime
{
    private EmulatorHost _host = null!;

    public async Task InitializeAsync() => _host = await EmulatorHost.StartWithConfigAsync(Configuration());

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task A_request_signed_with_the_wrong_secret_is_rejected()
    {
        using var forged = _host.CreateClient(Alice.AccessKeyId, secretAccessKey: "not-alices-secret");

        await KmsAssert.ErrorAsync(
            () => forged.ListKeysAsync(new ListKeysRequest()),
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.");
    }

    [Fact]
    public async Task An_unknown_access_key_is_an_UnrecognizedClientException()
    {
        using var stranger = _host.CreateClient("AKIDSTRANGER", secretAccessKey: "whatever");

        await KmsAssert.ErrorAsync(() => stranger.ListKeysAsync(new ListKeysRequest()), "UnrecognizedClientException", "The security token included in the request is invalid.");
    }

    [Fact]
    public async Task A_session_credential_needs_its_token_and_expires()
    {
        using var withoutToken = _host.CreateClient(Worker.AccessKeyId, secretAccessKey: Worker.Secret);
        using var expired = _host.Client(Expired);

        await KmsAssert.ErrorAsync(() => withoutToken.ListKeysAsync(new ListKeysRequest()), "UnrecognizedClientException");
        await KmsAssert.ErrorAsync(() => expired.ListKeysAsync(new ListKeysRequest()), "ExpiredTokenException", "The security token included in the request is expired");
    }

    [Fact]
    public async Task A_body_changed_after_signing_fails_verification()
    {
        using var http = new HttpClient();
        var signed = Signed("""{"Limit":5}""");
        signed.Content = new StringContent("""{"Limit":6}""", Encoding.UTF8);
        signed.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-amz-json-1.1");

        var response = await http.SendAsync(signed);

        Assert.Equal(400, (int)response.StatusCode);
        Assert.Contains("\"__type\":\"InvalidSignatureException\"", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_request_signed_by_hand_with_the_right_secret_is_accepted()
    {
        using var http = new HttpClient();

        var response = await http.SendAsync(Signed("""{"Limit":5}"""));

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Contains("\"Keys\"", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unsigned_request_is_rejected()
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, _host.Url) { Content = new StringContent("{}") };
        request.Headers.Add("X-Amz-Target", "TrentService.ListKeys");

        var response = await http.SendAsync(request);

        Assert.Equal(400, (int)response.StatusCode);
        Assert.Contains("MissingAuthenticationTokenException", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_signature_that_does_not_cover_the_target_is_incomplete()
    {
        using var http = new HttpClient();

        var response = await http.SendAsync(Signed("""{"Limit":5}""", signedHeaders: ["host", "x-amz-date"]));

        Assert.Equal(400, (int)response.StatusCode);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Contains("\"__type\":\"IncompleteSignatureException\"", text, StringComparison.Ordinal);
        Assert.Contains("x-amz-target", text, StringComparison.Ordinal);
    }

    /// <summary>A ListKeys request signed as alice by a minimal, independent SigV4 implementation.</summary>
    private HttpRequestMessage Signed(string body, string[]? signedHeaders = null)
    {
        var now = _host.Clock.GetUtcNow().UtcDateTime;
        var amzDate = now.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var date = amzDate[..8];
        var host = new Uri(_host.Url).Authority;
        const string target = "TrentService.ListKeys";
        const string contentType = "application/x-amz-json-1.1";
        var payloadHash = Hex(SHA256.HashData(Encoding.UTF8.GetBytes(body)));
        var values = new Dictionary<string, string> { ["content-type"] = contentType, ["host"] = host, ["x-amz-date"] = amzDate, ["x-amz-target"] = target };
        var names = signedHeaders ?? ["content-type", "host", "x-amz-date", "x-amz-target"];
        var canonical = "POST\n/\n\n" + string.Concat(names.Select(n => $"{n}:{values[n]}\n")) + "\n" + string.Join(';', names) + "\n" + payloadHash;
        var scope = $"{date}/us-east-1/kms/aws4_request";
        var toSign = $"AWS4-HMAC-SHA256\n{amzDate}\n{scope}\n{Hex(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)))}";
        var key = Encoding.UTF8.GetBytes("AWS4" + Alice.Secret);
        foreach (var part in new[] { date, "us-east-1", "kms", "aws4_request" })
        {
            key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(part));
        }

        var signature = Hex(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(toSign)));
        var request = new HttpRequestMessage(HttpMethod.Post, _host.Url) { Content = new StringContent(body, Encoding.UTF8) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        request.Headers.Add("X-Amz-Target", target);
        request.Headers.Add("X-Amz-Date", amzDate);
        request.Headers.TryAddWithoutValidation("Authorization", $"AWS4-HMAC-SHA256 Credential={Alice.AccessKeyId}/{scope}, SignedHeaders={string.Join(';', names)}, Signature={signature}");
        return request;
    }

    private static string Hex(byte[] bytes) => Convert.ToHexStringLower(bytes);
}

/// <summary>The 5-minute clock skew rule, on a host of its own because it moves the clock.</summary>
public sealed class ClockSkewTests : IAsyncLifetime
{
    private EmulatorHost _host = null!;

    public async Task InitializeAsync() => _host = await EmulatorHost.StartWithConfigAsync(Configuration());

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task A_signature_more_than_five_minutes_old_has_expired()
    {
        using var alice = _host.Client(Alice);
        await alice.ListKeysAsync(new ListKeysRequest());

        _host.Clock.Advance(TimeSpan.FromMinutes(6));

        var error = await KmsAssert.ErrorAsync(() => alice.ListKeysAsync(new ListKeysRequest()), "InvalidSignatureException");
        Assert.StartsWith("Signature expired: ", error.Message, StringComparison.Ordinal);
        Assert.Contains(" is now earlier than ", error.Message, StringComparison.Ordinal);
        Assert.EndsWith(" - 5 min.)", error.Message, StringComparison.Ordinal);
    }
}
