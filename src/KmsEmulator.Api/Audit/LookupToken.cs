using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace KmsEmulator.Api.Audit;

/// <summary>
/// LookupEvents' NextToken: an opaque string holding where the page ended and a hash of the query it belongs to
/// (account, region, attribute and value, time range), so a token used with other parameters is refused (AWS:
/// InvalidNextTokenException). The page size is not bound: a client may change it between pages.
/// </summary>
public static class LookupToken
{
    private const byte Version = 2; // 2: sequences number chunks (audit index 0002); a version-1 token is refused
    private const int HashBytes = 16;
    private const int Length = 1 + 8 + 8 + HashBytes;

    public static string Encode(AuditLookup query, AuditCursor cursor)
    {
        Span<byte> bytes = stackalloc byte[Length];
        bytes[0] = Version;
        BinaryPrimitives.WriteInt64BigEndian(bytes[1..], cursor.EventTime);
        BinaryPrimitives.WriteInt64BigEndian(bytes[9..], cursor.Sequence);
        Bind(query, bytes[17..]);
        return Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    /// <summary>The position a token stands for, or null when it is not a token of this query.</summary>
    public static AuditCursor? Decode(string token, AuditLookup query)
    {
        if (token.Length is 0 or > 64)
        {
            return null;
        }

        var base64 = token.Replace('-', '+').Replace('_', '/');
        base64 += new string('=', (4 - (base64.Length % 4)) % 4);
        Span<byte> bytes = stackalloc byte[48];
        if (!Convert.TryFromBase64String(base64, bytes, out var written) || written != Length || bytes[0] != Version)
        {
            return null;
        }

        Span<byte> expected = stackalloc byte[HashBytes];
        Bind(query, expected);
        if (!CryptographicOperations.FixedTimeEquals(expected, bytes.Slice(17, HashBytes)))
        {
            return null;
        }

        return new AuditCursor(BinaryPrimitives.ReadInt64BigEndian(bytes[1..]), BinaryPrimitives.ReadInt64BigEndian(bytes[9..]));
    }

    private static void Bind(AuditLookup query, Span<byte> hash)
    {
        var attribute = query.Attribute is { } a ? $"{a.Key}\n{a.Value}" : "-\n-";
        var start = query.StartTime?.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture) ?? "-";
        var end = query.EndTime?.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture) ?? "-";
        var text = $"{query.AccountId}\n{query.Region}\n{attribute}\n{start}\n{end}";
        Span<byte> full = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(text), full);
        full[..HashBytes].CopyTo(hash);
    }
}
