using System.Text.Json;
using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using Microsoft.AspNetCore.Http;

namespace KmsEmulator.Api.Protocol;

/// <summary>
/// Writes AWS JSON 1.1 responses: bodies, and errors (<c>{"__type","message"}</c> plus <c>x-amzn-ErrorType</c>). The one
/// place where an error's code becomes HTTP: the model's server faults (<c>"fault": true</c>) are 500, every other
/// error 400, as AWS KMS answers; AccessDeniedException carries its text in <c>Message</c>, every other error in
/// <c>message</c> (observed on AWS).
/// </summary>
public static class AwsJsonResponses
{
    public const string ContentType = "application/x-amz-json-1.1";
    public const string RequestIdHeader = "x-amzn-RequestId";
    public const string ErrorTypeHeader = "x-amzn-ErrorType";

    private const string AccessDenied = "AccessDeniedException";

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
        return WriteAsync(response, StatusOf(error.Code), ErrorBody(error), cancellationToken);
    }

    /// <summary>The HTTP status AWS answers an error code with.</summary>
    public static int StatusOf(string code) =>
        KmsErrorCodes.ServerFaults.Contains(code) ? StatusCodes.Status500InternalServerError : StatusCodes.Status400BadRequest;

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
                writer.WriteString(error.Code == AccessDenied ? "Message" : "message", message);
            }

            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
