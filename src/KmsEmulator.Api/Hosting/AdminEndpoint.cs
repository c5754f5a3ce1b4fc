using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using KmsEmulator.Api.Audit;
using KmsEmulator.Api.Keys;
using Microsoft.Extensions.Options;

namespace KmsEmulator.Api.Hosting;

/// <summary>
/// Emulator-only controls outside the KMS API, under <c>/_emulator/</c>, answered only with <c>Kms:Admin:Enabled</c>:
/// <list type="bullet">
/// <item><c>GET /_emulator/clock</c>: <c>{"now": "...Z", "offsetSeconds": N}</c>.</item>
/// <item><c>POST /_emulator/clock</c> with <c>{"advanceSeconds": N}</c>: moves the emulator's clock forward by N
/// seconds and answers as GET once what the new time calls for is done (keys whose deletion window ended are gone,
/// due automatic rotations have happened).</item>
/// <item><c>GET /_emulator/state</c>: every key (ARN, state, spec, manager, multi-Region) and alias (ARN, target) of
/// every account and Region.</item>
/// <item><c>POST /_emulator/reset</c>: deletes every key, alias and grant and destroys their HSM objects (AWS managed keys
/// are made again on their next use). The audit trail is kept (the reset is not a KMS call and has no record), or with
/// <c>{"auditTrail": "clear"}</c> cleared too: log files, digests, the LookupEvents index and key uses.</item>
/// <item><c>POST /_emulator/audit/flush</c>: answers once every request answered before it is in a delivered log file
/// and in the LookupEvents index (with a shared index, visible to LookupEvents on every node).</item>
/// </list>
/// </summary>
public sealed class AdminEndpoint(EmulatorClock clock, IOptions<KmsOptions> options, KeyWriter writer, KeyCatalog catalog, AuditTrail trail)
{
    public const string Prefix = "/_emulator/";

    public bool Matches(HttpRequest request) =>
        options.Value.Admin.Enabled && request.Path.StartsWithSegments("/_emulator", StringComparison.Ordinal);

    public async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        if (request.Path == Prefix + "state")
        {
            await StateAsync(context);
            return;
        }

        if (request.Path == Prefix + "reset")
        {
            await ResetAsync(context);
            return;
        }

        if (request.Path == Prefix + "audit/flush")
        {
            await FlushAuditAsync(context);
            return;
        }

        if (request.Path != Prefix + "clock")
        {
            await WriteAsync(context, StatusCodes.Status404NotFound, w => w.WriteString(
                "message", $"No emulator control at {request.Path}; there are /_emulator/clock, /_emulator/state, /_emulator/reset and /_emulator/audit/flush."));
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

    private async Task StateAsync(HttpContext context)
    {
        if (!HttpMethods.IsGet(context.Request.Method))
        {
            await WriteAsync(context, StatusCodes.Status405MethodNotAllowed, w => w.WriteString("message", "Use GET."));
            return;
        }

        var keys = catalog.AllKeys
            .OrderBy(k => k.Scope.AccountId, StringComparer.Ordinal).ThenBy(k => k.Scope.Region, StringComparer.Ordinal).ThenBy(k => k.KeyId, StringComparer.Ordinal)
            .ToList();
        var aliases = catalog.AllAliases
            .OrderBy(a => a.Scope.AccountId, StringComparer.Ordinal).ThenBy(a => a.Scope.Region, StringComparer.Ordinal).ThenBy(a => a.AliasName, StringComparer.Ordinal)
            .ToList();
        await WriteAsync(context, StatusCodes.Status200OK, w =>
        {
            w.WriteStartArray("keys");
            foreach (var key in keys)
            {
                w.WriteStartObject();
                w.WriteString("keyArn", key.Scope.KeyArn(key.KeyId));
                w.WriteString("keyState", key.KeyState.ToString());
                w.WriteString("keySpec", key.KeySpec.ToString());
                w.WriteString("keyManager", key.KeyManager.ToString());
                w.WriteBoolean("multiRegion", key.MultiRegion);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartArray("aliases");
            foreach (var alias in aliases)
            {
                w.WriteStartObject();
                w.WriteString("aliasArn", alias.Scope.AliasArn(alias.AliasName));
                w.WriteString("targetKeyId", alias.TargetKeyId);
                w.WriteEndObject();
            }

            w.WriteEndArray();
        });
    }

    private async Task ResetAsync(HttpContext context)
    {
        if (!HttpMethods.IsPost(context.Request.Method))
        {
            await WriteAsync(context, StatusCodes.Status405MethodNotAllowed, w => w.WriteString("message", "Use POST."));
            return;
        }

        var clearTrail = false;
        using var content = new MemoryStream();
        await context.Request.Body.CopyToAsync(content, context.RequestAborted);
        if (content.Length > 0)
        {
            try
            {
                using var body = JsonDocument.Parse(content.ToArray());
                if (body.RootElement.ValueKind != JsonValueKind.Object)
                {
                    throw new FormatException();
                }

                clearTrail = body.RootElement.TryGetProperty("auditTrail", out var choice) && choice.GetString() switch
                {
                    "keep" => false,
                    "clear" => true,
                    _ => throw new FormatException(),
                };
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
            {
                await WriteAsync(context, StatusCodes.Status400BadRequest, w => w.WriteString("message", "Send no body, or {\"auditTrail\": \"keep\"} or {\"auditTrail\": \"clear\"}."));
                return;
            }
        }

        var result = await writer.ResetAsync(context.RequestAborted);
        if (clearTrail)
        {
            await trail.ClearAsync();
        }

        await WriteAsync(context, StatusCodes.Status200OK, w =>
        {
            w.WriteNumber("keysDeleted", result.Keys);
            w.WriteNumber("aliasesDeleted", result.Aliases);
            w.WriteNumber("hsmObjectsDestroyed", result.HsmObjects);
            w.WriteString("auditTrail", clearTrail && trail.Enabled ? "cleared" : trail.Enabled ? "kept" : "off");
        });
    }

    private async Task FlushAuditAsync(HttpContext context)
    {
        if (!HttpMethods.IsPost(context.Request.Method))
        {
            await WriteAsync(context, StatusCodes.Status405MethodNotAllowed, w => w.WriteString("message", "Use POST."));
            return;
        }

        try
        {
            await trail.FlushAsync().WaitAsync(context.RequestAborted);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // What /health reports too: the type and message of the failure (a path, a host), never a secret.
            await WriteAsync(context, StatusCodes.Status503ServiceUnavailable, w => w.WriteString(
                "message", $"The audit trail could not be written: {e.GetType().Name}: {e.Message}"));
            return;
        }

        await WriteAsync(context, StatusCodes.Status200OK, w => w.WriteString("auditTrail", trail.Enabled ? "flushed" : "off"));
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
