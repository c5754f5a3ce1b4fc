using System.Diagnostics;
using System.Text;
using System.Text.Json;
using KmsEmulator.Api.Audit;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Pipeline;
using KmsEmulator.Policy;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KmsEmulator.Api.Protocol.CloudTrail;

/// <summary>
/// CloudTrail's <c>LookupEvents</c> on the KMS port: <c>POST /</c> with
/// <c>X-Amz-Target: com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents</c>, AWS JSON 1.1, SigV4 with
/// the signing name <c>cloudtrail</c> (same strict and permissive rules as KMS). It answers the events of the caller's
/// account and region from the audit index, newest first. Every other CloudTrail operation answers
/// UnsupportedOperationException naming it. Lookups are not recorded in the KMS audit trail: they are CloudTrail
/// events, not KMS ones.
/// </summary>
public sealed partial class CloudTrailEndpoint(
    IdentityResolver identity,
    TimeProvider clock,
    IOptions<AuditOptions> audit,
    ILogger<CloudTrailEndpoint> logger,
    IAuditIndex? index = null)
{
    /// <summary>The model's <c>targetPrefix</c> and the dot before the operation name.</summary>
    public const string TargetPrefix = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.";

    /// <summary>CloudTrail's SigV4 signing name, which the credential scope must name.</summary>
    public const string SigningName = "cloudtrail";

    public const string LookupEvents = "LookupEvents";

    /// <summary>The IAM action a configured principal's identity policies must allow.</summary>
    public const string LookupEventsAction = "cloudtrail:LookupEvents";

    /// <summary>The only event category LookupEvents knows besides the default (management events).</summary>
    public const string InsightCategory = "insight";

    private static readonly string[] AttributeKeys = Enum.GetNames<LookupAttributeKey>();

    /// <summary>Whether a request is a CloudTrail call (by its target), so it is routed here and not to KMS.</summary>
    public static bool Matches(HttpRequest request) =>
        request.Headers["X-Amz-Target"].ToString().StartsWith(TargetPrefix, StringComparison.Ordinal);

    public async Task HandleAsync(HttpContext http)
    {
        var started = Stopwatch.GetTimestamp();
        var requestId = RequestIds.Of(http);
        var cancellationToken = http.RequestAborted;
        var operation = http.Request.Headers["X-Amz-Target"].ToString()[TargetPrefix.Length..];
        string? errorCode = null;
        KmsEndpoint.AllowDiscardingOversizedBodies(http);
        try
        {
            if (!HttpMethods.IsPost(http.Request.Method))
            {
                throw KmsErrors.MethodNotPost(http.Request.Method);
            }

            var body = await KmsEndpoint.ReadBodyAsync(http.Request, cancellationToken);
            var (caller, region, _) = identity.Resolve(http.Request, body.Span, SigningName);
            if (operation != LookupEvents)
            {
                throw KmsErrors.CloudTrailOperationNotSupported(operation);
            }

            Authorize(http, caller, region);
            if (index is null)
            {
                throw KmsErrors.CloudTrailLookupWithoutAudit();
            }

            var request = Deserialize(body.Span);
            var retention = audit.Value.RetentionDays > 0 ? clock.GetUtcNow().AddDays(-audit.Value.RetentionDays) : (DateTimeOffset?)null;
            var response = await LookupAsync(index, request, caller.AccountId, region, retention, cancellationToken);
            await AwsJsonResponses.WriteAsync(
                http.Response,
                StatusCodes.Status200OK,
                JsonSerializer.SerializeToUtf8Bytes(response, CloudTrailJsonContext.Default.LookupEventsResponse),
                cancellationToken);
        }
        catch (KmsException e)
        {
            errorCode = e.Code;
            await KmsEndpoint.DiscardUnreadBodyAsync(http, cancellationToken);
            await AwsJsonResponses.WriteErrorAsync(http.Response, e, cancellationToken);
        }
        catch (BadHttpRequestException e)
        {
            var error = KmsErrors.RequestBodyUnreadable(e.Message);
            errorCode = error.Code;
            await AwsJsonResponses.WriteErrorAsync(http.Response, error, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            errorCode = KmsEndpoint.ClientClosedRequest;
        }
        catch (Exception e)
        {
            var error = KmsErrors.Internal(requestId);
            errorCode = error.Code;
            LogUnexpected(e, operation, requestId);
            if (!http.Response.HasStarted)
            {
                await KmsEndpoint.DiscardUnreadBodyAsync(http, cancellationToken);
                await AwsJsonResponses.WriteErrorAsync(http.Response, error, CancellationToken.None);
            }
        }
        finally
        {
            LogCompleted(operation, http.Response.StatusCode, errorCode ?? "-", Stopwatch.GetElapsedTime(started).TotalMilliseconds, requestId);
        }
    }

    /// <summary>
    /// Validates the request (kms-wire-facts 7.6 and the model) and answers one page. Insight events are never recorded
    /// here, so <c>EventCategory: insight</c> answers no events. Events older than <paramref name="retainedSince"/> are
    /// not answered even before the next start-up prunes them; the NextToken stays bound to the request's own times.
    /// </summary>
    internal static async Task<LookupEventsResponse> LookupAsync(
        IAuditIndex index, LookupEventsRequest request, string accountId, string region, DateTimeOffset? retainedSince, CancellationToken cancellationToken)
    {
        var query = ToQuery(request, accountId, region);
        if (request.EventCategory is not null)
        {
            return new LookupEventsResponse();
        }

        if (request.NextToken is { } token)
        {
            query = query with { After = LookupToken.Decode(token, query) ?? throw KmsErrors.LookupNextTokenInvalid() };
        }

        var page = await index.LookupAsync(
            retainedSince is { } since && (query.StartTime is null || query.StartTime < since) ? query with { StartTime = since } : query,
            cancellationToken);
        return new LookupEventsResponse
        {
            Events = [.. page.Events.Select(ToWire)],
            NextToken = page.Next is { } next ? LookupToken.Encode(query, next) : null,
        };
    }

    /// <summary>The request as an index query, or the CloudTrail error for what is wrong with it.</summary>
    internal static AuditLookup ToQuery(LookupEventsRequest request, string accountId, string region)
    {
        (LookupAttributeKey, string)? attribute = null;
        if (request.LookupAttributes is { Count: > 0 } attributes)
        {
            if (attributes.Count > 1)
            {
                throw KmsErrors.TooManyLookupAttributes(attributes.Count);
            }

            var key = attributes[0]?.AttributeKey;
            if (key is null || !AttributeKeys.Contains(key, StringComparer.Ordinal))
            {
                throw KmsErrors.LookupAttributeKeyInvalid(key, AttributeKeys);
            }

            var value = attributes[0]!.AttributeValue;
            if (value is not { Length: >= 1 and <= LookupEventsRequest.AttributeValueMax })
            {
                throw KmsErrors.LookupAttributeValueInvalid(key, value?.Length, LookupEventsRequest.AttributeValueMax);
            }

            attribute = (Enum.Parse<LookupAttributeKey>(key), value);
        }

        if (request.StartTime is { } start && request.EndTime is { } end && start > end)
        {
            throw KmsErrors.LookupTimeRangeInvalid(start, end);
        }

        if (request.MaxResults is { } max && (max < 1 || max > LookupEventsRequest.MaxResultsMax))
        {
            throw KmsErrors.LookupMaxResultsInvalid(max, LookupEventsRequest.MaxResultsMax);
        }

        if (request.EventCategory is { } category && category != InsightCategory)
        {
            throw KmsErrors.LookupEventCategoryInvalid(category);
        }

        return new AuditLookup(accountId, region, attribute, request.StartTime, request.EndTime, request.MaxResults ?? LookupEventsRequest.MaxResultsMax);
    }

    private static Event ToWire(LookedUpEvent e) => new()
    {
        EventId = e.EventId,
        EventName = e.EventName,
        ReadOnly = e.ReadOnly ? "true" : "false",
        AccessKeyId = e.AccessKeyId,
        EventTime = e.EventTime,
        EventSource = e.EventSource,
        Username = e.Username,
        Resources = [.. e.Resources.Select(r => new Resource { ResourceType = r.ResourceType, ResourceName = r.ResourceName })],
        CloudTrailEvent = Encoding.UTF8.GetString(e.Record),
    };

    /// <summary>
    /// Account roots may look up their events; a configured principal needs an identity policy that allows
    /// <c>cloudtrail:LookupEvents</c> (which has no resource, so <c>*</c>) and none that denies it.
    /// </summary>
    private void Authorize(HttpContext http, CallerIdentity caller, string region)
    {
        var keys = ContextKeys.CreateBuilder()
            .Add("aws:SecureTransport", http.Request.IsHttps ? "true" : "false")
            .Add("aws:RequestedRegion", region)
            .AddCurrentTime(clock.GetUtcNow());
        if (http.Connection.RemoteIpAddress?.ToString() is { } sourceIp)
        {
            keys.Add("aws:SourceIp", sourceIp);
        }

        var request = new PolicyRequest(caller.Arn, caller.AccountId, caller.PrincipalType, LookupEventsAction, "*", keys.Build());
        var result = KmsAuthorization.DecideWithoutKey(caller.IdentityPolicies, request);
        if (!result.IsAllowed)
        {
            throw KmsErrors.CloudTrailAccessDenied(caller.Arn, LookupEventsAction, result.IsExplicitDeny);
        }
    }

    private static LookupEventsRequest Deserialize(ReadOnlySpan<byte> body)
    {
        try
        {
            return JsonSerializer.Deserialize(body, CloudTrailJsonContext.Default.LookupEventsRequest) ?? throw KmsErrors.RequestBodyNull();
        }
        catch (JsonException e)
        {
            throw KmsErrors.RequestBodyMalformed(RequestBodyErrors.Describe(e));
        }
    }

    [LoggerMessage(EventId = 30, Level = LogLevel.Information, Message = "CloudTrail {Operation} {StatusCode} {ErrorCode} {ElapsedMs:0.000} ms {RequestId}")]
    private partial void LogCompleted(string operation, int statusCode, string errorCode, double elapsedMs, string requestId);

    [LoggerMessage(EventId = 31, Level = LogLevel.Error, Message = "Unexpected failure in CloudTrail {Operation}, request {RequestId}")]
    private partial void LogUnexpected(Exception exception, string operation, string requestId);
}
