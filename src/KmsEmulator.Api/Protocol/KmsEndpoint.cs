using System.Diagnostics;
using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Pipeline;
using KmsEmulator.Hsm;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace KmsEmulator.Api.Protocol;

/// <summary>
/// The HTTP edge of the KMS API: <c>POST /</c> with <c>X-Amz-Target: TrentService.&lt;Operation&gt;</c>.
/// Reads the target and body, builds the request context, runs the operation's pipeline and writes the AWS JSON
/// answer. Every failure becomes an AWS-style JSON error; nothing escapes as a 500 page or a stack trace.
/// </summary>
public sealed partial class KmsEndpoint(OperationTable table, IdentityResolver identity, TimeProvider clock, ILogger<KmsEndpoint> logger)
{
    public const string TargetPrefix = "TrentService.";

    /// <summary>Largest request body accepted; the largest valid KMS request (a 128 KiB policy) fits well inside.</summary>
    public const int MaxBodyBytes = 1024 * 1024;

    public async Task HandleAsync(HttpContext http)
    {
        var started = Stopwatch.GetTimestamp();
        var requestId = RequestIds.Of(http);
        var operationName = "-";
        string? keyId = null;
        string? errorCode = null;
        var cancellationToken = http.RequestAborted;
        try
        {
            var operation = ParseTarget(http.Request);
            operationName = operation.Name();
            var body = await ReadBodyAsync(http.Request, cancellationToken);
            var (caller, region, _) = identity.Resolve(http.Request, body.Span);
            var context = new KmsRequestContext(
                requestId,
                operation,
                caller,
                region,
                clock.GetUtcNow(),
                http.Connection.RemoteIpAddress?.ToString(),
                http.Request.Headers.UserAgent);

            var result = await table[operation].ExecuteAsync(context, body, cancellationToken);
            keyId = result.KeyId;
            await AwsJsonResponses.WriteAsync(http.Response, StatusCodes.Status200OK, result.Body, cancellationToken);
        }
        catch (KmsException e)
        {
            errorCode = e.Code;
            await AwsJsonResponses.WriteErrorAsync(http.Response, e, cancellationToken);
        }
        catch (BadHttpRequestException e)
        {
            // Kestrel rejected the body itself (too large, truncated): still an AWS-style answer.
            var error = KmsErrors.Serialization($"The request body could not be read: {e.Message}");
            errorCode = error.Code;
            await AwsJsonResponses.WriteErrorAsync(http.Response, error, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            errorCode = "ClientClosedRequest";
        }
        catch (Exception e)
        {
            var error = e is HsmException { Kind: HsmErrorKind.KeyNotFound or HsmErrorKind.Defective }
                ? KmsErrors.KeyUnavailable()
                : KmsErrors.Internal(requestId);
            errorCode = error.Code;
            LogUnexpected(e, operationName, requestId);
            if (!http.Response.HasStarted)
            {
                await AwsJsonResponses.WriteErrorAsync(http.Response, error, CancellationToken.None);
            }
        }
        finally
        {
            LogCompleted(operationName, keyId ?? "-", http.Response.StatusCode, errorCode ?? "-", Stopwatch.GetElapsedTime(started).TotalMilliseconds, requestId);
        }
    }

    private static KmsOperation ParseTarget(HttpRequest request)
    {
        if (!HttpMethods.IsPost(request.Method))
        {
            throw new KmsException("UnknownOperationException", $"KMS takes POST requests to /, not {request.Method}.");
        }

        string? target = request.Headers["X-Amz-Target"];
        if (string.IsNullOrEmpty(target))
        {
            throw KmsErrors.UnknownOperation(null);
        }

        if (!target.StartsWith(TargetPrefix, StringComparison.Ordinal) || !KmsOperations.TryParse(target[TargetPrefix.Length..], out var operation))
        {
            throw KmsErrors.UnknownOperation(target);
        }

        return operation;
    }

    private static async Task<ReadOnlyMemory<byte>> ReadBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (request.ContentLength > MaxBodyBytes)
        {
            throw KmsErrors.Serialization($"The request body is larger than the {MaxBodyBytes} bytes KmsEmulator accepts.");
        }

        byte[] body;
        if (request.ContentLength is { } length)
        {
            // The usual case: SDKs send Content-Length, so the body is read into an array of exactly that size.
            body = new byte[length];
            try
            {
                await request.Body.ReadExactlyAsync(body, cancellationToken);
            }
            catch (EndOfStreamException)
            {
                throw KmsErrors.Serialization("The request body is shorter than its Content-Length.");
            }
        }
        else
        {
            using var buffer = new MemoryStream();
            await request.Body.CopyToAsync(buffer, cancellationToken);
            if (buffer.Length > MaxBodyBytes)
            {
                throw KmsErrors.Serialization($"The request body is larger than the {MaxBodyBytes} bytes KmsEmulator accepts.");
            }

            body = buffer.ToArray();
        }

        if (body.Length == 0)
        {
            throw KmsErrors.Serialization("The request body is empty; KMS requests carry a JSON object, at least {}.");
        }

        return body;
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "{Operation} {KeyId} {StatusCode} {ErrorCode} {ElapsedMs:0.000} ms {RequestId}")]
    private partial void LogCompleted(string operation, string keyId, int statusCode, string errorCode, double elapsedMs, string requestId);

    [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "Unexpected failure in {Operation}, request {RequestId}")]
    private partial void LogUnexpected(Exception exception, string operation, string requestId);
}
