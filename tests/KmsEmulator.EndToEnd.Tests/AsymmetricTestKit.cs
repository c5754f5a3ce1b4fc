using System.Formats.Asn1;
using System.Security.Cryptography;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>
/// One emulator per test class with a set of keys made once, concurrently, and reused by the class's tests (RSA-3072
/// and RSA-4096 generation takes seconds). Tests that change a key's state make their own key.
/// </summary>
public abstract class KeySetFixture : IAsyncLifetime
{
    private readonly Dictionary<(string Spec, string Usage), KeyMetadata> _keys = [];
    private readonly Dictionary<string, byte[]> _publicKeys = [];

    public EmulatorHost Host { get; private set; } = null!;

    public AmazonKeyManagementServiceClient Kms { get; private set; } = null!;

    /// <summary>The (KeySpec, KeyUsage) pairs the fixture creates.</summary>
    protected abstract IEnumerable<(string Spec, string Usage)> KeyTypes { get; }

    public async Task InitializeAsync()
    {
        Host = await EmulatorHost.StartNewAsync();
        Kms = Host.CreateClient();
        var created = await Task.WhenAll(KeyTypes.Select(async type => (type, await Kms.NewKeyAsync(type.Spec, type.Usage))));
        foreach (var (type, key) in created)
        {
            _keys[type] = key;
        }
    }

    public async Task DisposeAsync()
    {
        Kms.Dispose();
        await Host.DisposeAsync();
    }

    /// <summary>The fixture's key of this spec (and usage, when the fixture holds a spec with several usages).</summary>
    public KeyMetadata Key(string spec, string? usage = null) =>
        usage is null ? _keys.Single(k => k.Key.Spec == spec).Value : _keys[(spec, usage)];

    /// <summary>The key's public key from GetPublicKey, fetched once.</summary>
    public async Task<byte[]> PublicKeyAsync(KeyMetadata key)
    {
        lock (_publicKeys)
        {
            if (_publicKeys.TryGetValue(key.KeyId, out var cached))
            {
                return cached;
            }
        }

        var publicKey = (await Kms.GetPublicKeyAsync(new GetPublicKeyRequest { KeyId = key.KeyId })).PublicKey.ToArray();
        lock (_publicKeys)
        {
            _publicKeys[key.KeyId] = publicKey;
        }

        return publicKey;
    }
}

public static class AsymmetricKeys
{
    public static async Task<KeyMetadata> NewKeyAsync(this IAmazonKeyManagementService kms, string keySpec, string keyUsage) =>
        (await kms.CreateKeyAsync(new CreateKeyRequest { KeySpec = new KeySpec(keySpec), KeyUsage = new KeyUsageType(keyUsage) })).KeyMetadata;

    public static byte[] Random(int length) => RandomNumberGenerator.GetBytes(length);

    /// <summary>A copy with one bit flipped.</summary>
    public static byte[] Flipped(byte[] value, int index = 0)
    {
        var copy = (byte[])value.Clone();
        copy[index] ^= 0x01;
        return copy;
    }

    /// <summary>
    /// AWS sends KMSInvalidSignatureException, KMSInvalidMacException and InvalidCiphertextException without a message.
    /// The SDK then makes up a message that quotes the body, which must be the error type alone.
    /// </summary>
    public static void HasNoMessage(AmazonKeyManagementServiceException error)
    {
        if (!string.IsNullOrEmpty(error.Message))
        {
            Assert.EndsWith($"HTTP Body: {{\"__type\":\"{error.ErrorCode}\"}}", error.Message, StringComparison.Ordinal);
        }
    }
}

/// <summary>The signing algorithms as .NET names them, for checking KMS signatures locally.</summary>
public static class Signatures
{
    public static HashAlgorithmName HashOf(string algorithm) =>
        algorithm.EndsWith("256", StringComparison.Ordinal) ? HashAlgorithmName.SHA256
        : algorithm.EndsWith("384", StringComparison.Ordinal) ? HashAlgorithmName.SHA384
        : HashAlgorithmName.SHA512;

    public static byte[] Digest(string algorithm, byte[] message) => CryptographicOperations.HashData(HashOf(algorithm), message);

    /// <summary>Verifies an RSA or ECDSA signature with the DER SubjectPublicKeyInfo from GetPublicKey.</summary>
    public static bool VerifyLocally(byte[] spki, string algorithm, byte[] input, bool inputIsDigest, byte[] signature)
    {
        var hash = HashOf(algorithm);
        if (algorithm.StartsWith("RSASSA", StringComparison.Ordinal))
        {
            using var rsa = RSA.Create();
            rsa.ImportSubjectPublicKeyInfo(spki, out _);
            var padding = algorithm.StartsWith("RSASSA_PSS", StringComparison.Ordinal) ? RSASignaturePadding.Pss : RSASignaturePadding.Pkcs1;
            return inputIsDigest ? rsa.VerifyHash(input, signature, hash, padding) : rsa.VerifyData(input, signature, hash, padding);
        }

        using var ecdsa = ECDsa.Create();
        ecdsa.ImportSubjectPublicKeyInfo(spki, out _);
        return inputIsDigest
            ? ecdsa.VerifyHash(input, signature, DSASignatureFormat.Rfc3279DerSequence)
            : ecdsa.VerifyData(input, signature, hash, DSASignatureFormat.Rfc3279DerSequence);
    }

    /// <summary>Reads an ECDSA signature as DER SEQUENCE { INTEGER r, INTEGER s } and nothing else.</summary>
    public static void AssertDerEcdsa(byte[] signature)
    {
        var reader = new AsnReader(signature, AsnEncodingRules.DER);
        var sequence = reader.ReadSequence();
        reader.ThrowIfNotEmpty();
        Assert.True(sequence.ReadInteger() > 0);
        Assert.True(sequence.ReadInteger() > 0);
        sequence.ThrowIfNotEmpty();
    }

    /// <summary>The algorithm OID of a DER SubjectPublicKeyInfo.</summary>
    public static string AlgorithmOid(byte[] spki)
    {
        var reader = new AsnReader(spki, AsnEncodingRules.DER);
        var sequence = reader.ReadSequence();
        reader.ThrowIfNotEmpty();
        return sequence.ReadSequence().ReadObjectIdentifier();
    }
}
