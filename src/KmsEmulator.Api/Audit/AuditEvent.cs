using System.Text.Json.Nodes;
using KmsEmulator.Api.Pipeline;

namespace KmsEmulator.Api.Audit;

/// <summary>
/// One request as the audit trail keeps it: the facts of a CloudTrail record, before they are written as JSON. Built
/// by the endpoint from the request context, the pipeline's <see cref="AuditFacts"/> and the outcome; never holds
/// plaintext, ciphertext, key material or secrets.
/// </summary>
public sealed record AuditEvent
{
    /// <summary>CloudTrail's <c>eventID</c> (of the key owner's copy when the call crossed accounts).</summary>
    public required Guid EventId { get; init; }

    /// <summary>The response's <c>x-amzn-RequestId</c>; empty for service events, which have no request.</summary>
    public required string RequestId { get; init; }

    /// <summary>When the request completed.</summary>
    public required DateTimeOffset EventTime { get; init; }

    /// <summary>The operation name, e.g. <c>Encrypt</c>.</summary>
    public required string EventName { get; init; }

    public required string Region { get; init; }

    /// <summary>The caller, as authenticated (or as claimed when authentication itself failed).</summary>
    public required CallerIdentity Caller { get; init; }

    public string? SourceIp { get; init; }

    public string? UserAgent { get; init; }

    /// <summary>The error code returned, or null on success.</summary>
    public string? ErrorCode { get; init; }

    /// <summary>The error message returned, or null on success.</summary>
    public string? ErrorMessage { get; init; }

    public required bool ReadOnly { get; init; }

    public JsonObject? RequestParameters { get; init; }

    public JsonObject? ResponseElements { get; init; }

    public IReadOnlyList<AuditResource> Resources { get; init; } = [];

    /// <summary>The account whose trail holds the record: the owner of the first key named, else the caller's.</summary>
    public required string RecipientAccountId { get; init; }

    /// <summary>
    /// For a successful call on a key of another account: the caller's copy goes to the caller's trail under this
    /// event id, and both copies carry <see cref="SharedEventId"/>.
    /// </summary>
    public Guid? CallerCopyEventId { get; init; }

    public Guid? SharedEventId { get; init; }

    /// <summary>The ARNs of the keys a successful cryptographic operation used (GetKeyLastUsage).</summary>
    public IReadOnlyList<string> UsedKeyArns { get; init; } = [];

    /// <summary>
    /// A KMS-internal event (eventType <c>AwsServiceEvent</c>: RotateKey, DeleteKey) rather than an API call: the
    /// caller is then AWS itself and <see cref="ServiceEventDetails"/> says which key.
    /// </summary>
    public bool ServiceEvent { get; init; }

    public JsonObject? ServiceEventDetails { get; init; }

    /// <summary>CloudTrail's <c>tlsDetails</c>, for requests that came over TLS.</summary>
    public TlsDetails? Tls { get; init; }

    /// <summary>Whether the call failed.</summary>
    public bool Failed => ErrorCode is not null;
}

/// <summary>The TLS facts of a request: protocol (<c>TLSv1.3</c>), cipher suite and the Host header the client sent.</summary>
public sealed record TlsDetails(string TlsVersion, string CipherSuite, string? ClientProvidedHostHeader);

/// <summary>The records of KMS-internal events.</summary>
public static class ServiceEvents
{
    /// <summary>The caller of an internal event: AWS itself, in the key's account.</summary>
    public static CallerIdentity Internal(string accountId) =>
        new(accountId, CloudTrailRecord.Internal, null, KmsEmulator.Policy.PrincipalType.AWSService);

    /// <summary>A KMS-internal event on one key (RotateKey after an automatic rotation, DeleteKey after the waiting period).</summary>
    public static AuditEvent OnKey(string eventName, Keys.KeyRecord key, DateTimeOffset time) => new()
    {
        EventId = Guid.NewGuid(),
        RequestId = string.Empty,
        EventTime = time,
        EventName = eventName,
        Region = key.Scope.Region,
        Caller = Internal(key.Scope.AccountId),
        ReadOnly = false,
        Resources = [new AuditResource(key.Scope.AccountId, key.Arn)],
        RecipientAccountId = key.Scope.AccountId,
        ServiceEvent = true,
        ServiceEventDetails = new JsonObject { ["keyId"] = key.KeyId },
    };
}
