using KmsEmulator.Hsm;
using Microsoft.AspNetCore.Http;

namespace KmsEmulator.Api.Hosting;

/// <summary><c>GET /health</c>: 200 once the store is loaded and the HSM is logged in, 503 before (or after losing the HSM).</summary>
public sealed class HealthEndpoint(KmsReadiness readiness, IKeyMaterialBackend hsm)
{
    private static readonly byte[] Ready = """{"status":"ready"}"""u8.ToArray();
    private static readonly byte[] NotReady = """{"status":"starting"}"""u8.ToArray();

    public static bool Matches(HttpRequest request) => request.Path == "/health" && HttpMethods.IsGet(request.Method);

    public Task HandleAsync(HttpContext context)
    {
        var ready = readiness.IsReady && hsm.IsReady;
        var body = ready ? Ready : NotReady;
        context.Response.StatusCode = ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = body.Length;
        return context.Response.Body.WriteAsync(body, 0, body.Length, context.RequestAborted);
    }
}
