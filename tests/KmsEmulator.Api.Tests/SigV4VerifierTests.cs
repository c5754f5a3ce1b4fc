using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Protocol;
using Microsoft.AspNetCore.Http;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// The verifier against a signer written here from the SigV4 definition with strings and one-shot HMACs, so that the
/// verifier's buffers and reused HMAC contexts are checked against a plain implementation.
/// </summary>
public sealed class SigV4VerifierTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 27, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Skew = TimeSpan.FromMinutes(5);
    private static readonly byte[] Body = """{"KeyId":"alias/test","Plaintext":"aGVsbG8="}"""u8.ToArray();

    [Fact]
    public void The_canonical_request_matches_the_published_get_vanilla_example()
    {
        var request = new DefaultHttpContext().Request;
        request.Method = "GET";
        request.Path = "/";
        request.Headers.Host = "example.amazonaws.com";
        request.Headers["X-Amz-Date"] = "20150830T123600Z";
        var signature = SigV4Authorization.Parse(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=00");

        Assert.Equal(
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" +
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            SigV4Verifier.CanonicalRequest(request, [], signature));
    }

    [Fact]
    public void A_request_signed_with_the_secret_verifies()
    {
        var (request, signature) = Signed("secret-a", Body);

        SigV4Verifier.Verify(request, Body, signature, "secret-a", Now, Skew);
    }

    [Fact]
    public void Alternating_secrets_on_one_thread_are_each_checked_with_their_own_key()
    {
        var (requestA, signatureA) = Signed("secret-a", Body);
        var (requestB, signatureB) = Signed("secret-b", Body);

        for (var i = 0; i < 3; i++)
        {
            SigV4Verifier.Verify(requestA, Body, signatureA, "secret-a", Now, Skew);
            Assert.Equal("InvalidSignatureException",
                Assert.Throws<KmsException>(() => SigV4Verifier.Verify(requestA, Body, signatureA, "secret-b", Now, Skew)).Code);
            SigV4Verifier.Verify(requestB, Body, signatureB, "secret-b", Now, Skew);
            Assert.Equal("InvalidSignatureException",
                Assert.Throws<KmsException>(() => SigV4Verifier.Verify(requestB, Body, signatureB, "secret-a", Now, Skew)).Code);
        }
    }

    [Fact]
    public void A_changed_body_or_target_does_not_verify()
    {
        var (request, signature) = Signed("secret-a", Body);
        var otherBody = """{"KeyId":"alias/test","Plaintext":"aGVsbG9="}"""u8.ToArray();

        Assert.Throws<KmsException>(() => SigV4Verifier.Verify(request, otherBody, signature, "secret-a", Now, Skew));
        request.Headers["X-Amz-Target"] = "TrentService.Decrypt";
        Assert.Throws<KmsException>(() => SigV4Verifier.Verify(request, Body, signature, "secret-a", Now, Skew));
    }

    [Fact]
    public void A_large_body_verifies_and_the_next_small_one_too()
    {
        var large = Encoding.UTF8.GetBytes("{\"Plaintext\":\"" + new string('A', 100_000) + "\"}");
        var (largeRequest, largeSignature) = Signed("secret-a", large, extraHeader: new string('x', 20_000));
        var (request, signature) = Signed("secret-a", Body);

        SigV4Verifier.Verify(largeRequest, large, largeSignature, "secret-a", Now, Skew);
        SigV4Verifier.Verify(request, Body, signature, "secret-a", Now, Skew);
    }

    /// <summary>A KMS request signed the plain way: the canonical request and string to sign as strings.</summary>
    private static (HttpRequest Request, SigV4Authorization Signature) Signed(string secret, byte[] body, string? extraHeader = null)
    {
        var amzDate = Now.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var date = amzDate[..8];
        var request = new DefaultHttpContext().Request;
        request.Method = "POST";
        request.Path = "/";
        request.Headers.Host = "127.0.0.1:4599";
        request.Headers.ContentType = "application/x-amz-json-1.1";
        request.Headers["X-Amz-Date"] = amzDate;
        request.Headers["X-Amz-Target"] = "TrentService.Encrypt";
        var headers = new List<(string Name, string Value)>
        {
            ("content-type", "application/x-amz-json-1.1"), ("host", "127.0.0.1:4599"), ("x-amz-date", amzDate),
            ("x-amz-target", "TrentService.Encrypt"),
        };
        if (extraHeader is not null)
        {
            request.Headers["X-Extra"] = extraHeader;
            headers.Add(("x-extra", extraHeader));
        }

        var signedHeaders = string.Join(';', headers.Select(h => h.Name));
        var canonical = "POST\n/\n\n" + string.Concat(headers.Select(h => $"{h.Name}:{h.Value}\n")) + "\n" + signedHeaders + "\n" +
            Convert.ToHexStringLower(SHA256.HashData(body));
        var scope = $"{date}/us-east-1/kms/aws4_request";
        var stringToSign = $"AWS4-HMAC-SHA256\n{amzDate}\n{scope}\n{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)))}";
        var key = Encoding.UTF8.GetBytes("AWS4" + secret);
        foreach (var part in new[] { date, "us-east-1", "kms", "aws4_request" })
        {
            key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(part));
        }

        var signature = Convert.ToHexStringLower(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(stringToSign)));
        return (request, SigV4Authorization.Parse($"AWS4-HMAC-SHA256 Credential=AKID/{scope}, SignedHeaders={signedHeaders}, Signature={signature}"));
    }
}
