using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace KmsEmulator.Api.Hosting;

/// <summary>
/// Emulator-only controls outside the KMS API, under <c>/_emulator/</c>, answered only with <c>Kms:Admin:Enabled</c>:
/// <list type="bullet">
/// <item><c>GET /_emulator/clock</c>: <c>{"now": "...Z", "offsetSeconds": N}</c>.</item>
/// <item><c>POST /_emulator/clock</c> with <c>{"advanceSeconds": N}</c>: moves the emulator's clock forward by N
/// seconds and answers as GET once what the new time calls for is done (keys whose deletion window ended are gone,
/// due automatic rotations have happened).</item>
/// </list>
/// </summary>
public sealed class AdminEndpoint(EmulatorClock clock, IOptions<KmsOptions> options)
{
    public const string Prefix = "/_emulator/";

    public bool Matches(HttpRequest request) =>
        options.Value.Admin.Enabled && request.Path.StartsWithSegments("/_emulator", StringComparison.Ordinal);

    public async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        if (request.Path != Prefix + "clock")
        {
            await WriteAsync(context, StatusCodes.Status404NotFound, w => w.WriteString("message", $"No emulator control at {request.Path}; there is /_emulator/clock."));
            return;
        }

        if (HttpMethods.IsPost(request.Method))
        {
            double seconds;
            try
            {
                using var body = await JsonDocument.ParseAsync(request.Body, cancellationToken: context.RequestAborted);
                seconds = body.RootElement.GetProperty("advanceSeconds").GetDouble();
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                await WriteAsync(context, StatusCodes.Status400BadRequest, w => w.WriteString("message", "Send {\"advanceSeconds\": N} with N >= 0."));
                return;
            }

            if (!(seconds >= 0) || seconds > TimeSpan.MaxValue.TotalSeconds / 2)
            {
                await WriteAsync(context, StatusCodes.Status400BadRequest, w => w.WriteString("message", "advanceSeconds must be 0 or more: the clock only moves forward."));
                return;
            }

            await clock.AdvanceAsync(TimeSpan.FromSeconds(seconds));
        }
        else if (!HttpMethods.IsGet(request.Method))
        {
            await WriteAsync(context, StatusCodes.Status405MethodNotAllowed, w => w.WriteString("message", "Use GET or POST."));
            return;
        }

        await WriteAsync(context, StatusCodes.Status200OK, w =>
        {
            w.WriteString("now", clock.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
            w.WriteNumber("offsetSeconds", clock.Offset.TotalSeconds);
        });
    }

    private static async Task WriteAsync(HttpContext context, int status, Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            write(json);
            json.WriteEndObject();
        }

        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = buffer.Length;
        await context.Response.Body.WriteAsync(buffer.ToArray(), context.RequestAborted);
    }
}
