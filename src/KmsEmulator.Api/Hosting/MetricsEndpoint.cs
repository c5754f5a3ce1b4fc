using System.Globalization;
using System.Text;
using KmsEmulator.Api.Audit;
using KmsEmulator.Api.Protocol;
using KmsEmulator.Hsm;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace KmsEmulator.Api.Hosting;

/// <summary>
/// <c>GET /metrics</c>: the Prometheus text exposition format (version 0.0.4), written by hand from
/// <see cref="RequestMetrics"/>, the HSM session pool and the audit queue. Every name and label is listed in
/// docs/operations.md; <see cref="Names"/> is the list a test holds stable. Off with <c>Kms:Metrics:Enabled=false</c>,
/// and then <c>/metrics</c> is answered like any other path that is not a KMS request.
/// </summary>
public sealed class MetricsEndpoint(RequestMetrics requests, AuditTrail audit, IOptions<KmsOptions> options, IHsmStatus? hsm = null)
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    public const string RequestsTotal = "kmsemu_requests_total";
    public const string RequestDuration = "kmsemu_request_duration_seconds";
    public const string HsmSessionPoolSize = "kmsemu_hsm_session_pool_size";
    public const string HsmSessionsInUse = "kmsemu_hsm_sessions_in_use";
    public const string HsmSessionWaiters = "kmsemu_hsm_session_waiters";
    public const string AuditQueueDepth = "kmsemu_audit_queue_depth";
    public const string AuditQueueCapacity = "kmsemu_audit_queue_capacity";
    public const string AuditDeliveryRunning = "kmsemu_audit_delivery_running";
    public const string AuditDeliveryFailures = "kmsemu_audit_delivery_failures_total";

    /// <summary>Every metric family this endpoint can write.</summary>
    public static IReadOnlyList<string> Names { get; } =
    [
        RequestsTotal, RequestDuration, HsmSessionPoolSize, HsmSessionsInUse, HsmSessionWaiters,
        AuditQueueDepth, AuditQueueCapacity, AuditDeliveryRunning, AuditDeliveryFailures,
    ];

    private readonly bool _enabled = options.Value.Metrics.Enabled;

    public bool Matches(HttpRequest request) => _enabled && request.Path == "/metrics" && HttpMethods.IsGet(request.Method);

    public Task HandleAsync(HttpContext context)
    {
        var body = Encoding.UTF8.GetBytes(Render());
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = ContentType;
        context.Response.ContentLength = body.Length;
        return context.Response.Body.WriteAsync(body, 0, body.Length, context.RequestAborted);
    }

    /// <summary>The exposition as it stands now.</summary>
    public string Render()
    {
        var text = new StringBuilder(4096);
        var series = requests.Snapshot();

        Family(text, RequestsTotal, "counter", "KMS API requests completed, by operation and outcome (success or the AWS error code).");
        foreach (var s in series)
        {
            text.Append(RequestsTotal);
            Labels(text, s, null);
            Value(text, s.Count);
        }

        Family(text, RequestDuration, "histogram", "Time from the start of a KMS request to its outcome (before the answer is written), by operation and outcome.");
        foreach (var s in series)
        {
            for (var i = 0; i < RequestMetrics.BucketBounds.Count; i++)
            {
                text.Append(RequestDuration).Append("_bucket");
                Labels(text, s, RequestMetrics.BucketBounds[i].ToString(CultureInfo.InvariantCulture));
                Value(text, s.CumulativeBuckets[i]);
            }

            text.Append(RequestDuration).Append("_bucket");
            Labels(text, s, "+Inf");
            Value(text, s.Count);
            text.Append(RequestDuration).Append("_sum");
            Labels(text, s, null);
            text.Append(' ').Append(s.SumSeconds.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
            text.Append(RequestDuration).Append("_count");
            Labels(text, s, null);
            Value(text, s.Count);
        }

        if (hsm is not null)
        {
            var pool = hsm.PoolUsage;
            Gauge(text, HsmSessionPoolSize, "PKCS#11 sessions in the HSM session pool.", pool.Size);
            Gauge(text, HsmSessionsInUse, "HSM sessions checked out by requests right now.", pool.InUse);
            Gauge(text, HsmSessionWaiters, "Requests waiting for an HSM session right now.", pool.Waiting);
        }

        Gauge(text, AuditQueueDepth, "Audit records waiting to be written.", audit.QueueDepth);
        Gauge(text, AuditQueueCapacity, "Audit records the queue holds before requests wait for room.", audit.QueueCapacity);
        Gauge(text, AuditDeliveryRunning, "1 while audit delivery runs (0 when it has stopped or the audit trail is off).", audit.Delivery.Running ? 1 : 0);
        Family(text, AuditDeliveryFailures, "counter", "Audit commits or deliveries that failed since start (see the log and /health for the error).");
        text.Append(AuditDeliveryFailures).Append(' ').Append(audit.Delivery.Failures.ToString(CultureInfo.InvariantCulture)).Append('\n');
        return text.ToString();
    }

    private static void Family(StringBuilder text, string name, string type, string help) =>
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n')
            .Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

    private static void Gauge(StringBuilder text, string name, string help, long value)
    {
        Family(text, name, "gauge", help);
        text.Append(name);
        Value(text, value);
    }

    private static void Labels(StringBuilder text, RequestSeries series, string? le)
    {
        text.Append("{operation=\"");
        Escape(text, series.Operation);
        text.Append("\",outcome=\"");
        Escape(text, series.Outcome);
        if (le is not null)
        {
            text.Append("\",le=\"").Append(le);
        }

        text.Append("\"}");
    }

    private static void Value(StringBuilder text, long value) =>
        text.Append(' ').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');

    /// <summary>Label values escape backslash, double quote and line feed.</summary>
    private static void Escape(StringBuilder text, string value)
    {
        foreach (var c in value)
        {
            _ = c switch
            {
                '\\' => text.Append("\\\\"),
                '"' => text.Append("\\\""),
                '\n' => text.Append("\\n"),
                _ => text.Append(c),
            };
        }
    }
}
