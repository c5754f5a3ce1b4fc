using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using KmsEmulator.Api.Pipeline;
using KmsEmulator.Policy;

namespace KmsEmulator.Api.Audit;

/// <summary>
/// Writes an <see cref="AuditEvent"/> as a CloudTrail record (eventVersion 1.11, kms-wire-facts section 7.1), with
/// the userIdentity of the caller's principal type (section 7.2).
/// </summary>
public static class CloudTrailRecord
{
    public const string EventVersion = "1.11";
    public const string EventSource = "kms.amazonaws.com";
    public const string ResourceType = "AWS::KMS::Key";

    /// <summary>The caller, address and user agent of KMS-internal events.</summary>
    public const string Internal = "AWS Internal";

    /// <summary>CloudTrail cuts userAgent and the error fields at 1 KB.</summary>
    private const int MaxShortField = 1024;

    /// <summary>The record as UTF-8 JSON: the owner's copy, or the caller's copy of a cross-account call.</summary>
    public static byte[] ToUtf8(AuditEvent e, bool callerCopy = false)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(1024);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            Write(writer, e, callerCopy);
        }

        return buffer.WrittenSpan.ToArray();
    }

    public static void Write(Utf8JsonWriter w, AuditEvent e, bool callerCopy = false)
    {
        var via = ServiceOf(e.Caller.ViaService);
        w.WriteStartObject();
        w.WriteString("eventVersion", EventVersion);
        w.WritePropertyName("userIdentity");
        if (e.ServiceEvent)
        {
            w.WriteStartObject();
            w.WriteString("accountId", e.Caller.AccountId);
            w.WriteString("invokedBy", Internal);
            w.WriteEndObject();
            via = Internal;
        }
        else
        {
            WriteUserIdentity(w, e.Caller, via);
        }

        w.WriteString("eventTime", FormatTime(e.EventTime));
        w.WriteString("eventSource", EventSource);
        w.WriteString("eventName", e.EventName);
        w.WriteString("awsRegion", e.Region);
        w.WriteString("sourceIPAddress", via ?? e.SourceIp ?? "AWS Internal");
        w.WriteString("userAgent", via ?? Truncate(e.UserAgent ?? string.Empty));
        if (e.ErrorCode is { } code)
        {
            w.WriteString("errorCode", code);
            w.WriteString("errorMessage", Truncate(e.ErrorMessage ?? string.Empty));
        }

        w.WritePropertyName("requestParameters");
        WriteNode(w, e.RequestParameters);
        w.WritePropertyName("responseElements");
        WriteNode(w, e.ResponseElements);
        if (!e.ServiceEvent)
        {
            w.WriteString("requestID", e.RequestId);
        }

        w.WriteString("eventID", (callerCopy ? e.CallerCopyEventId ?? e.EventId : e.EventId).ToString());
        w.WriteBoolean("readOnly", e.ReadOnly);
        w.WriteStartArray("resources");
        foreach (var resource in e.Resources)
        {
            w.WriteStartObject();
            w.WriteString("accountId", resource.AccountId);
            w.WriteString("type", ResourceType);
            w.WriteString("ARN", resource.Arn);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteString("eventType", e.ServiceEvent ? "AwsServiceEvent" : "AwsApiCall");
        w.WriteBoolean("managementEvent", true);
        w.WriteString("recipientAccountId", callerCopy ? e.Caller.AccountId : e.RecipientAccountId);
        if (e.SharedEventId is { } shared)
        {
            w.WriteString("sharedEventID", shared.ToString());
        }

        if (e.ServiceEventDetails is { } details)
        {
            w.WritePropertyName("serviceEventDetails");
            details.WriteTo(w);
        }

        w.WriteString("eventCategory", "Management");
        if (e.Tls is { } tls)
        {
            w.WriteStartObject("tlsDetails");
            w.WriteString("tlsVersion", tls.TlsVersion);
            w.WriteString("cipherSuite", tls.CipherSuite);
            if (tls.ClientProvidedHostHeader is { } host)
            {
                w.WriteString("clientProvidedHostHeader", host);
            }

            w.WriteEndObject();
        }

        w.WriteEndObject();
    }

    /// <summary>CloudTrail's eventTime: UTC to the second with a trailing Z.</summary>
    public static string FormatTime(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>
    /// The user name LookupEvents matches and returns: the IAM user or role name, the role session name, or
    /// <c>root</c>; the service name for service principals.
    /// </summary>
    public static string UserNameOf(CallerIdentity caller) => caller.PrincipalType switch
    {
        PrincipalType.Root => "root",
        PrincipalType.AWSService => caller.Arn,
        PrincipalType.Anonymous => string.Empty,
        _ => caller.Arn[(caller.Arn.LastIndexOf('/') + 1)..],
    };

    private static void WriteUserIdentity(Utf8JsonWriter w, CallerIdentity caller, string? invokedBy)
    {
        w.WriteStartObject();
        switch (caller.PrincipalType)
        {
            case PrincipalType.AWSService:
                w.WriteString("type", "AWSService");
                w.WriteString("invokedBy", caller.Arn);
                w.WriteEndObject();
                return;
            case PrincipalType.Anonymous:
                // A request whose access key names no principal (strict mode rejects it): only the key is known.
                w.WriteString("type", "Unknown");
                w.WriteString("principalId", string.Empty);
                w.WriteString("accountId", caller.AccountId);
                WriteAccessKey(w, caller);
                w.WriteEndObject();
                return;
        }

        w.WriteString("type", caller.PrincipalType.ToString());
        var arn = Arn.TryParse(caller.Arn, out var parsed) ? parsed : (Arn?)null;
        switch (caller.PrincipalType)
        {
            case PrincipalType.Root:
                w.WriteString("principalId", caller.AccountId);
                break;
            case PrincipalType.AssumedRole when arn?.RoleOfSession() is { } roleArn:
                w.WriteString("principalId", UniqueId("AROA", roleArn) + ":" + NameOf(caller.Arn));
                break;
            case PrincipalType.FederatedUser:
                w.WriteString("principalId", caller.AccountId + ":" + NameOf(caller.Arn));
                break;
            default:
                w.WriteString("principalId", UniqueId(caller.PrincipalType == PrincipalType.IAMUser ? "AIDA" : "AROA", caller.Arn));
                break;
        }

        w.WriteString("arn", caller.Arn);
        w.WriteString("accountId", caller.AccountId);
        WriteAccessKey(w, caller);
        if (caller.PrincipalType is PrincipalType.IAMUser or PrincipalType.Role)
        {
            w.WriteString("userName", NameOf(caller.Arn));
        }

        if (caller.PrincipalType == PrincipalType.AssumedRole && arn?.RoleOfSession() is { } issuer)
        {
            w.WriteStartObject("sessionContext");
            w.WriteStartObject("sessionIssuer");
            w.WriteString("type", "Role");
            w.WriteString("principalId", UniqueId("AROA", issuer));
            w.WriteString("arn", issuer);
            w.WriteString("accountId", caller.AccountId);
            w.WriteString("userName", NameOf(issuer));
            w.WriteEndObject();
            w.WriteStartObject("attributes");
            w.WriteString("mfaAuthenticated", "false");
            w.WriteEndObject();
            w.WriteEndObject();
        }

        if (invokedBy is not null)
        {
            w.WriteString("invokedBy", invokedBy);
        }

        w.WriteEndObject();
    }

    private static void WriteAccessKey(Utf8JsonWriter w, CallerIdentity caller)
    {
        if (caller.AccessKeyId is { } accessKeyId)
        {
            w.WriteString("accessKeyId", accessKeyId);
        }
    }

    private static void WriteNode(Utf8JsonWriter w, System.Text.Json.Nodes.JsonNode? node)
    {
        if (node is null)
        {
            w.WriteNullValue();
        }
        else
        {
            node.WriteTo(w);
        }
    }

    /// <summary>The service a ViaService endpoint belongs to: <c>ec2.us-east-1.amazonaws.com</c> → <c>ec2.amazonaws.com</c>.</summary>
    private static string? ServiceOf(string? viaService) =>
        viaService is null ? null : viaService[..viaService.IndexOf('.', StringComparison.Ordinal)] + ".amazonaws.com";

    private static string NameOf(string arn) => arn[(arn.LastIndexOf('/') + 1)..];

    /// <summary>
    /// A stable stand-in for IAM's unique id of a principal (AIDA... for users, AROA... for roles): the prefix and
    /// 17 base-32 characters of the ARN's SHA-256, so one principal always shows the same id.
    /// </summary>
    private static string UniqueId(string prefix, string arn)
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(arn), hash);
        var id = new StringBuilder(prefix, prefix.Length + 17);
        for (var i = 0; i < 17; i++)
        {
            id.Append(alphabet[hash[i] & 31]);
        }

        return id.ToString();
    }

    private static string Truncate(string value) => value.Length <= MaxShortField ? value : value[..MaxShortField];
}
