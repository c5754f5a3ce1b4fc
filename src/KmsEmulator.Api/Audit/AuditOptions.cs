namespace KmsEmulator.Api.Audit;

/// <summary>The <c>Kms:Audit</c> configuration section: the CloudTrail-format audit trail (docs/audit.md).</summary>
public sealed class AuditOptions
{
    public const string Section = "Kms:Audit";

    /// <summary>Whether requests are recorded at all. On by default, as the product promises an audit trail.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Where the trail is written; by default <c>&lt;data-dir&gt;/audit</c>.</summary>
    public string? Directory { get; set; }

    /// <summary>
    /// How long a log file collects records before it is closed and delivered (CloudTrail delivers about every
    /// 5 minutes; here 5 s, so that a test run's trail is complete moments after the run).
    /// </summary>
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long delivery gathers records before it writes them to the open log files and the LookupEvents index in one
    /// go (also as soon as <see cref="CommitRecords"/> are waiting, and at once for a flush or a stop). Measured on the
    /// machine's clock, not the emulator's movable one: it is a batching delay, not a trail time. Longer means less
    /// work per record under load and more records lost to <c>kill -9</c>.
    /// </summary>
    public TimeSpan CommitInterval { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>How many gathered records make delivery write them before <see cref="CommitInterval"/> has passed.</summary>
    public int CommitRecords { get; set; } = 512;

    /// <summary>How many records a log file holds at most before it is delivered early.</summary>
    public int MaxRecordsPerFile { get; set; } = 50_000;

    /// <summary>
    /// Records waiting to be written. When the queue is full, requests wait (back-pressure) rather than lose records.
    /// </summary>
    public int QueueCapacity { get; set; } = 20_000;

    /// <summary>
    /// Also write every record as one JSON line: <c>stdout</c>, or a file path (relative paths are relative to the
    /// audit directory). Off by default.
    /// </summary>
    public string? JsonLines { get; set; }

    /// <summary>How long LookupEvents keeps events (CloudTrail: 90 days). Log files are never deleted.</summary>
    public int RetentionDays { get; set; } = 90;

    /// <summary>
    /// A key ARN or alias ARN of this emulator: log files are then stored encrypted under it (CloudTrail's
    /// SSE-KMS; see <see cref="TrailEncryption"/>). Off by default.
    /// </summary>
    public string? KmsKeyId { get; set; }

    /// <summary>How often a digest file is written for integrity validation (CloudTrail: hourly).</summary>
    public TimeSpan DigestInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// The bucket name that digest files give the audit folder (<c>digestS3Bucket</c>, <c>s3Bucket</c>): object keys are
    /// paths relative to the folder. It is signed, so changing it makes older digests look moved to <c>audit verify</c>.
    /// </summary>
    public string BucketName { get; set; } = "kms-emulator-audit";

    /// <summary>The trail's home region in digest file names; by default <c>Kms:DefaultRegion</c>.</summary>
    public string? HomeRegion { get; set; }
}
