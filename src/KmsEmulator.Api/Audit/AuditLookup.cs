namespace KmsEmulator.Api.Audit;

/// <summary>The attributes LookupEvents filters on (CloudTrail's <c>LookupAttributeKey</c>, names verbatim).</summary>
public enum LookupAttributeKey
{
    EventId,
    EventName,
    ReadOnly,
    Username,
    ResourceType,
    ResourceName,
    EventSource,
    AccessKeyId,
}

/// <summary>
/// A LookupEvents query on the index: the caller's account and region, at most one attribute, an inclusive time range
/// (whole seconds, as records show their time), the page size, and where the previous page stopped.
/// </summary>
/// <param name="Attribute">The attribute and the value it must equal, or null for every event.</param>
/// <param name="StartTime">Events at or after this time (inclusive); null for no lower bound.</param>
/// <param name="EndTime">Events at or before this time (inclusive); null for no upper bound.</param>
/// <param name="MaxResults">Events on the page, 1 to 50.</param>
/// <param name="After">The position the previous page ended at (from its <see cref="AuditEventPage.Next"/>), or null.</param>
public sealed record AuditLookup(
    string AccountId,
    string Region,
    (LookupAttributeKey Key, string Value)? Attribute,
    DateTimeOffset? StartTime,
    DateTimeOffset? EndTime,
    int MaxResults,
    AuditCursor? After = null);

/// <summary>A position in the index's newest-first order: an event's time (Unix seconds) and its index sequence.</summary>
public readonly record struct AuditCursor(long EventTime, long Sequence);

/// <summary>A page of events, newest first, and where the next page starts (null when there is none).</summary>
public sealed record AuditEventPage(IReadOnlyList<LookedUpEvent> Events, AuditCursor? Next);

/// <summary>An event as LookupEvents answers it: its attributes, resources and the full record JSON.</summary>
public sealed record LookedUpEvent(
    string EventId,
    string EventName,
    bool ReadOnly,
    string? AccessKeyId,
    DateTimeOffset EventTime,
    string EventSource,
    string Username,
    IReadOnlyList<LookedUpResource> Resources,
    byte[] Record);

/// <summary>A resource of an event: its CloudTrail type (<c>AWS::KMS::Key</c>) and its ARN.</summary>
public sealed record LookedUpResource(string ResourceType, string ResourceName);
