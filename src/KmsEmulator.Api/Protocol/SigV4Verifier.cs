using System.Buffers;
using System.Globalization;
using System.Runtime.InteropServices;
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
    private const int HashBytes = 32;
    private const int MaxRetainedBufferBytes = 16 * 1024;

    // Per-thread scratch space for the canonical request and the string to sign, and the HMAC context of the last
    // signing key: OpenSSL's one-shot HMAC sets up a new context each time, which costs more than the MAC itself.
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    [ThreadStatic]
    private static (byte[] Key, IncrementalHash Hash)? t_mac;

    private static ArrayBufferWriter<byte> Buffer => t_buffer ??= new ArrayBufferWriter<byte>(1024);

    // kSigning depends only on (secret, date, region, service): four HMACs saved on almost every request.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(string Secret, string Date, string Region, string Service), byte[]> SigningKeys = new();

    /// <summary>Throws unless <paramref name="signature"/> is a valid signature of the request made with <paramref name="secretAccessKey"/>.</summary>
    public static void Verify(HttpRequest request, ReadOnlySpan<byte> body, SigV4Authorization signature, string secretAccessKey, DateTimeOffset now, TimeSpan allowedSkew)
    {
        RequireSigned(request, signature);
        var (requestTime, requestTimeText) = RequestTime(request, signature);
        if (!requestTimeText.AsSpan(0, 8).SequenceEqual(signature.Date))
        {
            throw KmsErrors.CredentialDateMismatch(signature.Date, requestTimeText[..8], requestTimeText);
        }

        CheckSkew(requestTime, now, allowedSkew);

        var buffer = Buffer;
        buffer.ResetWrittenCount();
        try
        {
            Span<byte> digest = stackalloc byte[HashBytes];
            WriteCanonicalRequest(buffer, request, body, signature);
            SHA256.HashData(buffer.WrittenSpan, digest);

            buffer.Clear();
            Append(buffer, SigV4Authorization.Algorithm, '\n');
            Append(buffer, requestTimeText, '\n');
            Append(buffer, signature.Date, '/');
            Append(buffer, signature.Region, '/');
            Append(buffer, signature.Service, '/');
            Append(buffer, "aws4_request", '\n');
            AppendHex(buffer, digest);

            Mac(CachedSigningKey(secretAccessKey, signature.Date, signature.Region, signature.Service), buffer.WrittenSpan, digest);
            Span<char> expected = stackalloc char[2 * HashBytes];
            Convert.TryToHexStringLower(digest, expected, out _);
            if (!CryptographicOperations.FixedTimeEquals(MemoryMarshal.AsBytes(expected), MemoryMarshal.AsBytes(signature.Signature.AsSpan())))
            {
                throw KmsErrors.SignatureDoesNotMatch();
            }
        }
        finally
        {
            // The canonical request holds header values (a session token among them): wipe it, keep the space.
            buffer.Clear();
            if (buffer.Capacity > MaxRetainedBufferBytes)
            {
                t_buffer = null;
            }
        }
    }

    /// <summary>
    /// A signature must cover what decides the request: the host, the date, the operation (X-Amz-Target) and, for
    /// temporary credentials, the session token. Otherwise a captured signature could be replayed against another
    /// operation.
    /// </summary>
    private static void RequireSigned(HttpRequest request, SigV4Authorization signature)
    {
        bool host = false, date = false, target = false, token = false;
        foreach (var name in signature.SignedHeaders)
        {
            host |= name.Equals("host", StringComparison.OrdinalIgnoreCase);
            date |= name.Equals("x-amz-date", StringComparison.OrdinalIgnoreCase) || name.Equals("date", StringComparison.OrdinalIgnoreCase);
            target |= name.Equals("x-amz-target", StringComparison.OrdinalIgnoreCase);
            token |= name.Equals("x-amz-security-token", StringComparison.OrdinalIgnoreCase);
        }

        token |= !request.Headers.ContainsKey("X-Amz-Security-Token");
        if (host && date && target && token)
        {
            return;
        }

        string?[] missing = [host ? null : "host", date ? null : "x-amz-date", target ? null : "x-amz-target", token ? null : "x-amz-security-token"];
        throw KmsErrors.HeadersNotSigned(missing.OfType<string>(), signature.SignedHeaders);
    }

    /// <summary>The canonical request of SigV4, built from the headers named in SignedHeaders with their values as received.</summary>
    public static string CanonicalRequest(HttpRequest request, ReadOnlySpan<byte> body, SigV4Authorization signature)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        WriteCanonicalRequest(buffer, request, body, signature);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Writes the canonical request as UTF-8, the form that is hashed.</summary>
    private static void WriteCanonicalRequest(ArrayBufferWriter<byte> buffer, HttpRequest request, ReadOnlySpan<byte> body, SigV4Authorization signature)
    {
        Append(buffer, request.Method, '\n');
        Append(buffer, CanonicalUri(request.Path.HasValue ? request.Path.Value! : "/"), '\n');
        Append(buffer, CanonicalQuery(request.QueryString.HasValue ? request.QueryString.Value![1..] : string.Empty), '\n');
        foreach (var name in signature.SignedHeaders)
        {
            Append(buffer, name, ':');
            Append(buffer, CanonicalHeaderValue(request, name), '\n');
        }

        Append(buffer, string.Empty, '\n');
        var signed = signature.SignedHeaders;
        if (signed.IsEmpty)
        {
            Append(buffer, string.Empty, '\n');
        }

        for (var i = 0; i < signed.Length; i++)
        {
            Append(buffer, signed[i], i == signed.Length - 1 ? '\n' : ';');
        }

        Span<byte> bodyHash = stackalloc byte[HashBytes];
        SHA256.HashData(body, bodyHash);
        AppendHex(buffer, bodyHash);
    }

    /// <summary>kSigning = HMAC chain over date, region, service and "aws4_request", keyed with "AWS4" + secret.</summary>
    public static byte[] SigningKey(string secretAccessKey, string date, string region, string service)
    {
        var key = HMACSHA256.HashData(Encoding.UTF8.GetBytes("AWS4" + secretAccessKey), Encoding.UTF8.GetBytes(date));
        key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(region));
        key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(service));
        return HMACSHA256.HashData(key, "aws4_request"u8);
    }

    /// <summary>HMAC-SHA256 with a per-thread HMAC context reused for as long as the thread sees the same key.</summary>
    private static void Mac(byte[] key, ReadOnlySpan<byte> data, Span<byte> destination)
    {
        var mac = t_mac;
        if (mac is null || !ReferenceEquals(mac.Value.Key, key))
        {
            mac?.Hash.Dispose();
            mac = (key, IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key));
            t_mac = mac;
        }

        try
        {
            mac.Value.Hash.AppendData(data);
            mac.Value.Hash.GetHashAndReset(destination);
        }
        catch
        {
            // Never leave a half-fed context behind for the next request on this thread.
            mac.Value.Hash.Dispose();
            t_mac = null;
            throw;
        }
    }

    private static void Append(ArrayBufferWriter<byte> buffer, string text, char separator)
    {
        var span = buffer.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length) + 1);
        var written = Encoding.UTF8.GetBytes(text, span);
        span[written] = (byte)separator;
        buffer.Advance(written + 1);
    }

    private static void AppendHex(ArrayBufferWriter<byte> buffer, ReadOnlySpan<byte> bytes)
    {
        var span = buffer.GetSpan(2 * bytes.Length);
        for (var i = 0; i < bytes.Length; i++)
        {
            span[2 * i] = (byte)"0123456789abcdef"[bytes[i] >> 4];
            span[(2 * i) + 1] = (byte)"0123456789abcdef"[bytes[i] & 0xF];
        }

        buffer.Advance(2 * bytes.Length);
    }

    private static byte[] CachedSigningKey(string secret, string date, string region, string service)
    {
        if (SigningKeys.TryGetValue((secret, date, region, service), out var cached))
        {
            return cached;
        }

        // Counting a ConcurrentDictionary takes all its locks: done only when a key is missing.
        if (SigningKeys.Count > 10_000)
        {
            SigningKeys.Clear();
        }

        return SigningKeys.GetOrAdd((secret, date, region, service), static k => SigningKey(k.Secret, k.Date, k.Region, k.Service));
    }

    /// <summary>The request time and its ISO-8601 basic form, the text the string to sign carries.</summary>
    private static (DateTimeOffset Time, string Text) RequestTime(HttpRequest request, SigV4Authorization signature)
    {
        string? amzDate = request.Headers["X-Amz-Date"];
        if (!string.IsNullOrEmpty(amzDate))
        {
            return DateTimeOffset.TryParseExact(amzDate, DateFormat, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed)
                ? (parsed, amzDate)
                : throw KmsErrors.RequestDateMalformed(amzDate);
        }

        string? date = request.Headers.Date;
        if (!string.IsNullOrEmpty(date) && DateTimeOffset.TryParse(date, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var fromDate))
        {
            return (fromDate, fromDate.UtcDateTime.ToString(DateFormat, CultureInfo.InvariantCulture));
        }

        throw KmsErrors.RequestDateMissing(request.Headers.Authorization.ToString());
    }

    private static void CheckSkew(DateTimeOffset requestTime, DateTimeOffset now, TimeSpan allowedSkew)
    {
        string Format(DateTimeOffset t) => t.UtcDateTime.ToString(DateFormat, CultureInfo.InvariantCulture);
        var minutes = (int)allowedSkew.TotalMinutes;
        if (requestTime < now - allowedSkew)
        {
            throw KmsErrors.SignatureExpired(Format(requestTime), Format(now - allowedSkew), Format(now), minutes);
        }

        if (requestTime > now + allowedSkew)
        {
            throw KmsErrors.SignatureNotYetCurrent(Format(requestTime), Format(now + allowedSkew), Format(now), minutes);
        }
    }

    private static string CanonicalHeaderValue(HttpRequest request, string name)
    {
        var values = request.Headers[name];
        if (values.Count == 1)
        {
            return CollapseSpaces(values[0] ?? string.Empty);
        }

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
