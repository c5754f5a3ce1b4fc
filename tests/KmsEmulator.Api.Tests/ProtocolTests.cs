using System.Text.Json;
using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Operations;
using KmsEmulator.Api.Protocol;

namespace KmsEmulator.Api.Tests;

public sealed class ProtocolTests
{
    [Fact]
    public void A_SigV4_header_yields_access_key_and_credential_scope()
    {
        var parsed = SigV4Authorization.Parse(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/eu-west-2/kms/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=abc123");

        Assert.Equal("AKIDEXAMPLE", parsed.AccessKeyId);
        Assert.Equal("20260101", parsed.Date);
        Assert.Equal("eu-west-2", parsed.Region);
        Assert.Equal("kms", parsed.Service);
        Assert.Equal(["content-type", "host", "x-amz-date", "x-amz-target"], parsed.SignedHeaders.ToArray());
        Assert.Equal("abc123", parsed.Signature);
        Assert.Equal("20260101/eu-west-2/kms/aws4_request", parsed.CredentialScope);
    }

    [Theory]
    [InlineData("AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/kms/aws4_request, SignedHeaders=host", "Authorization header requires 'Signature' parameter.")]
    [InlineData("AWS4-HMAC-SHA256 SignedHeaders=host, Signature=ab", "Authorization header requires 'Credential' parameter.")]
    [InlineData("AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/kms/aws4_request, SignedHeaders, Signature=ab", "'SignedHeaders' not a valid key=value pair (missing equal-sign) in Authorization header")]
    [InlineData("Bearer abc", "Unsupported AWS 'algorithm': 'Bearer'")]
    [InlineData("AWS4-HMAC-SHA256 Credential=AKID/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=ab", "Credential should be scoped")]
    public void A_malformed_SigV4_header_is_an_IncompleteSignatureException(string header, string expectedStart)
    {
        var error = Assert.Throws<KmsException>(() => SigV4Authorization.Parse(header));

        Assert.Equal("IncompleteSignatureException", error.Code);
        Assert.StartsWith(expectedStart, error.WireMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Timestamps_are_epoch_seconds_with_milliseconds()
    {
        var json = JsonSerializer.Serialize(
            new AliasListEntry { CreationDate = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_123), LastUpdatedDate = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000) },
            KmsJsonContext.Default.AliasListEntry);

        Assert.Equal("""{"CreationDate":1700000000.123,"LastUpdatedDate":1700000000}""", json);
    }

    [Theory]
    [InlineData("1700000000", 1_700_000_000_000)]
    [InlineData("1700000000.5", 1_700_000_000_500)]
    [InlineData("1.7e9", 1_700_000_000_000)]
    public void Timestamps_are_read_from_integers_and_fractions(string number, long expectedMillis)
    {
        var entry = JsonSerializer.Deserialize("{\"CreationDate\":" + number + "}", KmsJsonContext.Default.AliasListEntry)!;

        Assert.Equal(expectedMillis, entry.CreationDate!.Value.ToUnixTimeMilliseconds());
    }

    [Fact]
    public void Error_bodies_have_type_and_message_and_omit_a_missing_message()
    {
        Assert.Equal("""{"__type":"NotFoundException","message":"gone"}""", System.Text.Encoding.UTF8.GetString(AwsJsonResponses.ErrorBody(new KmsException("NotFoundException", "gone"))));
        Assert.Equal("""{"__type":"InvalidCiphertextException"}""", System.Text.Encoding.UTF8.GetString(AwsJsonResponses.ErrorBody(KmsErrors.InvalidCiphertext())));
        Assert.Contains("\"Message\":", System.Text.Encoding.UTF8.GetString(AwsJsonResponses.ErrorBody(KmsErrors.CiphertextKeyNotAccessible())), StringComparison.Ordinal);
    }

    [Fact]
    public void Error_statuses_come_from_the_model_server_faults_are_500_and_every_other_error_400()
    {
        Assert.NotEmpty(Generated.KmsErrorCodes.ServerFaults);
        foreach (var code in Generated.KmsErrorCodes.All)
        {
            var expected = Generated.KmsErrorCodes.ServerFaults.Contains(code) ? 500 : 400;
            Assert.Equal(expected, AwsJsonResponses.StatusOf(code));
        }

        Assert.Equal(500, AwsJsonResponses.StatusOf(KmsErrors.Internal("r").Code));
        Assert.Equal(500, AwsJsonResponses.StatusOf(KmsErrors.KeyUnavailable().Code));
        Assert.Equal(400, AwsJsonResponses.StatusOf("AccessDeniedException"));
        Assert.Equal(400, AwsJsonResponses.StatusOf("ValidationException"));
    }

    [Fact]
    public void Paging_walks_every_item_once_and_rejects_foreign_markers()
    {
        var items = Enumerable.Range(0, 25).Select(i => $"k{i:D2}").ToList();
        var seen = new List<string>();
        string? marker = null;
        do
        {
            var page = Paging.Take(items, s => s, marker, 10, defaultLimit: 100, maxLimit: 1000);
            seen.AddRange(page.Items);
            marker = page.NextMarker;
            Assert.Equal(marker is not null, page.Truncated);
        }
        while (marker is not null);

        Assert.Equal(items, seen);
        Assert.Equal("InvalidMarkerException", Assert.Throws<KmsException>(() => Paging.Take(items, s => s, "not-a-marker", 10, 100, 1000)).Code);
        Assert.Equal("InvalidMarkerException", Assert.Throws<KmsException>(() => Paging.TakeByPosition(items, Convert.ToBase64String("x"u8.ToArray()), 10, 50, 50)).Code);
    }
}
