namespace KmsEmulator.Api.Audit;

/// <summary>
/// The audit trail's queryable index (LookupEvents, GetKeyLastUsage): events with the attributes LookupEvents filters
/// on and the full record, so that a lookup never reads log files. Implemented by the storage layer.
/// </summary>
public interface IAuditIndex
{
    /// <summary>Adds delivered events (in one transaction) and the key uses among them.</summary>
    ValueTask AppendAsync(IReadOnlyList<IndexedEvent> events, CancellationToken cancellationToken);

    /// <summary>Removes events older than <paramref name="before"/>; returns how many.</summary>
    ValueTask<int> PruneAsync(DateTimeOffset before, CancellationToken cancellationToken);

    /// <summary>One page of a LookupEvents query (<see cref="AuditLookup"/>): newest first, served by the index alone.</summary>
    ValueTask<AuditEventPage> LookupAsync(AuditLookup query, CancellationToken cancellationToken);

    /// <summary>
    /// Forgets every event and key use (the trail was cleared); key uses are tracked again from
    /// <paramref name="trackingStart"/>.
    /// </summary>
    ValueTask ClearAsync(DateTimeOffset trackingStart, CancellationToken cancellationToken);
}

/// <summary>
/// One record as the index keeps it: the LookupEvents attributes, the key uses it counts for GetKeyLastUsage, and
/// the record's JSON exactly as written to the log file, in the compressed group the log file holds it in.
/// </summary>
public sealed record IndexedEvent(
    Guid EventId,
    string AccountId,
    string Region,
    DateTimeOffset EventTime,
    string EventName,
    string EventSource,
    bool ReadOnly,
    string? AccessKeyId,
    string Username,
    IReadOnlyList<string> ResourceArns,
    IReadOnlyList<string> UsedKeyArns,
    string RequestId,
    RecordSlice Record);

/// <summary>A log file as delivered: where it is (relative to the audit folder), its hash and its time span.</summary>
/// <param name="RelativePath">The path under the audit folder, with '/' separators (CloudTrail's S3 object key).</param>
/// <param name="Sha256">SHA-256 of the file's uncompressed content (what digest files list).</param>
public sealed record DeliveredLogFile(
    string AccountId,
    string Region,
    string RelativePath,
    byte[] Sha256,
    DateTimeOffset OldestEventTime,
    DateTimeOffset NewestEventTime,
    DateTimeOffset DeliveredAt);

/// <summary>Learns of every delivered log file (the digest writer), and of the end of delivery at shutdown.</summary>
public interface IAuditFileObserver
{
    ValueTask DeliveredAsync(DeliveredLogFile file, CancellationToken cancellationToken);

    /// <summary>Delivery has stopped for good (graceful shutdown): cover what is left.</summary>
    ValueTask CompleteAsync(CancellationToken cancellationToken);

    /// <summary>The trail was cleared: every delivered file is gone, and what follows starts afresh.</summary>
    ValueTask ClearedAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;
}
