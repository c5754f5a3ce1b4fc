using System.Security.Cryptography;
using System.Text.Json;
using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using Microsoft.Extensions.Options;

namespace KmsEmulator.Api.Audit;

/// <summary>
/// Encryption at rest of the trail, as CloudTrail's SSE-KMS: with <see cref="AuditOptions.KmsKeyId"/> set, every log
/// file is stored as an envelope (digest files stay readable, as CloudTrail leaves them to SSE-S3): its bytes sealed with AES-256-GCM under a fresh data key, and the data key
/// encrypted by the named KMS key of the emulator (a normal KMS ciphertext, with the trail's ARN as encryption context).
/// Whoever the key policy allows to Decrypt can read the trail; <c>audit decrypt</c> does it.
/// </summary>
/// <remarks>
/// Envelope (UTF-8 JSON, one object): <c>{"kmsEmulatorEnvelope":1, "keyArn", "encryptionContext", "encryptedDataKey"
/// (base64 KMS ciphertext), "algorithm":"AES_256_GCM", "iv" (base64, 12 bytes), "ciphertext" (base64, sealed bytes
/// followed by the 16-byte tag)}</c>. The sealed bytes are the file as it would be stored unencrypted (gzip).
/// </remarks>
public sealed class TrailEncryption(IOptions<AuditOptions> options, KeyResolver resolver, KeyCryptoService crypto)
{
    public const string TrailName = "kms-emulator";
    public const string ContextKey = "aws:cloudtrail:arn";
    private const int TagBytes = 16;
    private static readonly byte[] Marker = "{\"kmsEmulatorEnvelope\""u8.ToArray();

    private readonly string? _keyId = string.IsNullOrWhiteSpace(options.Value.KmsKeyId) ? null : options.Value.KmsKeyId.Trim();

    public bool Enabled => _keyId is not null;

    /// <summary>Whether stored bytes are an envelope (and not a plain gzip file).</summary>
    public static bool IsEnvelope(ReadOnlySpan<byte> stored) => stored.StartsWith(Marker);

    /// <summary>CloudTrail's ARN of the emulator's trail in an account and region (the envelope's encryption context).</summary>
    public static string TrailArn(string accountId, string region) =>
        $"arn:{KeyScope.PartitionOf(region)}:cloudtrail:{region}:{accountId}:trail/{TrailName}";

    /// <summary>Checks at start that the named key exists and can encrypt; the message says what to fix.</summary>
    public void Validate() => _ = Key();

    /// <summary>The envelope that stores <paramref name="content"/> for the trail of an account and region.</summary>
    public async Task<byte[]> ProtectAsync(byte[] content, string accountId, string region, CancellationToken cancellationToken)
    {
        var key = Key();
        var context = new Dictionary<string, string>(StringComparer.Ordinal) { [ContextKey] = TrailArn(accountId, region) };
        var dataKey = RandomNumberGenerator.GetBytes(32);
        try
        {
            var encryptedDataKey = await crypto.EncryptAsync(key, dataKey, context, cancellationToken).ConfigureAwait(false);
            var iv = RandomNumberGenerator.GetBytes(12);
            var sealedBytes = new byte[content.Length + TagBytes];
            using (var aes = new AesGcm(dataKey, TagBytes))
            {
                aes.Encrypt(iv, content, sealedBytes.AsSpan(0, content.Length), sealedBytes.AsSpan(content.Length));
            }

            using var buffer = new MemoryStream(sealedBytes.Length * 4 / 3 + 1024);
            using (var writer = new Utf8JsonWriter(buffer))
            {
                writer.WriteStartObject();
                writer.WriteNumber("kmsEmulatorEnvelope", 1);
                writer.WriteString("keyArn", key.Arn);
                writer.WriteStartObject("encryptionContext");
                writer.WriteString(ContextKey, context[ContextKey]);
                writer.WriteEndObject();
                writer.WriteBase64String("encryptedDataKey", encryptedDataKey);
                writer.WriteString("algorithm", "AES_256_GCM");
                writer.WriteBase64String("iv", iv);
                writer.WriteBase64String("ciphertext", sealedBytes);
                writer.WriteEndObject();
            }

            return buffer.ToArray();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(dataKey);
        }
    }

    /// <summary>Opens an envelope with a data key the caller obtained from KMS Decrypt.</summary>
    public static byte[] Open(Envelope envelope, ReadOnlySpan<byte> dataKey)
    {
        var sealedBytes = envelope.Ciphertext;
        if (sealedBytes.Length < TagBytes)
        {
            throw new CryptographicException("The envelope's ciphertext is shorter than its tag.");
        }

        var content = new byte[sealedBytes.Length - TagBytes];
        using var aes = new AesGcm(dataKey, TagBytes);
        aes.Decrypt(envelope.Iv, sealedBytes.AsSpan(0, content.Length), sealedBytes.AsSpan(content.Length), content);
        return content;
    }

    /// <summary>Reads an envelope's fields.</summary>
    public static Envelope ReadEnvelope(ReadOnlySpan<byte> stored)
    {
        using var document = JsonDocument.Parse(stored.ToArray());
        var root = document.RootElement;
        return new Envelope(
            root.GetProperty("keyArn").GetString()!,
            root.GetProperty("encryptionContext").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!, StringComparer.Ordinal),
            root.GetProperty("encryptedDataKey").GetBytesFromBase64(),
            root.GetProperty("iv").GetBytesFromBase64(),
            root.GetProperty("ciphertext").GetBytesFromBase64());
    }

    private KeyRecord Key()
    {
        var keyId = _keyId ?? throw new InvalidOperationException("Kms:Audit:KmsKeyId is not set.");
        if (!Policy.Arn.TryParse(keyId, out var arn) || arn.Service != "kms")
        {
            throw new InvalidOperationException($"Kms:Audit:KmsKeyId '{keyId}' must be a key ARN or an alias ARN of this emulator.");
        }

        KeyRecord key;
        try
        {
            key = resolver.Resolve(keyId, new KeyScope(arn.Account, arn.Region), KeyIdentifierForms.Any).Key;
        }
        catch (KmsException e)
        {
            throw new InvalidOperationException($"Kms:Audit:KmsKeyId '{keyId}' names no usable key: {e.Message}", e);
        }

        if (key.KeySpec != KeySpec.SYMMETRIC_DEFAULT || key.KeyUsage != KeyUsageType.ENCRYPT_DECRYPT || key.KeyState != KeyState.Enabled)
        {
            throw new InvalidOperationException(
                $"Kms:Audit:KmsKeyId '{keyId}' must name an enabled SYMMETRIC_DEFAULT ENCRYPT_DECRYPT key; it is {key.KeySpec} {key.KeyUsage}, {key.KeyState}.");
        }

        return key;
    }
}

/// <summary>The fields of a stored envelope.</summary>
public sealed record Envelope(string KeyArn, IReadOnlyDictionary<string, string> EncryptionContext, byte[] EncryptedDataKey, byte[] Iv, byte[] Ciphertext);
