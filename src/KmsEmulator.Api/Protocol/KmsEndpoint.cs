using System.Buffers;
using System.Diagnostics;
using KmsEmulator.Api.Audit;
using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Pipeline;
using KmsEmulator.Hsm;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace KmsEmulator.Api.Protocol;

/// <summary>
/// The HTTP edge of the KMS API: <c>POST /</c> with <c>X-Amz-Target: TrentService.&lt;Operation&gt;</c>.
/// Reads the target and body, builds the request context, runs the operation's pipeline and writes the AWS JSON
/// answer. Every failure becomes an AWS-style JSON error; nothing escapes as a 500 page or a stack trace.
/// </summary>
public sealed partial class KmsEndpoint(OperationTable table, IdentityResolver identity, AuditTrail audit, TimeProvider clock, RequestMetrics metrics, ILogger<KmsEndpoint> logger)
{
    public const string TargetPrefix = "TrentService.";

    /// <summary>Largest request body accepted; the largest valid KMS request (a 128 KiB policy) fits well inside.</summary>
    public const int MaxBodyBytes = 1024 * 1024;

    /// <summary>
    /// Largest body read (and thrown away) before an error is answered, so that the client, which is still sending,
    /// gets the answer on a connection it can go on using. A larger body gets its error with <c>Connection: close</c>.
    /// </summary>
    public const int MaxDiscardedBodyBytes = 16 * 1024 * 1024;

    public async Task HandleAsync(HttpContext http)
    {
        var started = Stopwatch.GetTimestamp();
        var requestId = RequestIds.Of(http);
        var operationName = "-";
        KmsOperation? parsed = null;
        string? keyId = null;
        KmsException? error = null;
        string? errorCode = null;
        OperationDescriptor? row = null;
        KmsRequestContext? context = null;
        var facts = new AuditFacts();
        // The record is queued once the outcome is known and before the answer is written: a client that has its
        // answer (a test that then moves the clock or flushes the trail) finds the record already queued.
        var recorded = false;
        async ValueTask RecordAsync()
        {
            recorded = true;
            // Counted here, like the audit record, before the answer is written: a client that has its answer finds
            // its request in /metrics. The duration is therefore the time to the outcome, without writing the answer.
            metrics.Record(parsed, errorCode ?? error?.Code, Stopwatch.GetTimestamp() - started);
            if (row is not null)
            {
                await audit.RecordAsync(BuildAuditEvent(http, requestId, row, context, facts, errorCode ?? error?.Code, error?.Message, clock.GetUtcNow()));
            }
        }

        var cancellationToken = http.RequestAborted;
        AllowDiscardingOversizedBodies(http);
        try
        {
            var operation = ParseTarget(http.Request);
            parsed = operation;
            operationName = operation.Name();
            row = table[operation];
            facts.ReadOnly = row.ReadOnly;
            var body = await ReadBodyAsync(http.Request, cancellationToken);
            var (caller, region, _) = identity.Resolve(http.Request, body.Span);
            context = new KmsRequestContext(
                requestId,
                operation,
                caller,
                region,
                clock.GetUtcNow(),
                http.Connection.RemoteIpAddress?.ToString(),
                http.Request.Headers.UserAgent,
                SecureTransport: http.Request.IsHttps);

            var result = await row.ExecuteAsync(context, body, facts, cancellationToken);
            keyId = result.KeyId;
            await RecordAsync();
            await AwsJsonResponses.WriteAsync(http.Response, StatusCodes.Status200OK, result.Body, cancellationToken);
        }
        catch (KmsException e)
        {
            error = e;
            await RecordAsync();
            await DiscardUnreadBodyAsync(http, cancellationToken);
            await AwsJsonResponses.WriteErrorAsync(http.Response, e, cancellationToken);
        }
        catch (BadHttpRequestException e)
        {
            // Kestrel rejected the body itself (truncated, malformed chunks): still an AWS-style answer, after which
            // Kestrel closes the connection.
            error = KmsErrors.RequestBodyUnreadable(e.Message);
            await RecordAsync();
            await AwsJsonResponses.WriteErrorAsync(http.Response, error, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            errorCode = ClientClosedRequest;
        }
        catch (Exception e)
        {
            error = e is HsmException { Kind: HsmErrorKind.KeyNotFound or HsmErrorKind.Defective }
                ? KmsErrors.KeyUnavailable()
                : KmsErrors.Internal(requestId);
            LogUnexpected(e, operationName, requestId);
            await RecordAsync();
            if (!http.Response.HasStarted)
            {
                await DiscardUnreadBodyAsync(http, cancellationToken);
                await AwsJsonResponses.WriteErrorAsync(http.Response, error, CancellationToken.None);
            }
        }
        finally
        {
            errorCode ??= error?.Code;
            LogCompleted(operationName, keyId ?? "-", http.Response.StatusCode, errorCode ?? "-", Stopwatch.GetElapsedTime(started).TotalMilliseconds, requestId);
        }

        if (!recorded)
        {
            await RecordAsync();
        }
    }

    /// <summary>Error code of a request whose client went away before the answer (not an AWS code; see docs/audit.md).</summary>
    public const string ClientClosedRequest = "ClientClosedRequest";

    /// <summary>The request as the audit trail keeps it (kms-wire-facts 7.1); built here, never by a handler.</summary>
    private AuditEvent BuildAuditEvent(HttpContext http, string requestId, OperationDescriptor row, KmsRequestContext? context,
        AuditFacts facts, string? errorCode, string? errorMessage, DateTimeOffset now)
    {
        var (caller, region) = context is null ? identity.Claimed(http.Request) : (context.Caller, context.Region);
        // A call on another account's key goes to the owner's trail (and, with a copy, to the caller's) when it
        // succeeded; a failed one only to the caller's, as CloudTrail does with cross-account denials.
        var recipient = errorCode is null && facts.Resources.Count > 0 ? facts.Resources[0].AccountId : caller.AccountId;
        var crossAccount = errorCode is null && recipient != caller.AccountId;
        // Event ids are time-ordered UUIDs (version 7): the audit index keeps one index entry per id, and ids that grow
        // with time are appended at its end instead of being scattered through it (docs/differences-from-aws.md).
        return new AuditEvent
        {
            EventId = UniqueIds.NewVersion7(now),
            RequestId = requestId,
            EventTime = now,
            EventName = row.Operation.Name(),
            Region = region,
            Caller = caller,
            SourceIp = http.Connection.RemoteIpAddress?.ToString(),
            UserAgent = http.Request.Headers.UserAgent,
            ErrorCode = errorCode == "AccessDeniedException" ? "AccessDenied" : errorCode,
            ErrorMessage = errorCode is null ? null : errorMessage ?? string.Empty,
            ReadOnly = facts.ReadOnly,
            RequestParameters = facts.RequestParameters,
            ResponseElements = errorCode is null ? facts.ResponseElements : null,
            Resources = facts.Resources,
            RecipientAccountId = recipient,
            CallerCopyEventId = crossAccount ? UniqueIds.NewVersion7(now) : null,
            SharedEventId = crossAccount ? UniqueIds.NewVersion4() : null,
            UsedKeyArns = errorCode is null ? facts.UsedKeyArns : [],
            Tls = TlsOf(http),
        };
    }

    private static TlsDetails? TlsOf(HttpContext http)
    {
        if (!http.Request.IsHttps || http.Features.Get<ITlsHandshakeFeature>() is not { } tls)
        {
            return null;
        }

        var version = tls.Protocol switch
        {
            System.Security.Authentication.SslProtocols.Tls13 => "TLSv1.3",
            System.Security.Authentication.SslProtocols.Tls12 => "TLSv1.2",
            var other => other.ToString(),
        };
        return new TlsDetails(version, tls.NegotiatedCipherSuite?.ToString() ?? string.Empty, http.Request.Host.HasValue ? http.Request.Host.Value : null);
    }

    private static KmsOperation ParseTarget(HttpRequest request)
    {
        if (!HttpMethods.IsPost(request.Method))
        {
            throw KmsErrors.MethodNotPost(request.Method);
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

    internal static async Task<ReadOnlyMemory<byte>> ReadBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (request.ContentLength > MaxBodyBytes)
        {
            throw TooLarge();
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
                throw KmsErrors.RequestBodyShorterThanContentLength();
            }
        }
        else
        {
            // No Content-Length (chunked): read until the end or past the limit; the rest is discarded with the error.
            using var buffer = new MemoryStream();
            var chunk = ArrayPool<byte>.Shared.Rent(16 * 1024);
            try
            {
                int read;
                while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
                {
                    buffer.Write(chunk, 0, read);
                    if (buffer.Length > MaxBodyBytes)
                    {
                        throw TooLarge();
                    }
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(chunk);
            }

            body = buffer.ToArray();
        }

        if (body.Length == 0)
        {
            throw KmsErrors.RequestBodyEmpty();
        }

        return body;
    }

    private static KmsException TooLarge() => KmsErrors.RequestBodyTooLarge(MaxBodyBytes);

    /// <summary>
    /// Lets this request's body be read up to <see cref="MaxDiscardedBodyBytes"/> (Kestrel's own limit is
    /// <see cref="MaxBodyBytes"/>): the endpoint enforces <see cref="MaxBodyBytes"/> itself and reads the rest of an
    /// oversized body only to discard it.
    /// </summary>
    internal static void AllowDiscardingOversizedBodies(HttpContext http)
    {
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = MaxDiscardedBodyBytes;
        }
    }

    /// <summary>
    /// Reads and discards what is left of the request body before an error is written. A client sends its whole body
    /// before it reads the answer; if the server answered and closed with the body half read, the unread bytes would
    /// reset the connection and the client could see the reset instead of the answer. A body declared larger than
    /// <see cref="MaxDiscardedBodyBytes"/> is not read: its answer carries <c>Connection: close</c>, as does one whose
    /// rest cannot be read (Kestrel stops a chunked body at that limit).
    /// </summary>
    internal static async Task DiscardUnreadBodyAsync(HttpContext http, CancellationToken cancellationToken)
    {
        if (http.Request.ContentLength > MaxDiscardedBodyBytes)
        {
            http.Response.Headers.Connection = "close";
            return;
        }

        var scratch = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            while (await http.Request.Body.ReadAsync(scratch, cancellationToken) > 0)
            {
            }
        }
        catch (Exception e) when (e is BadHttpRequestException or IOException or OperationCanceledException)
        {
            http.Response.Headers.Connection = "close";
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "{Operation} {KeyId} {StatusCode} {ErrorCode} {ElapsedMs:0.000} ms {RequestId}")]
    private partial void LogCompleted(string operation, string keyId, int statusCode, string errorCode, double elapsedMs, string requestId);

    [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "Unexpected failure in {Operation}, request {RequestId}")]
    private partial void LogUnexpected(Exception exception, string operation, string requestId);
}
