using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>
/// Requests the SDK would never send, over plain HTTP: every one gets an AWS JSON 1.1 error (HTTP 400,
/// <c>{"__type","message"}</c>, <c>x-amzn-RequestId</c>), never a 500, an HTML page or a stack trace.
/// </summary>
public sealed class RawHttpTests(HostFixture fixture) : IClassFixture<HostFixture>, IDisposable
{
    private const string AmzJson = "application/x-amz-json-1.1";

    private readonly HttpClient _http = new() { BaseAddress = new Uri(fixture.Host.Url) };

    public void Dispose() => _http.Dispose();

    private async Task<HttpResponseMessage> PostAsync(string? target, byte[] body, string contentType = AmzJson)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        if (target is not null)
        {
            request.Headers.TryAddWithoutValidation("X-Amz-Target", target);
        }

        return await _http.SendAsync(request);
    }

    private Task<HttpResponseMessage> PostAsync(string? target, string body, string contentType = AmzJson) =>
        PostAsync(target, Encoding.UTF8.GetBytes(body), contentType);

    private static string RequestId(HttpResponseMessage response)
    {
        Assert.True(response.Headers.TryGetValues("x-amzn-RequestId", out var values), "x-amzn-RequestId header is missing");
        var requestId = Assert.Single(values);
        KmsAssert.IsUuid(requestId);
        return requestId;
    }

    /// <summary>Asserts an AWS JSON error answer and returns its parsed body.</summary>
    private static async Task<JsonElement> AssertAwsErrorAsync(HttpResponseMessage response, string code, bool hasMessage = true)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(AmzJson, response.Content.Headers.ContentType?.MediaType);
        RequestId(response);
        Assert.Equal(code, Assert.Single(response.Headers.GetValues("x-amzn-ErrorType")));
        Assert.DoesNotContain("<html", text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("   at ", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception:", text, StringComparison.Ordinal);

        using var document = JsonDocument.Parse(text);
        var body = document.RootElement.Clone();
        Assert.Equal(JsonValueKind.Object, body.ValueKind);
        Assert.Equal(code, body.GetProperty("__type").GetString());
        if (hasMessage)
        {
            Assert.False(string.IsNullOrWhiteSpace(body.GetProperty("message").GetString()), text);
        }
        else
        {
            Assert.False(body.TryGetProperty("message", out _), text);
            Assert.False(body.TryGetProperty("Message", out _), text);
        }

        return body;
    }

    [Fact]
    public async Task A_successful_request_answers_AWS_JSON_with_a_request_id()
    {
        using var response = await PostAsync("TrentService.GenerateRandom", "{\"NumberOfBytes\":16}");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(AmzJson, response.Content.Headers.ContentType?.MediaType);
        RequestId(response);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(16, Convert.FromBase64String(body.RootElement.GetProperty("Plaintext").GetString()!).Length);
    }

    [Fact]
    public async Task Every_response_has_its_own_request_id()
    {
        using var first = await PostAsync("TrentService.GenerateRandom", "{\"NumberOfBytes\":1}");
        using var second = await PostAsync("TrentService.GenerateRandom", "{\"NumberOfBytes\":1}");

        Assert.NotEqual(RequestId(first), RequestId(second));
    }

    [Fact]
    public async Task A_request_with_content_type_application_json_is_accepted()
    {
        using var response = await PostAsync("TrentService.ListKeys", "{}", "application/json");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.False(body.RootElement.GetProperty("Truncated").GetBoolean());
    }

    [Fact]
    public async Task The_health_endpoint_answers_with_a_request_id()
    {
        using var response = await _http.GetAsync("/health");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        RequestId(response);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("ready", body.RootElement.GetProperty("status").GetString());
    }

    [Theory]
    [InlineData("malformed JSON", "TrentService.GenerateRandom", "{\"NumberOfBytes\":", "SerializationException")]
    [InlineData("not JSON at all", "TrentService.ListKeys", "hello", "SerializationException")]
    [InlineData("a number where an object belongs", "TrentService.ListKeys", "42", "SerializationException")]
    [InlineData("a JSON array body", "TrentService.ListKeys", "[]", "SerializationException")]
    [InlineData("a JSON null body", "TrentService.ListKeys", "null", "SerializationException")]
    [InlineData("a string where a number belongs", "TrentService.GenerateRandom", "{\"NumberOfBytes\":\"32\"}", "SerializationException")]
    [InlineData("a number where a string belongs", "TrentService.DescribeKey", "{\"KeyId\":42}", "SerializationException")]
    [InlineData("an object where a boolean belongs", "TrentService.CreateKey", "{\"MultiRegion\":{}}", "SerializationException")]
    [InlineData("a string where a map belongs", "TrentService.Encrypt", "{\"KeyId\":\"alias/x\",\"Plaintext\":\"aGk=\",\"EncryptionContext\":\"a=b\"}", "SerializationException")]
    [InlineData("invalid base64", "TrentService.Encrypt", "{\"KeyId\":\"alias/x\",\"Plaintext\":\"***not base64***\"}", "SerializationException")]
    [InlineData("an empty body", "TrentService.ListKeys", "", "SerializationException")]
    [InlineData("no X-Amz-Target", null, "{}", "UnknownOperationException")]
    [InlineData("an unknown operation", "TrentService.Nope", "{}", "UnknownOperationException")]
    [InlineData("another service's target", "Other.Encrypt", "{}", "UnknownOperationException")]
    [InlineData("a target without operation", "TrentService.", "{}", "UnknownOperationException")]
    [InlineData("a lower-case operation name", "TrentService.encrypt", "{}", "UnknownOperationException")]
    [InlineData("a missing required member", "TrentService.DescribeKey", "{}", "ValidationException")]
    public async Task A_bad_request_gets_an_AWS_JSON_error(string what, string? target, string body, string code)
    {
        using var response = await PostAsync(target, body);

        _ = what; // names the case in test reports
        var error = await AssertAwsErrorAsync(response, code);
        Assert.DoesNotContain("System.", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_required_member_names_it_in_AWS_wording()
    {
        using var response = await PostAsync("TrentService.DescribeKey", "{}");

        var error = await AssertAwsErrorAsync(response, "ValidationException");
        Assert.Equal("1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null", error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task Several_violated_constraints_are_reported_together()
    {
        using var response = await PostAsync("TrentService.GenerateDataKey", "{\"KeyId\":\"\",\"NumberOfBytes\":0}");

        var error = await AssertAwsErrorAsync(response, "ValidationException");
        Assert.Equal(
            "2 validation errors detected: Value '' at 'keyId' failed to satisfy constraint: Member must have length greater than or equal to 1; " +
            "Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1",
            error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task A_GET_request_gets_an_AWS_JSON_error()
    {
        using var response = await _http.GetAsync("/");

        await AssertAwsErrorAsync(response, "UnknownOperationException");
    }

    [Fact]
    public async Task Oversized_plaintext_is_rejected_without_echoing_it()
    {
        var plaintext = Convert.ToBase64String(Encoding.ASCII.GetBytes(new string('s', 4097)));

        using var response = await PostAsync("TrentService.Encrypt", $"{{\"KeyId\":\"alias/anything\",\"Plaintext\":\"{plaintext}\"}}");

        var error = await AssertAwsErrorAsync(response, "ValidationException");
        Assert.Equal(
            "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096",
            error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task A_body_larger_than_1_MiB_gets_an_AWS_JSON_error()
    {
        var padding = new string('a', (1024 * 1024) + 10);

        using var response = await PostAsync("TrentService.UpdateKeyDescription", $"{{\"KeyId\":\"alias/x\",\"Description\":\"{padding}\"}}");

        await AssertAwsErrorAsync(response, "SerializationException");
    }

    [Fact]
    public async Task A_body_larger_than_1_MiB_without_a_content_length_gets_an_AWS_JSON_error()
    {
        var body = Encoding.UTF8.GetBytes($"{{\"KeyId\":\"alias/x\",\"Description\":\"{new string('a', (1024 * 1024) + 10)}\"}}");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new StreamContent(new MemoryStream(body)) };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(AmzJson);
        request.Headers.TransferEncodingChunked = true;
        request.Headers.TryAddWithoutValidation("X-Amz-Target", "TrentService.UpdateKeyDescription");

        using var response = await _http.SendAsync(request);

        await AssertAwsErrorAsync(response, "SerializationException");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task After_a_body_larger_than_1_MiB_is_refused_the_same_connection_serves_the_next_request(bool chunked)
    {
        var connections = 0;
        using var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = 1,
            ConnectCallback = async (context, cancellationToken) =>
            {
                Interlocked.Increment(ref connections);
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        using var http = new HttpClient(handler) { BaseAddress = new Uri(fixture.Host.Url) };
        var oversized = Encoding.UTF8.GetBytes($"{{\"KeyId\":\"alias/x\",\"Description\":\"{new string('a', (1024 * 1024) + 10)}\"}}");
        using var first = new HttpRequestMessage(HttpMethod.Post, "/")
        {
            Content = chunked ? new StreamContent(new MemoryStream(oversized)) : new ByteArrayContent(oversized),
        };
        first.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(AmzJson);
        first.Headers.TransferEncodingChunked = chunked;
        first.Headers.TryAddWithoutValidation("X-Amz-Target", "TrentService.UpdateKeyDescription");
        using var second = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new StringContent("{\"NumberOfBytes\":16}") };
        second.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(AmzJson);
        second.Headers.TryAddWithoutValidation("X-Amz-Target", "TrentService.GenerateRandom");

        using var refused = await http.SendAsync(first);
        await AssertAwsErrorAsync(refused, "SerializationException");
        Assert.False(refused.Headers.ConnectionClose ?? false, "the refusal closes the connection");
        using var served = await http.SendAsync(second);

        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        Assert.Equal(1, Volatile.Read(ref connections));
    }

    [Fact]
    public async Task A_body_declared_larger_than_16_MiB_is_refused_without_being_read_and_the_connection_closed()
    {
        var url = new Uri(fixture.Host.Url);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(url.Host, url.Port, timeout.Token);
        var head = "POST / HTTP/1.1\r\n" +
            $"Host: {url.Authority}\r\n" +
            $"Content-Type: {AmzJson}\r\n" +
            "X-Amz-Target: TrentService.UpdateKeyDescription\r\n" +
            $"Content-Length: {(16 * 1024 * 1024) + 1}\r\n\r\n";

        await socket.SendAsync(Encoding.ASCII.GetBytes(head), SocketFlags.None, timeout.Token);
        using var answer = new MemoryStream();
        var buffer = new byte[4096];
        int read;
        while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token)) > 0)
        {
            answer.Write(buffer, 0, read);
        }

        // The server closed the connection (the loop ended) after a complete AWS JSON error.
        var text = Encoding.ASCII.GetString(answer.ToArray());
        Assert.StartsWith("HTTP/1.1 400 ", text, StringComparison.Ordinal);
        Assert.Contains("\r\nConnection: close\r\n", text, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("\r\nx-amzn-ErrorType: SerializationException\r\n", text, StringComparison.OrdinalIgnoreCase);
        Assert.EndsWith("{\"__type\":\"SerializationException\",\"message\":\"The request body is larger than the 1048576 bytes KmsEmulator accepts.\"}", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvalidCiphertextException_is_sent_without_a_message()
    {
        var garbage = Convert.ToBase64String(Encoding.ASCII.GetBytes("definitely not a KMS ciphertext blob, but long enough to parse"));

        using var response = await PostAsync("TrentService.Decrypt", $"{{\"CiphertextBlob\":\"{garbage}\"}}");

        await AssertAwsErrorAsync(response, "InvalidCiphertextException", hasMessage: false);
    }

    [Fact]
    public async Task AccessDeniedException_uses_the_capitalised_Message_member()
    {
        var key = await fixture.Kms.NewKeyAsync();
        var blob = (await fixture.Kms.EncryptTextAsync(key.KeyId, "x")).CiphertextBlob.ToArray();
        blob[5] ^= 0xFF; // names a key that does not exist

        using var response = await PostAsync("TrentService.Decrypt", $"{{\"CiphertextBlob\":\"{Convert.ToBase64String(blob)}\"}}");

        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        RequestId(response);
        using var body = JsonDocument.Parse(text);
        Assert.Equal("AccessDeniedException", body.RootElement.GetProperty("__type").GetString());
        Assert.Equal(KmsAssert.CiphertextKeyGoneMessage, body.RootElement.GetProperty("Message").GetString());
    }

    [Fact]
    public async Task A_successful_operation_without_output_answers_an_empty_JSON_object()
    {
        var key = await fixture.Kms.NewKeyAsync();

        using var response = await PostAsync("TrentService.UpdateKeyDescription", $"{{\"KeyId\":\"{key.KeyId}\",\"Description\":\"raw\"}}");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        RequestId(response);
        Assert.Equal("{}", await response.Content.ReadAsStringAsync());
        Assert.Equal("raw", (await fixture.Kms.DescribeAsync(key.KeyId)).Description);
    }

    [Fact]
    public async Task Absent_members_are_omitted_from_responses_not_sent_as_null()
    {
        using var response = await PostAsync("TrentService.CreateKey", "{}");

        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain("null", text, StringComparison.Ordinal);
        using var body = JsonDocument.Parse(text);
        var metadata = body.RootElement.GetProperty("KeyMetadata");
        Assert.Equal(string.Empty, metadata.GetProperty("Description").GetString());
        Assert.Equal(JsonValueKind.Number, metadata.GetProperty("CreationDate").ValueKind);
        Assert.False(metadata.TryGetProperty("DeletionDate", out _));
        Assert.False(metadata.TryGetProperty("SigningAlgorithms", out _));
    }

    [Theory]
    [InlineData("TrentService.Encrypt", "{\"KeyId\":\"alias/none\",\"Plaintext\":\"aGk=\",\"EncryptionContext\":{\"a\":null}}", "encryptionContext.a")]
    [InlineData("TrentService.UntagResource", "{\"KeyId\":\"1234abcd-12ab-34cd-56ef-1234567890ab\",\"TagKeys\":[\"ok\",null]}", "tagKeys.2.member")]
    [InlineData("TrentService.TagResource", "{\"KeyId\":\"1234abcd-12ab-34cd-56ef-1234567890ab\",\"Tags\":[null]}", "tags.1.member")]
    public async Task Null_list_elements_and_map_values_are_validation_errors_not_500(string target, string body, string path)
    {
        var response = await PostAsync(target, body);

        var error = await AssertAwsErrorAsync(response, "ValidationException");
        Assert.Contains($"Value null at '{path}' failed to satisfy constraint: Member must not be null", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_encryption_context_value_larger_than_64_KiB_is_a_validation_error_not_500()
    {
        using var kms = fixture.Host.CreateClient();
        var key = await kms.NewKeyAsync("big context");
        var body = "{\"KeyId\":\"" + key.KeyId + "\",\"Plaintext\":\"aGk=\",\"EncryptionContext\":{\"a\":\"" + new string('x', 70_000) + "\"}}";

        var response = await PostAsync("TrentService.Encrypt", body);

        await AssertAwsErrorAsync(response, "ValidationException");
    }
}

