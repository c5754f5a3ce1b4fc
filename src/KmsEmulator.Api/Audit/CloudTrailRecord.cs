using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
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
    public static byte[] ToUtf8(AuditEvent e, bool callerCopy = false) => Utf8(e, callerCopy).ToArray();

    /// <summary>
    /// The record as UTF-8 JSON in this thread's buffer: valid until the next record is written on the thread.
    /// Delivery compresses it from there, so that a record costs no array of its own.
    /// </summary>
    /// <remarks>
    /// Written through one writer and buffer per thread, reused: delivery turns every audited request into a record,
    /// and a new writer each time was a visible part of the trail's cost. Records hold no secrets, so the buffer is
    /// not wiped between them.
    /// </remarks>
    public static ReadOnlySpan<byte> Utf8(AuditEvent e, bool callerCopy = false)
    {
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(2048);
        var writer = t_writer ??= new Utf8JsonWriter(buffer);
        buffer.ResetWrittenCount();
        writer.Reset(buffer);
        try
        {
            Write(writer, e, callerCopy);
            writer.Flush();
            return buffer.WrittenSpan;
        }
        catch
        {
            // A half-written record leaves the writer mid-object: start the next one on a new writer.
            t_writer = null;
            throw;
        }
    }

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    [ThreadStatic]
    private static Repeats? t_repeats;

    public static void Write(Utf8JsonWriter w, AuditEvent e, bool callerCopy = false)
    {
        var repeats = t_repeats ??= new Repeats();
        var via = ServiceOf(e.Caller.ViaService);
        w.WriteStartObject();
        w.WriteString(Names.EventVersion, Values.EventVersion);
        w.WritePropertyName(Names.UserIdentity);
        if (e.ServiceEvent)
        {
            w.WriteStartObject();
            w.WriteString(Names.AccountId, e.Caller.AccountId);
            w.WriteString(Names.InvokedBy, Internal);
            w.WriteEndObject();
            via = Internal;
        }
        else
        {
            w.WriteRawValue(repeats.UserIdentity.Of(e.Caller, via), skipInputValidation: true);
        }

        WriteTime(w, e.EventTime);
        w.WriteString(Names.EventSource, Values.EventSource);
        w.WriteString(Names.EventName, repeats.EventName.Of(e.EventName));
        w.WriteString(Names.AwsRegion, repeats.Region.Of(e.Region));
        w.WriteString(Names.SourceIPAddress, repeats.SourceIp.Of(via ?? e.SourceIp ?? "AWS Internal"));
        w.WriteString(Names.UserAgent, repeats.UserAgent.Of(via ?? e.UserAgent ?? string.Empty));
        if (e.ErrorCode is { } code)
        {
            w.WriteString(Names.ErrorCode, code);
            w.WriteString(Names.ErrorMessage, Truncate(e.ErrorMessage ?? string.Empty));
        }

        w.WritePropertyName(Names.RequestParameters);
        WriteNode(w, e.RequestParameters);
        w.WritePropertyName(Names.ResponseElements);
        WriteNode(w, e.ResponseElements);
        if (!e.ServiceEvent)
        {
            w.WriteString(Names.RequestID, e.RequestId);
        }

        WriteGuid(w, Names.EventID, callerCopy ? e.CallerCopyEventId ?? e.EventId : e.EventId);
        w.WriteBoolean(Names.ReadOnly, e.ReadOnly);
        w.WritePropertyName(Names.Resources);
        if (e.Resources is [var only])
        {
            w.WriteRawValue(repeats.Resource.Of(only), skipInputValidation: true);
        }
        else
        {
            WriteResources(w, e.Resources);
        }

        w.WriteString(Names.EventType, e.ServiceEvent ? Values.AwsServiceEvent : Values.AwsApiCall);
        w.WriteBoolean(Names.ManagementEvent, true);
        w.WriteString(Names.RecipientAccountId, repeats.Recipient.Of(callerCopy ? e.Caller.AccountId : e.RecipientAccountId));
        if (e.SharedEventId is { } shared)
        {
            WriteGuid(w, Names.SharedEventID, shared);
        }

        if (e.ServiceEventDetails is { } details)
        {
            w.WritePropertyName(Names.ServiceEventDetails);
            details.WriteTo(w);
        }

        w.WriteString(Names.EventCategory, Values.Management);
        if (e.Tls is { } tls)
        {
            w.WriteStartObject(Names.TlsDetails);
            w.WriteString(Names.TlsVersion, tls.TlsVersion);
            w.WriteString(Names.CipherSuite, tls.CipherSuite);
            if (tls.ClientProvidedHostHeader is { } host)
            {
                w.WriteString(Names.ClientProvidedHostHeader, host);
            }

            w.WriteEndObject();
        }

        w.WriteEndObject();
    }

    private static void WriteResources(Utf8JsonWriter w, IReadOnlyList<AuditResource> resources)
    {
        w.WriteStartArray();
        foreach (var resource in resources)
        {
            w.WriteStartObject();
            w.WriteString(Names.AccountId, resource.AccountId);
            w.WriteString(Names.Type, Values.ResourceType);
            w.WriteString(Names.ARN, resource.Arn);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    /// <summary>
    /// What one record shares with the one before it on the same thread, encoded once: a busy trail writes the same
    /// operation, caller, key, address and user agent record after record, and comparing a string with the last one is
    /// cheaper than transcoding and escape-checking it again. Each part is re-encoded when it differs.
    /// </summary>
    private sealed class Repeats
    {
        public Text EventName { get; } = new();

        public Text Region { get; } = new();

        public Text SourceIp { get; } = new();

        public Text UserAgent { get; } = new();

        public Text Recipient { get; } = new();

        public Identity UserIdentity { get; } = new();

        public SingleResource Resource { get; } = new();

        /// <summary>A string member's value; <see cref="Truncate"/>d as CloudTrail cuts long ones.</summary>
        public sealed class Text
        {
            private string? _value;
            private JsonEncodedText _encoded;

            public JsonEncodedText Of(string value)
            {
                if (!string.Equals(value, _value, StringComparison.Ordinal))
                {
                    _encoded = JsonEncodedText.Encode(Truncate(value));
                    _value = value;
                }

                return _encoded;
            }
        }

        /// <summary>The userIdentity object of a caller (only its account, ARN, access key and type go into it).</summary>
        public sealed class Identity
        {
            private CallerIdentity? _caller;
            private string? _invokedBy;
            private byte[] _json = [];

            public ReadOnlySpan<byte> Of(CallerIdentity caller, string? invokedBy)
            {
                if (!SameIdentity(_caller, caller) || !string.Equals(_invokedBy, invokedBy, StringComparison.Ordinal))
                {
                    _json = Encode(w => WriteUserIdentity(w, caller, invokedBy));
                    _caller = caller;
                    _invokedBy = invokedBy;
                }

                return _json;
            }

            private static bool SameIdentity(CallerIdentity? last, CallerIdentity caller) =>
                ReferenceEquals(last, caller)
                || (last is not null && last.PrincipalType == caller.PrincipalType
                    && string.Equals(last.AccountId, caller.AccountId, StringComparison.Ordinal)
                    && string.Equals(last.Arn, caller.Arn, StringComparison.Ordinal)
                    && string.Equals(last.AccessKeyId, caller.AccessKeyId, StringComparison.Ordinal));
        }

        /// <summary>The resources array of a record that names one key.</summary>
        public sealed class SingleResource
        {
            private AuditResource? _resource;
            private byte[] _json = [];

            public ReadOnlySpan<byte> Of(AuditResource resource)
            {
                if (_resource is not { } last || !string.Equals(last.Arn, resource.Arn, StringComparison.Ordinal)
                    || !string.Equals(last.AccountId, resource.AccountId, StringComparison.Ordinal))
                {
                    _json = Encode(w => WriteResources(w, [resource]));
                    _resource = resource;
                }

                return _json;
            }
        }

        private static byte[] Encode(Action<Utf8JsonWriter> write)
        {
            var buffer = new ArrayBufferWriter<byte>(256);
            using (var writer = new Utf8JsonWriter(buffer))
            {
                write(writer);
            }

            return buffer.WrittenSpan.ToArray();
        }
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
                w.WriteString(Names.Type, "AWSService");
                w.WriteString(Names.InvokedBy, caller.Arn);
                w.WriteEndObject();
                return;
            case PrincipalType.Anonymous:
                // A request whose access key names no principal (strict mode rejects it): only the key is known.
                w.WriteString(Names.Type, "Unknown");
                w.WriteString(Names.PrincipalId, string.Empty);
                w.WriteString(Names.AccountId, caller.AccountId);
                WriteAccessKey(w, caller);
                w.WriteEndObject();
                return;
        }

        w.WriteString(Names.Type, caller.PrincipalType.ToString());
        var arn = caller.PrincipalType == PrincipalType.AssumedRole && Arn.TryParse(caller.Arn, out var parsed) ? parsed : (Arn?)null;
        switch (caller.PrincipalType)
        {
            case PrincipalType.Root:
                w.WriteString(Names.PrincipalId, caller.AccountId);
                break;
            case PrincipalType.AssumedRole when arn?.RoleOfSession() is { } roleArn:
                w.WriteString(Names.PrincipalId, UniqueId("AROA", roleArn) + ":" + NameOf(caller.Arn));
                break;
            case PrincipalType.FederatedUser:
                w.WriteString(Names.PrincipalId, caller.AccountId + ":" + NameOf(caller.Arn));
                break;
            default:
                w.WriteString(Names.PrincipalId, UniqueId(caller.PrincipalType == PrincipalType.IAMUser ? "AIDA" : "AROA", caller.Arn));
                break;
        }

        w.WriteString(Names.Arn, caller.Arn);
        w.WriteString(Names.AccountId, caller.AccountId);
        WriteAccessKey(w, caller);
        if (caller.PrincipalType is PrincipalType.IAMUser or PrincipalType.Role)
        {
            w.WriteString(Names.UserName, NameOf(caller.Arn));
        }

        if (caller.PrincipalType == PrincipalType.AssumedRole && arn?.RoleOfSession() is { } issuer)
        {
            w.WriteStartObject(Names.SessionContext);
            w.WriteStartObject(Names.SessionIssuer);
            w.WriteString(Names.Type, "Role");
            w.WriteString(Names.PrincipalId, UniqueId("AROA", issuer));
            w.WriteString(Names.Arn, issuer);
            w.WriteString(Names.AccountId, caller.AccountId);
            w.WriteString(Names.UserName, NameOf(issuer));
            w.WriteEndObject();
            w.WriteStartObject(Names.Attributes);
            w.WriteString(Names.MfaAuthenticated, "false");
            w.WriteEndObject();
            w.WriteEndObject();
        }

        if (invokedBy is not null)
        {
            w.WriteString(Names.InvokedBy, invokedBy);
        }

        w.WriteEndObject();
    }

    private static void WriteAccessKey(Utf8JsonWriter w, CallerIdentity caller)
    {
        if (caller.AccessKeyId is { } accessKeyId)
        {
            w.WriteString(Names.AccessKeyId, accessKeyId);
        }
    }

    /// <summary>
    /// A projection (requestParameters, responseElements): objects, arrays and strings written here, anything else by
    /// the node itself. <see cref="JsonNode.WriteTo"/> goes through a converter for every value, which made a record's
    /// two request parameters a third of the cost of writing it.
    /// </summary>
    private static void WriteNode(Utf8JsonWriter w, JsonNode? node)
    {
        switch (node)
        {
            case null:
                w.WriteNullValue();
                break;
            case JsonObject members:
                w.WriteStartObject();
                for (var i = 0; i < members.Count; i++)
                {
                    var (name, value) = members.GetAt(i);
                    w.WritePropertyName(name);
                    WriteNode(w, value);
                }

                w.WriteEndObject();
                break;
            case JsonArray items:
                w.WriteStartArray();
                for (var i = 0; i < items.Count; i++)
                {
                    WriteNode(w, items[i]);
                }

                w.WriteEndArray();
                break;
            case JsonValue value when value.TryGetValue<string>(out var text):
                w.WriteStringValue(text);
                break;
            default:
                node.WriteTo(w);
                break;
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
        if (UniqueIds.TryGetValue((prefix, arn), out var known))
        {
            return known;
        }

        var id = MakeUniqueId(prefix, arn);
        if (UniqueIds.Count < MaxUniqueIds)
        {
            UniqueIds.TryAdd((prefix, arn), id);
        }

        return id;
    }

    /// <summary>The ids of the principals seen (a handful in practice; bounded so that many distinct callers cannot grow it without end).</summary>
    private static readonly ConcurrentDictionary<(string Prefix, string Arn), string> UniqueIds = new();

    private const int MaxUniqueIds = 4096;

    private static string MakeUniqueId(string prefix, string arn)
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

    /// <summary>The record's member names, encoded once.</summary>
    private static class Names
    {
        public static readonly JsonEncodedText ARN = JsonEncodedText.Encode("ARN");
        public static readonly JsonEncodedText AccessKeyId = JsonEncodedText.Encode("accessKeyId");
        public static readonly JsonEncodedText AccountId = JsonEncodedText.Encode("accountId");
        public static readonly JsonEncodedText Arn = JsonEncodedText.Encode("arn");
        public static readonly JsonEncodedText Attributes = JsonEncodedText.Encode("attributes");
        public static readonly JsonEncodedText AwsRegion = JsonEncodedText.Encode("awsRegion");
        public static readonly JsonEncodedText CipherSuite = JsonEncodedText.Encode("cipherSuite");
        public static readonly JsonEncodedText ClientProvidedHostHeader = JsonEncodedText.Encode("clientProvidedHostHeader");
        public static readonly JsonEncodedText ErrorCode = JsonEncodedText.Encode("errorCode");
        public static readonly JsonEncodedText ErrorMessage = JsonEncodedText.Encode("errorMessage");
        public static readonly JsonEncodedText EventCategory = JsonEncodedText.Encode("eventCategory");
        public static readonly JsonEncodedText EventID = JsonEncodedText.Encode("eventID");
        public static readonly JsonEncodedText EventName = JsonEncodedText.Encode("eventName");
        public static readonly JsonEncodedText EventSource = JsonEncodedText.Encode("eventSource");
        public static readonly JsonEncodedText EventTime = JsonEncodedText.Encode("eventTime");
        public static readonly JsonEncodedText EventType = JsonEncodedText.Encode("eventType");
        public static readonly JsonEncodedText EventVersion = JsonEncodedText.Encode("eventVersion");
        public static readonly JsonEncodedText InvokedBy = JsonEncodedText.Encode("invokedBy");
        public static readonly JsonEncodedText ManagementEvent = JsonEncodedText.Encode("managementEvent");
        public static readonly JsonEncodedText MfaAuthenticated = JsonEncodedText.Encode("mfaAuthenticated");
        public static readonly JsonEncodedText PrincipalId = JsonEncodedText.Encode("principalId");
        public static readonly JsonEncodedText ReadOnly = JsonEncodedText.Encode("readOnly");
        public static readonly JsonEncodedText RecipientAccountId = JsonEncodedText.Encode("recipientAccountId");
        public static readonly JsonEncodedText RequestID = JsonEncodedText.Encode("requestID");
        public static readonly JsonEncodedText RequestParameters = JsonEncodedText.Encode("requestParameters");
        public static readonly JsonEncodedText Resources = JsonEncodedText.Encode("resources");
        public static readonly JsonEncodedText ResponseElements = JsonEncodedText.Encode("responseElements");
        public static readonly JsonEncodedText ServiceEventDetails = JsonEncodedText.Encode("serviceEventDetails");
        public static readonly JsonEncodedText SessionContext = JsonEncodedText.Encode("sessionContext");
        public static readonly JsonEncodedText SessionIssuer = JsonEncodedText.Encode("sessionIssuer");
        public static readonly JsonEncodedText SharedEventID = JsonEncodedText.Encode("sharedEventID");
        public static readonly JsonEncodedText SourceIPAddress = JsonEncodedText.Encode("sourceIPAddress");
        public static readonly JsonEncodedText TlsDetails = JsonEncodedText.Encode("tlsDetails");
        public static readonly JsonEncodedText TlsVersion = JsonEncodedText.Encode("tlsVersion");
        public static readonly JsonEncodedText Type = JsonEncodedText.Encode("type");
        public static readonly JsonEncodedText UserAgent = JsonEncodedText.Encode("userAgent");
        public static readonly JsonEncodedText UserIdentity = JsonEncodedText.Encode("userIdentity");
        public static readonly JsonEncodedText UserName = JsonEncodedText.Encode("userName");
    }

    /// <summary>The record's constant values, encoded once.</summary>
    private static class Values
    {
        public static readonly JsonEncodedText EventVersion = JsonEncodedText.Encode(CloudTrailRecord.EventVersion);
        public static readonly JsonEncodedText EventSource = JsonEncodedText.Encode(CloudTrailRecord.EventSource);
        public static readonly JsonEncodedText ResourceType = JsonEncodedText.Encode(CloudTrailRecord.ResourceType);
        public static readonly JsonEncodedText AwsApiCall = JsonEncodedText.Encode("AwsApiCall");
        public static readonly JsonEncodedText AwsServiceEvent = JsonEncodedText.Encode("AwsServiceEvent");
        public static readonly JsonEncodedText Management = JsonEncodedText.Encode("Management");
    }

    /// <summary>eventTime as <see cref="FormatTime"/> gives it, written without making a string.</summary>
    private static void WriteTime(Utf8JsonWriter w, DateTimeOffset time)
    {
        var utc = time.UtcDateTime;
        Span<byte> text = stackalloc byte[20];
        Digits(text[..4], utc.Year);
        text[4] = (byte)'-';
        Digits(text.Slice(5, 2), utc.Month);
        text[7] = (byte)'-';
        Digits(text.Slice(8, 2), utc.Day);
        text[10] = (byte)'T';
        Digits(text.Slice(11, 2), utc.Hour);
        text[13] = (byte)':';
        Digits(text.Slice(14, 2), utc.Minute);
        text[16] = (byte)':';
        Digits(text.Slice(17, 2), utc.Second);
        text[19] = (byte)'Z';
        w.WriteString(Names.EventTime, text);

        static void Digits(Span<byte> into, int value)
        {
            for (var i = into.Length - 1; i >= 0; i--)
            {
                into[i] = (byte)('0' + (value % 10));
                value /= 10;
            }
        }
    }

    /// <summary>An event id as <see cref="Guid.ToString()"/> spells it, written without making a string.</summary>
    private static void WriteGuid(Utf8JsonWriter w, JsonEncodedText name, Guid id)
    {
        Span<byte> text = stackalloc byte[36];
        id.TryFormat(text, out _);
        w.WriteString(name, text);
    }
}
