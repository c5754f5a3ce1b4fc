using System.Security.Cryptography;
using System.Text;

namespace KmsEmulator.Api.Keys;

/// <summary>
/// Grant tokens: opaque base64 strings, a fresh one for every CreateGrant call (also for an idempotent retry), that
/// name the key and the grant they belong to, so RetireGrant can find the grant from the token alone. Layout before
/// base64: version (1) | account, region, key id (each a length byte + ASCII) | grant id (32) | nonce (16) |
/// checksum (first 8 bytes of SHA-256 over everything before it). The checksum tells tokens the emulator issued from
/// other strings (InvalidGrantTokenException); the emulator needs no token to honour a grant, since grants take effect
/// at once.
/// </summary>
public static class GrantToken
{
    /// <summary>AWS accepts at most this many tokens in one request's GrantTokens.</summary>
    public const int MaxTokensPerRequest = 10;

    private const byte Version = 1;
    private const int GrantIdBytes = 32;
    private const int NonceBytes = 16;
    private const int ChecksumBytes = 8;

    /// <summary>What a token names.</summary>
    public readonly record struct Target(KeyScope Scope, string KeyId, string GrantId)
    {
        public string KeyArn => Scope.KeyArn(KeyId);
    }

    public static string Issue(KeyScope scope, string keyId, string grantId)
    {
        var buffer = new List<byte>(160) { Version };
        AddString(buffer, scope.AccountId);
        AddString(buffer, scope.Region);
        AddString(buffer, keyId);
        buffer.AddRange(Convert.FromHexString(grantId));
        buffer.AddRange(RandomNumberGenerator.GetBytes(NonceBytes));
        var body = buffer.ToArray();
        var checksum = SHA256.HashData(body).AsSpan(0, ChecksumBytes);
        return Convert.ToBase64String([.. body, .. checksum]);
    }

    /// <summary>Reads a token; false for anything the emulator did not issue.</summary>
    public static bool TryParse(string? token, out Target target)
    {
        target = default;
        if (string.IsNullOrEmpty(token) || token.Length > 1024)
        {
            return false;
        }

        var bytes = new byte[token.Length];
        if (!Convert.TryFromBase64String(token, bytes, out var length) || length < 1 + 3 + GrantIdBytes + NonceBytes + ChecksumBytes)
        {
            return false;
        }

        var data = bytes.AsSpan(0, length);
        var body = data[..^ChecksumBytes];
        if (body[0] != Version || !SHA256.HashData(body).AsSpan(0, ChecksumBytes).SequenceEqual(data[^ChecksumBytes..]))
        {
            return false;
        }

        var position = 1;
        if (!TryReadString(body, ref position, out var account)
            || !TryReadString(body, ref position, out var region)
            || !TryReadString(body, ref position, out var keyId)
            || body.Length - position != GrantIdBytes + NonceBytes)
        {
            return false;
        }

        target = new Target(new KeyScope(account, region), keyId, Convert.ToHexStringLower(body.Slice(position, GrantIdBytes)));
        return true;
    }

    /// <summary>The GrantTokens of a request must all be tokens the emulator issued (InvalidGrantTokenException).</summary>
    public static void ValidateAll(IEnumerable<string>? tokens)
    {
        foreach (var token in tokens ?? [])
        {
            if (!TryParse(token, out _))
            {
                throw KmsErrors.InvalidGrantToken();
            }
        }
    }

    /// <summary>A new grant id: 64 lowercase hex digits.</summary>
    public static string NewGrantId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(GrantIdBytes));

    /// <summary>True for the form of a grant id: 64 lowercase hex digits.</summary>
    public static bool IsGrantId(string value) =>
        value.Length == GrantIdBytes * 2 && value.All(c => c is (>= '0' and <= '9') or (>= 'a' and <= 'f'));

    private static void AddString(List<byte> buffer, string value)
    {
        var bytes = Encoding.ASCII.GetBytes(value);
        buffer.Add(checked((byte)bytes.Length));
        buffer.AddRange(bytes);
    }

    private static bool TryReadString(ReadOnlySpan<byte> body, ref int position, out string value)
    {
        value = string.Empty;
        if (position >= body.Length)
        {
            return false;
        }

        int length = body[position++];
        if (length == 0 || position + length > body.Length)
        {
            return false;
        }

        value = Encoding.ASCII.GetString(body.Slice(position, length));
        position += length;
        return true;
    }
}
