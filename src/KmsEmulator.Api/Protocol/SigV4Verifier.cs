using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using KmsEmulator.Api.Keys;
using Microsoft.AspNetCore.Http;

namespace KmsEmulator.Api.Protocol;

/// <summary>
/// Verifies an AWS Signature Version 4 request: rebuilds the canonical request from exactly the headers the client
/// signed, derives the signing key from the principal's secret and compares signatures in constant time. Errors use
/// AWS's codes and wording (InvalidSignatureException, IncompleteSignatureException), all HTTP 400.
/// </summary>
public static class SigV4Verifier
{
    private const string DateFormat = "yyyyMMdd'T'HHmmss'Z'";

    // kSigning depends only on (secret, date, region, service): four HMACs saved on almost every request.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(string Secret, string Date, string Region, string Service), byte[]> SigningKeys = new();

    /// <summary>Throws unless <paramref name="signature"/> is a valid signature of the request made with <paramref name="secretAccessKey"/>.</summary>
    public static void Verify(HttpRequest request, ReadOnlySpan<byte> body, SigV4Authorization signature, string secretAccessKey, DateTimeOffset now, TimeSpan allowedSkew)
    {
        RequireSigned(request, signature);
        var requestTime = RequestTime(request, signature);
        if (requestTime.ToString("yyyyMMdd", CultureInfo.InvariantCulture) != signature.Date)
        {
            throw new KmsException("InvalidSignatureException", $"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{signature.Date}' != '{requestTime.ToString("yyyyMMdd", CultureInfo.InvariantCulture)}', from '{requestTime.ToString(DateFormat, CultureInfo.InvariantCulture)}'.");
        }

        CheckSkew(requestTime, now, allowedSkew);

        var canonicalRequest = CanonicalRequest(request, body, signature);
        var stringToSign = string.Join(
            '\n',
            SigV4Authorization.Algorithm,
            requestTime.ToString(DateFormat, CultureInfo.InvariantCulture),
            signature.CredentialScope,
            Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonicalRequest))));

        var signingKey = CachedSigningKey(secretAccessKey, signature.Date, signature.Region, signature.Service);
        var expected = Convert.ToHexStringLower(HMACSHA256.HashData(signingKey, Encoding.UTF8.GetBytes(stringToSign)));
        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(signature.Signature)))
        {
            throw new KmsException(
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.");
        }
    }

    /// <summary>
    /// A signature must cover what decides the request: the host, the date, the operation (X-Amz-Target) and, for
    /// temporary credentials, the session token. Otherwise a captured signature could be replayed against another
    /// operation.
    /// </summary>
    private static void RequireSigned(HttpRequest request, SigV4Authorization signature)
    {
        var signed = signature.SignedHeaders;
        static bool Has(System.Collections.Immutable.ImmutableArray<string> headers, string name) => headers.Contains(name, StringComparer.OrdinalIgnoreCase);
        var missing = new List<string>();
        if (!Has(signed, "host"))
        {
            missing.Add("host");
        }

        if (!Has(signed, "x-amz-date") && !Has(signed, "date"))
        {
            missing.Add("x-amz-date");
        }

        if (!Has(signed, "x-amz-target"))
        {
            missing.Add("x-amz-target");
        }

        if (request.Headers.ContainsKey("X-Amz-Security-Token") && !Has(signed, "x-amz-security-token"))
        {
            missing.Add("x-amz-security-token");
        }

        if (missing.Count > 0)
        {
            throw new KmsException(
                "IncompleteSignatureException",
                $"The request signature does not sign the header(s) {string.Join(", ", missing)}, which must be signed. SignedHeaders={string.Join(';', signed)}");
        }
    }

    /// <summary>The canonical request of SigV4, built from the headers named in SignedHeaders with their values as received.</summary>
    public static string CanonicalRequest(HttpRequest request, ReadOnlySpan<byte> body, SigV4Authorization signature)
    {
        var builder = new StringBuilder(512);
        builder.Append(request.Method).Append('\n');
        builder.Append(CanonicalUri(request.Path.HasValue ? request.Path.Value! : "/")).Append('\n');
        builder.Append(CanonicalQuery(request.QueryString.HasValue ? request.QueryString.Value![1..] : string.Empty)).Append('\n');
        foreach (var name in signature.SignedHeaders)
        {
            builder.Append(name).Append(':').Append(CanonicalHeaderValue(request, name)).Append('\n');
        }

        builder.Append('\n');
        builder.Append(string.Join(';', signature.SignedHeaders)).Append('\n');
        builder.Append(Convert.ToHexStringLower(SHA256.HashData(body)));
        return builder.ToString();
    }

    /// <summary>kSigning = HMAC chain over date, region, service and "aws4_request", keyed with "AWS4" + secret.</summary>
    public static byte[] SigningKey(string secretAccessKey, string date, string region, string service)
    {
        var key = HMACSHA256.HashData(Encoding.UTF8.GetBytes("AWS4" + secretAccessKey), Encoding.UTF8.GetBytes(date));
        key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(region));
        key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(service));
        return HMACSHA256.HashData(key, "aws4_request"u8);
    }

    private static byte[] CachedSigningKey(string secret, string date, string region, string service)
    {
        if (SigningKeys.Count > 10_000)
        {
            SigningKeys.Clear();
        }

        return SigningKeys.GetOrAdd((secret, date, region, service), static k => SigningKey(k.Secret, k.Date, k.Region, k.Service));
    }

    private static DateTimeOffset RequestTime(HttpRequest request, SigV4Authorization signature)
    {
        string? amzDate = request.Headers["X-Amz-Date"];
        if (!string.IsNullOrEmpty(amzDate))
        {
            return DateTimeOffset.TryParseExact(amzDate, DateFormat, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed)
                ? parsed
                : throw new KmsException("IncompleteSignatureException", $"Date must be in ISO-8601 'basic format'. Got '{amzDate}'. See http://en.wikipedia.org/wiki/ISO_8601");
        }

        string? date = request.Headers.Date;
        if (!string.IsNullOrEmpty(date) && DateTimeOffset.TryParse(date, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var fromDate))
        {
            return fromDate;
        }

        throw new KmsException(
            "IncompleteSignatureException",
            $"Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization={request.Headers.Authorization}");
    }

    private static void CheckSkew(DateTimeOffset requestTime, DateTimeOffset now, TimeSpan allowedSkew)
    {
        string Format(DateTimeOffset t) => t.UtcDateTime.ToString(DateFormat, CultureInfo.InvariantCulture);
        var minutes = (int)allowedSkew.TotalMinutes;
        if (requestTime < now - allowedSkew)
        {
            throw new KmsException("InvalidSignatureException", $"Signature expired: {Format(requestTime)} is now earlier than {Format(now - allowedSkew)} ({Format(now)} - {minutes} min.)");
        }

        if (requestTime > now + allowedSkew)
        {
            throw new KmsException("InvalidSignatureException", $"Signature not yet current: {Format(requestTime)} is still later than {Format(now + allowedSkew)} ({Format(now)} + {minutes} min.)");
        }
    }

    private static string CanonicalHeaderValue(HttpRequest request, string name)
    {
        var values = request.Headers[name];
        var parts = new string[values.Count];
        for (var i = 0; i < values.Count; i++)
        {
            parts[i] = CollapseSpaces(values[i] ?? string.Empty);
        }

        return string.Join(',', parts);
    }

    private static string CollapseSpaces(string value)
    {
        var trimmed = value.Trim();
        if (!trimmed.Contains("  ", StringComparison.Ordinal))
        {
            return trimmed;
        }

        var builder = new StringBuilder(trimmed.Length);
        var previousSpace = false;
        foreach (var c in trimmed)
        {
            if (c == ' ' && previousSpace)
            {
                continue;
            }

            builder.Append(c);
            previousSpace = c == ' ';
        }

        return builder.ToString();
    }

    // KMS is always "/", but signing is defined for any path: each segment URI-encoded (already-encoded input kept).
    private static string CanonicalUri(string path) => path == "/"
        ? path
        : string.Join('/', path.Split('/').Select(segment => Uri.EscapeDataString(Uri.UnescapeDataString(segment))));

    private static string CanonicalQuery(string query)
    {
        if (query.Length == 0)
        {
            return string.Empty;
        }

        return string.Join('&', query.Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(pair =>
            {
                var equals = pair.IndexOf('=', StringComparison.Ordinal);
                var name = Uri.UnescapeDataString(equals < 0 ? pair : pair[..equals]);
                var value = equals < 0 ? string.Empty : Uri.UnescapeDataString(pair[(equals + 1)..]);
                return (Name: Uri.EscapeDataString(name), Value: Uri.EscapeDataString(value));
            })
            .OrderBy(p => p.Name, StringComparer.Ordinal)
            .ThenBy(p => p.Value, StringComparer.Ordinal)
            .Select(p => p.Name + "=" + p.Value));
    }
}
