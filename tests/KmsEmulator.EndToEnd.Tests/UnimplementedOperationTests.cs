using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>Operations that are not built yet answer UnsupportedOperationException, never an empty success.</summary>
public sealed class UnimplementedOperationTests(HostFixture fixture) : IClassFixture<HostFixture>
{
    private readonly AmazonKeyManagementServiceClient _kms = fixture.Kms;

    /// <summary>The operations of the KMS model (2014-11-01) that the emulator does not implement yet.</summary>
    public static TheoryData<string> UnimplementedOperations =>
    [
        "ConnectCustomKeyStore", "CreateCustomKeyStore", "DeleteCustomKeyStore", "DeleteImportedKeyMaterial",
        "DescribeCustomKeyStores", "DisableKeyRotation", "DisconnectCustomKeyStore", "EnableKeyRotation", "GetKeyLastUsage",
        "GetKeyRotationStatus", "GetParametersForImport", "ImportKeyMaterial", "ListKeyRotations",
        "ReplicateKey", "RotateKeyOnDemand", "UpdateCustomKeyStore", "UpdatePrimaryRegion",
    ];

    [Theory]
    [MemberData(nameof(UnimplementedOperations))]
    public async Task An_unimplemented_operation_answers_UnsupportedOperationException_naming_it(string operation)
    {
        using var http = new HttpClient { BaseAddress = new Uri(fixture.Host.Url) };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new StringContent("{}", Encoding.UTF8) };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse("application/x-amz-json-1.1");
        request.Headers.TryAddWithoutValidation("X-Amz-Target", "TrentService." + operation);

        using var response = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/x-amz-json-1.1", response.Content.Headers.ContentType?.MediaType);
        Assert.True(response.Headers.Contains("x-amzn-RequestId"));
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("UnsupportedOperationException", body.RootElement.GetProperty("__type").GetString());
        Assert.Contains(operation, body.RootElement.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetKeyLastUsage_through_the_SDK_returns_UnsupportedOperationException()
    {
        var key = await _kms.NewKeyAsync();

        // GetKeyLastUsage does not model UnsupportedOperationException, so the SDK raises its base exception type.
        var error = await KmsAssert.ErrorAsync(() => _kms.GetKeyLastUsageAsync(new GetKeyLastUsageRequest { KeyId = key.KeyId }), "UnsupportedOperationException");

        Assert.Contains("GetKeyLastUsage", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EnableKeyRotation_through_the_SDK_returns_UnsupportedOperationException()
    {
        var key = await _kms.NewKeyAsync();

        var error = await KmsAssert.ErrorAsync<UnsupportedOperationException>(() => _kms.EnableKeyRotationAsync(new EnableKeyRotationRequest { KeyId = key.KeyId }));

        Assert.Contains("EnableKeyRotation", error.Message, StringComparison.Ordinal);
    }
}
