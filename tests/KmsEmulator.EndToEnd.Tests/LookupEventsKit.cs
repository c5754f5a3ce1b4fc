using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Amazon.KeyManagementService.Model;
using KmsEmulator.Api.Audit;
using Microsoft.Extensions.DependencyInjection;
using static KmsEmulator.EndToEnd.Tests.StrictPrincipals;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>A CloudTrail JSON 1.1 answer: the HTTP status and the body.</summary>
public sealed record CloudTrailAnswer(int Status, JsonElement Body)
{
    public string? ErrorCode => Body.TryGetProperty("__type", out var type) ? type.GetString() : null;

    public string? Message => Body.TryGetProperty("message", out var m) || Body.TryGetProperty("Message", out m) ? m.GetString() : null;

    public JsonElement[] Events => [.. Body.GetProperty("Events").EnumerateArray()];

    public string[] EventNames => [.. Events.Select(e => e.GetProperty("EventName").GetString()!)];

    public string? NextToken => Body.TryGetProperty("NextToken", out var token) ? token.GetString() : null;
}

/// <summary>
/// CloudTrail calls over raw HTTP, signed by a minimal SigV4 implementation of its own (the official .NET CloudTrail
/// client is not among the project's packages): <c>X-Amz-Target: com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.&lt;op&gt;</c>.
/// </summary>
public static class CloudTrailHttp
{
    private static readonly HttpClient Http = new();

    public static async Task<CloudTrailAnswer> CallAsync(
        string url, string body, Principal principal, string operation = "LookupEvents", string service = "cloudtrail", string region = "us-east-1")
    {
        var amzDate = DateTime.UtcNow.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var date = amzDate[..8];
        var host = new Uri(url).Authority;
        var target = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101." + operation;
        const string contentType = "application/x-amz-json-1.1";
        var headers = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["content-type"] = contentType,
            ["host"] = host,
            ["x-amz-date"] = amzDate,
            ["x-amz-target"] = target,
        };
        var signed = string.Join(';', headers.Keys);
        var canonical = "POST\n/\n\n" + string.Concat(headers.Select(h => $"{h.Key}:{h.Value}\n")) + "\n" + signed + "\n" + Hex(SHA256.HashData(Encoding.UTF8.GetBytes(body)));
        var scope = $"{date}/{region}/{service}/aws4_request";
        var toSign = $"AWS4-HMAC-SHA256\n{amzDate}\n{scope}\n{Hex(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)))}";
        var key = Encoding.UTF8.GetBytes("AWS4" + principal.Secret);
        foreach (var part in new[] { date, region, service, "aws4_request" })
        {
            key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(part));
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(body, Encoding.UTF8) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        request.Headers.Add("X-Amz-Target", target);
        request.Headers.Add("X-Amz-Date", amzDate);
        request.Headers.TryAddWithoutValidation(
            "Authorization",
            $"AWS4-HMAC-SHA256 Credential={principal.AccessKeyId}/{scope}, SignedHeaders={signed}, Signature={Hex(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(toSign)))}");
        using var response = await Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal("application/x-amz-json-1.1", response.Content.Headers.ContentType?.MediaType);
        Assert.True(response.Headers.Contains("x-amzn-RequestId"), "every answer carries a request id");
        return new CloudTrailAnswer((int)response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    /// <summary>LookupEvents with the given request members; asserts it succeeded.</summary>
    public static async Task<CloudTrailAnswer> LookupAsync(string url, object request, Principal principal)
    {
        var answer = await CallAsync(url, JsonSerializer.Serialize(request), principal);
        Assert.True(answer.Status == 200, $"LookupEvents failed: {answer.Body}");
        return answer;
    }

    public static object Attribute(string key, string value) => new { LookupAttributes = new[] { new { AttributeKey = key, AttributeValue = value } } };

    private static string Hex(byte[] bytes) => Convert.ToHexStringLower(bytes);
}

/// <summary>
/// One emulator (permissive mode) with two configured principals, and a fixed history of KMS calls one second apart,
/// indexed before any test runs: alice may use KMS and look up events, bob may use KMS only.
/// </summary>
public sealed class LookupFixture : IAsyncLifetime
{
    public static readonly Principal Alice = new("arn:aws:iam::111122223333:user/alice", "AKIDLOOKUPALICE", "alice-secret", """
        {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:*","cloudtrail:LookupEvents"],"Resource":"*"}]}
        """);

    public static readonly Principal Bob = new("arn:aws:iam::111122223333:user/bob", "AKIDLOOKUPBOB", "bob-secret", """
        {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}
        """);

    /// <summary>Callers with unknown access keys are the default account's root (permissive mode).</summary>
    public static readonly Principal Root = new("arn:aws:iam::111122223333:root", "AKIDLOOKUPROOT", "any");

    public EmulatorHost Host { get; private set; } = null!;

    public string Url => Host.Url;

    public string Key1Arn { get; private set; } = string.Empty;

    public string Key2Arn { get; private set; } = string.Empty;

    /// <summary>The names of the history's events, newest first, as every lookup without attribute must return them.</summary>
    public static readonly string[] NewestFirst = ["Encrypt", "DescribeKey", "ListKeys", "Decrypt", "CreateKey", "Encrypt", "Encrypt", "CreateKey"];

    public async Task InitializeAsync()
    {
        Host = await EmulatorHost.StartWithConfigAsync(new
        {
            Kms = new { Principals = new[] { Alice, Bob }.Select(p => p.ToConfiguration()).ToArray() },
        });
        using var alice = Host.CreateClient(Alice.AccessKeyId, secretAccessKey: Alice.Secret);
        using var bob = Host.CreateClient(Bob.AccessKeyId, secretAccessKey: Bob.Secret);
        using var root = Host.CreateClient(Root.AccessKeyId);

        Key1Arn = (await Step(() => alice.CreateKeyAsync(new CreateKeyRequest()))).KeyMetadata.Arn;
        var ciphertext = (await Step(() => alice.EncryptAsync(new EncryptRequest { KeyId = Key1Arn, Plaintext = Blob.Of("one") }))).CiphertextBlob;
        await Step(() => bob.EncryptAsync(new EncryptRequest { KeyId = Key1Arn, Plaintext = Blob.Of("two") }));
        Key2Arn = (await Step(() => alice.CreateKeyAsync(new CreateKeyRequest()))).KeyMetadata.Arn;
        await Step(() => alice.DecryptAsync(new DecryptRequest { CiphertextBlob = ciphertext }));
        await Step(() => root.ListKeysAsync(new ListKeysRequest()));
        await Step(async () =>
        {
            await Assert.ThrowsAsync<NotFoundException>(() => alice.DescribeKeyAsync(new DescribeKeyRequest { KeyId = "alias/missing" }));
            return 0;
        });
        await Step(() => alice.EncryptAsync(new EncryptRequest { KeyId = Key2Arn, Plaintext = Blob.Of("three") }));
        await Host.Services.GetRequiredService<AuditTrail>().FlushAsync();
    }

    public async Task DisposeAsync() => await Host.DisposeAsync();

    /// <summary>Each call one second after the previous, so events have distinct times and a known order.</summary>
    private async Task<T> Step<T>(Func<Task<T>> call)
    {
        Host.Clock.Advance(TimeSpan.FromSeconds(1));
        return await call();
    }
}
