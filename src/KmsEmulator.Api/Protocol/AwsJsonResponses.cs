using System.Text.Json;
using KmsEmulator.Api.Keys;
using Microsoft.AspNetCore.Http;

namespace KmsEmulator.Api.Protocol;

/// <summary>Writes AWS JSON 1.1 responses: bodies, errors (<c>{"__type","message"}</c> plus <c>x-amzn-ErrorType</c>).</summary>
public static class AwsJsonResponses
{
    public const string ContentType = "application/x-amz-json-1.1";
    public const string RequestIdHeader = "x-amzn-RequestId";
    public const string ErrorTypeHeader = "x-amzn-ErrorType";

    public static Task WriteAsync(HttpResponse response, int status, byte[] body, CancellationToken cancellationToken)
    {
        response.StatusCode = status;
        response.ContentType = ContentType;
        response.ContentLength = body.Length;
        return response.Body.WriteAsync(body, 0, body.Length, cancellationToken);
    }

    public static Task WriteErrorAsync(HttpResponse response, KmsException error, CancellationToken cancellationToken)
    {
        response.Headers[ErrorTypeHeader] = error.Code;
        return WriteAsync(response, error.HttpStatus, ErrorBody(error), cancellationToken);
    }

    /// <summary>The error body; errors that AWS sends without a message carry only <c>__type</c>.</summary>
    public static byte[] ErrorBody(KmsException error)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(128);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("__type", error.Code);
            if (error.WireMessage is { } message)
            {
                writer.WriteString(error.CapitalizedMessageMember ? "Message" : "message", message);
            }

            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
