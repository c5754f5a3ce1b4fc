using System.Text.Json;
using KmsEmulator.Hsm;
using Microsoft.AspNetCore.Http;

namespace KmsEmulator.Api.Hosting;

/// <summary>
/// <c>GET /health</c>: 200 once the store is loaded and the HSM is logged in and indexed; 503 before that and once the
/// HSM backend is disposed at shut-down (nothing else makes it 503: a key lost later answers KeyUnavailable). The body says
/// <c>ready</c>, or <c>degraded</c> when some keys cannot be used: material the store records but the token lacks, and
/// key objects that are not what was made (never used), each listed by HSM label with how it differs.
/// </summary>
public sealed class HealthEndpoint(KmsReadiness readiness, IKeyMaterialBackend hsm)
{
    public static bool Matches(HttpRequest request) => request.Path == "/health" && HttpMethods.IsGet(request.Method);

    public Task HandleAsync(HttpContext context)
    {
        var ready = readiness.IsReady && hsm.IsReady;
        var body = ready ? ReadyBody() : """{"status":"starting"}"""u8.ToArray();
        context.Response.StatusCode = ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = body.Length;
        return context.Response.Body.WriteAsync(body, 0, body.Length, context.RequestAborted);
    }

    private byte[] ReadyBody()
    {
        var missing = readiness.MissingMaterial;
        var defects = hsm.Defects;
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("status", missing.Count == 0 && defects.Count == 0 ? "ready" : "degraded");
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

        return buffer.ToArray();
    }
}
