using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using KmsEmulator.Api.Audit;
using KmsEmulator.Api.Protocol;

namespace KmsEmulator.Api.Hosting;

/// <summary>
/// <c>audit decrypt FILE [--endpoint-url URL] [--out PATH]</c>: opens a log or digest file stored encrypted
/// (<c>Kms:Audit:KmsKeyId</c>) by asking the running emulator to Decrypt its data key, as any KMS client would, with
/// the credentials in <c>AWS_ACCESS_KEY_ID</c> / <c>AWS_SECRET_ACCESS_KEY</c> (/ <c>AWS_SESSION_TOKEN</c>); without
/// them the request is unsigned, which permissive mode accepts as the default account's root. Writes the file as it
/// would be stored unencrypted (gzip) to <c>--out</c> or standard output.
/// </summary>
public static class AuditDecryptCommand
{
    public const string Usage = "usage: KmsEmulator.Api audit decrypt FILE [--endpoint-url http://127.0.0.1:4599] [--out PATH]";

    public static Task<int> RunAsync(string[] args, Stream stdout, TextWriter stderr) =>
        RunAsync(args, stdout, stderr, Credentials.FromEnvironment());

    /// <summary>The access key the Decrypt request is signed with (none: unsigned).</summary>
    public sealed record Credentials(string AccessKeyId, string SecretAccessKey, string? SessionToken)
    {
        public static Credentials? FromEnvironment() =>
            Environment.GetEnvironmentVariable("AWS_ACCESS_KEY_ID") is { Length: > 0 } accessKey &&
            Environment.GetEnvironmentVariable("AWS_SECRET_ACCESS_KEY") is { Length: > 0 } secret
                ? new Credentials(accessKey, secret, Environment.GetEnvironmentVariable("AWS_SESSION_TOKEN"))
                : null;
    }

    internal static async Task<int> RunAsync(string[] args, Stream stdout, TextWriter stderr, Credentials? credentials)
    {
        string? file = null;
        string endpoint = KmsEmulatorApp.DefaultUrl;
        string? output = null;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--endpoint-url" when i + 1 < args.Length:
                    endpoint = args[++i];
                    break;
                case "--out" when i + 1 < args.Length:
                    output = args[++i];
                    break;
                case var value when !value.StartsWith("--", StringComparison.Ordinal) && file is null:
                    file = value;
                    break;
                default:
                    await stderr.WriteLineAsync(Usage);
                    return 2;
            }
        }

        if (file is null)
        {
            await stderr.WriteLineAsync(Usage);
            return 2;
        }

        var stored = await File.ReadAllBytesAsync(file);
        if (!TrailEncryption.IsEnvelope(stored))
        {
            await stderr.WriteLineAsync($"{file} is not encrypted; it is written out as it is.");
            await WriteAsync(stored, output, stdout);
            return 0;
        }

        var envelope = TrailEncryption.ReadEnvelope(stored);
        byte[] dataKey;
        try
        {
            dataKey = await DecryptDataKeyAsync(endpoint, envelope, credentials);
        }
        catch (Exception e) when (e is HttpRequestException or InvalidOperationException)
        {
            await stderr.WriteLineAsync($"{file}: the data key could not be decrypted: {e.Message}");
            return 1;
        }

        try
        {
            await WriteAsync(TrailEncryption.Open(envelope, dataKey), output, stdout);
        }
        catch (CryptographicException e)
        {
            await stderr.WriteLineAsync($"{file}: the file does not open with its data key (altered?): {e.Message}");
            return 1;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(dataKey);
        }

        return 0;
    }

    private static async Task WriteAsync(byte[] content, string? output, Stream stdout)
    {
        if (output is null)
        {
            await stdout.WriteAsync(content);
            await stdout.FlushAsync();
        }
        else
        {
            await File.WriteAllBytesAsync(output, content);
        }
    }

    /// <summary>KMS Decrypt of the envelope's data key through the emulator's API, signed with SigV4 when credentials are set.</summary>
    private static async Task<byte[]> DecryptDataKeyAsync(string endpoint, Envelope envelope, Credentials? credentials)
    {
        var region = Policy.Arn.TryParse(envelope.KeyArn, out var arn) ? arn.Region : "us-east-1";
        var body = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
        {
            ["KeyId"] = envelope.KeyArn,
            ["CiphertextBlob"] = Convert.ToBase64String(envelope.EncryptedDataKey),
            ["EncryptionContext"] = envelope.EncryptionContext,
        });
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(new Uri(endpoint), "/")) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-amz-json-1.1");
        request.Headers.Add("X-Amz-Target", KmsEndpoint.TargetPrefix + "Decrypt");
        if (credentials is not null)
        {
            Sign(request, body, credentials.AccessKeyId, credentials.SecretAccessKey, credentials.SessionToken, region, DateTimeOffset.UtcNow);
        }

        using var http = new HttpClient();
        using var response = await http.SendAsync(request);
        var answer = await response.Content.ReadAsByteArrayAsync();
        using var document = JsonDocument.Parse(answer);
        if (!response.IsSuccessStatusCode)
        {
            var type = document.RootElement.TryGetProperty("__type", out var t) ? t.GetString() : response.StatusCode.ToString();
            var message = document.RootElement.TryGetProperty("message", out var m) ? m.GetString() : null;
            throw new InvalidOperationException($"{type}: {message}");
        }

        return document.RootElement.GetProperty("Plaintext").GetBytesFromBase64();
    }

    /// <summary>Adds a SigV4 Authorization header for service kms (the headers KMS clients sign).</summary>
    private static void Sign(HttpRequestMessage request, byte[] body, string accessKey, string secret, string? sessionToken, string region, DateTimeOffset now)
    {
        var amzDate = now.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var date = amzDate[..8];
        request.Headers.Add("X-Amz-Date", amzDate);
        if (sessionToken is { Length: > 0 })
        {
            request.Headers.Add("X-Amz-Security-Token", sessionToken);
        }

        var host = request.RequestUri!.IsDefaultPort ? request.RequestUri.Host : $"{request.RequestUri.Host}:{request.RequestUri.Port}";
        var headers = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["content-type"] = "application/x-amz-json-1.1",
            ["host"] = host,
            ["x-amz-date"] = amzDate,
            ["x-amz-target"] = KmsEndpoint.TargetPrefix + "Decrypt",
        };
        if (sessionToken is { Length: > 0 })
        {
            headers["x-amz-security-token"] = sessionToken;
        }

        var signedHeaders = string.Join(';', headers.Keys);
        var canonical = new StringBuilder()
            .Append("POST\n/\n\n")
            .Append(string.Concat(headers.Select(h => $"{h.Key}:{h.Value}\n")))
            .Append('\n').Append(signedHeaders).Append('\n')
            .Append(Convert.ToHexStringLower(SHA256.HashData(body)))
            .ToString();
        var scope = $"{date}/{region}/kms/aws4_request";
        var stringToSign = $"AWS4-HMAC-SHA256\n{amzDate}\n{scope}\n{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)))}";
        var signature = Convert.ToHexStringLower(HMACSHA256.HashData(SigV4Verifier.SigningKey(secret, date, region, "kms"), Encoding.UTF8.GetBytes(stringToSign)));
        request.Headers.TryAddWithoutValidation("Authorization", $"AWS4-HMAC-SHA256 Credential={accessKey}/{scope}, SignedHeaders={signedHeaders}, Signature={signature}");
    }
}
