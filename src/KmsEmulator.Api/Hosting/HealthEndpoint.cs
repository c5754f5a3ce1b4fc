using System.Text.Json;
using KmsEmulator.Api.Audit;
using KmsEmulator.Hsm;
using Microsoft.AspNetCore.Http;

namespace KmsEmulator.Api.Hosting;

/// <summary>
/// <c>GET /health</c> (fields and codes in docs/operations.md). 503 <c>starting</c> until the store is loaded and the
/// HSM is logged in and indexed, and once the HSM backend is closed at shut-down. After that, 503 <c>unhealthy</c>
/// whenever a check fails: the HSM's session is gone or logged out, the store file cannot be opened and read (or is
/// another store), or audit delivery has stopped or its last commit failed. Otherwise 200: <c>ready</c>, or
/// <c>degraded</c> when some keys cannot be used (material the store records but the token lacks, and key objects
/// that are not what was made, each listed by HSM label with how it differs). The HSM and store checks are cached
/// (<see cref="HealthMonitor"/>); the audit and session-pool figures are read live.
/// </summary>
public sealed class HealthEndpoint(KmsReadiness readiness, IKeyMaterialBackend hsm, HealthMonitor monitor, AuditTrail audit, IHsmStatus? hsmStatus = null)
{
    public static bool Matches(HttpRequest request) => request.Path == "/health" && HttpMethods.IsGet(request.Method);

    public async Task HandleAsync(HttpContext context)
    {
        var (status, body) = await ReportAsync();
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = body.Length;
        await context.Response.Body.WriteAsync(body, context.RequestAborted);
    }

    /// <summary>The status code and JSON body /health answers now.</summary>
    internal async Task<(int Status, byte[] Body)> ReportAsync()
    {
        if (!readiness.IsReady || !hsm.IsReady)
        {
            return (StatusCodes.Status503ServiceUnavailable, """{"status":"starting"}"""u8.ToArray());
        }

        var (hsmProblem, storeProblem) = await monitor.CheckAsync();
        var delivery = audit.Delivery;
        var auditProblem = !audit.Enabled ? null
            : !delivery.Running ? "Audit delivery is not running."
            : delivery.CurrentFailure is { } failure ? failure.Error
            : null;
        var healthy = hsmProblem is null && storeProblem is null && auditProblem is null;
        var missing = readiness.MissingMaterial;
        var defects = hsm.Defects;

        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("status", !healthy ? "unhealthy" : missing.Count == 0 && defects.Count == 0 ? "ready" : "degraded");

            json.WriteStartObject("hsm");
            WriteCheck(json, hsmProblem);
            if (hsmStatus is not null)
            {
                var pool = hsmStatus.PoolUsage;
                json.WriteNumber("sessionPoolSize", pool.Size);
                json.WriteNumber("sessionsInUse", pool.InUse);
                json.WriteNumber("sessionWaiters", pool.Waiting);
            }

            json.WriteEndObject();

            json.WriteStartObject("store");
            WriteCheck(json, storeProblem);
            json.WriteEndObject();

            json.WriteStartObject("audit");
            if (audit.Enabled)
            {
                WriteCheck(json, auditProblem);
                json.WriteNumber("queueDepth", audit.QueueDepth);
                json.WriteNumber("queueCapacity", audit.QueueCapacity);
                json.WriteBoolean("deliveryRunning", delivery.Running);
                if (delivery.LastFailure is { } last)
                {
                    json.WriteString("lastError", last.Error);
                    json.WriteString("lastErrorAt", last.At.UtcDateTime);
                }
            }
            else
            {
                json.WriteString("status", "off");
            }

            json.WriteEndObject();

            if (missing.Count > 0)
            {
                json.WriteStartArray("missingKeyMaterial");
                foreach (var label in missing)
                {
                    json.WriteStringValue(label);
                }

                json.WriteEndArray();
            }

            if (defects.Count > 0)
            {
                json.WriteStartObject("defectiveKeyMaterial");
                foreach (var (label, differences) in defects.OrderBy(d => d.Key, StringComparer.Ordinal))
                {
                    json.WriteStartArray(label);
                    foreach (var difference in differences)
                    {
                        json.WriteStringValue(difference);
                    }

                    json.WriteEndArray();
                }

                json.WriteEndObject();
            }

            json.WriteEndObject();
        }

        return (healthy ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable, buffer.ToArray());
    }

    private static void WriteCheck(Utf8JsonWriter json, string? problem)
    {
        json.WriteString("status", problem is null ? "ok" : "failing");
        if (problem is not null)
        {
            json.WriteString("error", problem);
        }
    }
}
