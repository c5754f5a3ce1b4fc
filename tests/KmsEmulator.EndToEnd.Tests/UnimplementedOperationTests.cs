using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using KmsEmulator.Api.Pipeline;
using Microsoft.Extensions.DependencyInjection;
using Model = KmsEmulator.Api.Generated;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>Operations that are not built yet answer UnsupportedOperationException, never an empty success.</summary>
public sealed class UnimplementedOperationTests(HostFixture fixture) : IClassFixture<HostFixture>
{
    private readonly AmazonKeyManagementServiceClient _kms = fixture.Kms;

    /// <summary>Every operation of the service model, from the generated operation list.</summary>
    public static TheoryData<string> ModelOperations => [.. Model.KmsOperations.All.Select(Model.KmsOperations.Name)];

    /// <summary>
    /// Which operations are not built comes from the running emulator's operation table, not from a list in this file:
    /// those answer UnsupportedOperationException naming themselves, and every built one answers something else (here
    /// to a bare <c>{}</c>: a result or a client error, never UnsupportedOperationException and never a 500).
    /// </summary>
    [Theory]
    [MemberData(nameof(ModelOperations))]
    public async Task An_operation_answers_UnsupportedOperationException_exactly_when_its_row_in_the_operation_table_is_not_built(string operation)
    {
        Assert.True(Model.KmsOperations.TryParse(operation, out var parsed));
        var built = fixture.Host.Services.GetRequiredService<OperationTable>()[parsed].Implemented;
        using var http = new HttpClient { BaseAddress = new Uri(fixture.Host.Url) };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new StringContent("{}", Encoding.UTF8) };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse("application/x-amz-json-1.1");
        request.Headers.TryAddWithoutValidation("X-Amz-Target", "TrentService." + operation);

        using var response = await http.SendAsync(request);

        Assert.Equal("application/x-amz-json-1.1", response.Content.Headers.ContentType?.MediaType);
        Assert.True(response.Headers.Contains("x-amzn-RequestId"));
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var type = body.RootElement.TryGetProperty("__type", out var member) ? member.GetString() : null;
        if (built)
        {
            Assert.NotEqual("UnsupportedOperationException", type);
            Assert.True(response.StatusCode is HttpStatusCode.OK or HttpStatusCode.BadRequest, $"{operation} answered {(int)response.StatusCode} {type}.");
            return;
        }

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("UnsupportedOperationException", type);
        Assert.Contains(operation, body.RootElement.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_operation_whose_model_lacks_the_error_reaches_the_SDK_as_its_base_exception()
    {
        // DescribeCustomKeyStores does not model UnsupportedOperationException, so the SDK raises its base exception type.
        var error = await KmsAssert.ErrorAsync(() => _kms.DescribeCustomKeyStoresAsync(new DescribeCustomKeyStoresRequest()), "UnsupportedOperationException");

        Assert.Contains("DescribeCustomKeyStores", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetParametersForImport_on_a_key_with_KMS_made_material_reaches_the_SDK_as_UnsupportedOperationException()
    {
        var key = await _kms.NewKeyAsync();

        await KmsAssert.ErrorAsync<UnsupportedOperationException>(() => _kms.GetParametersForImportAsync(new GetParametersForImportRequest
        {
            KeyId = key.KeyId,
            WrappingAlgorithm = AlgorithmSpec.RSAES_OAEP_SHA_256,
            WrappingKeySpec = WrappingKeySpec.RSA_2048,
        }), $"{key.Arn} origin is AWS_KMS which is not valid for this operation.");
    }
}
