using System.Diagnostics;
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

/// <summary>The OpenSSL command-line tool, for what .NET cannot check (Ed25519, HMAC-SHA-224).</summary>
public static class OpenSsl
{
    private static readonly Lazy<bool> Present = new(() =>
    {
        try
        {
            return Run(["version"]).ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    });

    public static bool IsAvailable => Present.Value;

    public static (int ExitCode, string Output) Run(IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo("openssl") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("openssl did not start.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(30_000))
        {
            process.Kill();
            throw new TimeoutException("openssl did not finish in 30 s.");
        }

        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>Verifies an Ed25519 signature over <paramref name="message"/> with a DER SubjectPublicKeyInfo.</summary>
    public static bool VerifyEd25519(byte[] spki, byte[] message, byte[] signature)
    {
        using var folder = new TempFolder();
        var (exitCode, output) = Run(["pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", folder.Write("pub.der", spki),
            "-rawin", "-in", folder.Write("msg.bin", message), "-sigfile", folder.Write("sig.bin", signature)]);
        return exitCode == 0 && output.Contains("Signature Verified Successfully", StringComparison.Ordinal);
    }

    /// <summary>The DER SubjectPublicKeyInfo that OpenSSL computes from a DER PKCS#8 private key.</summary>
    public static byte[] PublicKeyOf(byte[] pkcs8)
    {
        using var folder = new TempFolder();
        var publicKey = Path.Combine(folder.Path, "pub.der");
        var (exitCode, output) = Run(["pkey", "-inform", "DER", "-in", folder.Write("key.der", pkcs8), "-pubout", "-outform", "DER", "-out", publicKey]);
        Assert.True(exitCode == 0, output);
        return File.ReadAllBytes(publicKey);
    }

    /// <summary>HMAC-SHA-224 (which .NET does not have) of <paramref name="message"/> under <paramref name="key"/>.</summary>
    public static byte[] HmacSha224(byte[] key, byte[] message)
    {
        using var folder = new TempFolder();
        var (exitCode, output) = Run(["mac", "-digest", "SHA224", "-macopt", "hexkey:" + Convert.ToHexString(key), "-in", folder.Write("msg.bin", message), "HMAC"]);
        Assert.True(exitCode == 0, output);
        return Convert.FromHexString(output.Trim());
    }

    private sealed class TempFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("kmsemu-openssl-").FullName;

        public string Write(string name, byte[] content)
        {
            var file = System.IO.Path.Combine(Path, name);
            File.WriteAllBytes(file, content);
            return file;
        }

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
