using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using KmsEmulator.Hsm.Pkcs11;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace KmsEmulator.Hsm.Tests;

/// <summary>
/// Key pairs and HMAC keys made once per test class and reused by its tests (RSA generation takes a while). Keys stay on
/// the class's token, so later tests may use them through their own backend instance.
/// </summary>
internal sealed class SharedKeys
{
    private readonly ConcurrentDictionary<(HsmKeySpec, HsmKeyUsage), Lazy<Task<(string Label, byte[] Spki)>>> _keys = new();

    public Task<(string Label, byte[] Spki)> GetAsync(Pkcs11Backend backend, HsmKeySpec spec, HsmKeyUsage usage) =>
        _keys.GetOrAdd((spec, usage), _ => new Lazy<Task<(string, byte[])>>(async () =>
        {
            var label = TestData.KeyLabel($"{spec}-{usage}");
            if (usage == HsmKeyUsage.GenerateVerifyMac)
            {
                await backend.CreateHmacKeyAsync(label, spec);
                return (label, Array.Empty<byte>());
            }

            return (label, await backend.CreateKeyPairAsync(label, spec, usage));
        })).Value;
}

internal static class HsmObjects
{
    /// <summary>Reads attributes of the token object with this label and class.</summary>
    public static Task<List<IObjectAttribute>> ReadAsync(Pkcs11Backend backend, string label, CKO objectClass, params CKA[] types) =>
        backend.RunAsync("read attributes", session =>
        {
            var handle = session.FindAllObjects(
                AttributeTemplates.TokenObjectLabelled(session.Factories.ObjectAttributeFactory, objectClass, label)).Single();
            return session.GetAttributeValue(handle, [.. types]);
        }, default).AsTask();

    public static async Task<Dictionary<CKA, bool>> ReadFlagsAsync(Pkcs11Backend backend, string label, CKO objectClass, params CKA[] types) =>
        (await ReadAsync(backend, label, objectClass, types)).ToDictionary(a => (CKA)a.Type, a => a.GetValueAsBool());

    /// <summary>Number of objects with this label on the token, whatever their class.</summary>
    public static Task<int> CountLabelledAsync(Pkcs11Backend backend, string label) =>
        backend.RunAsync("count objects", session => session.FindAllObjects(
            AttributeTemplates.TokenObjectsLabelled(session.Factories.ObjectAttributeFactory, label)).Count, default).AsTask();

    /// <summary>Number of session (non-token) objects visible to the process.</summary>
    public static Task<int> CountSessionObjectsAsync(Pkcs11Backend backend) =>
        backend.RunAsync("count session objects", session => session.FindAllObjects(
            [session.Factories.ObjectAttributeFactory.Create(CKA.CKA_TOKEN, false)]).Count, default).AsTask();
}

internal static class Hashes
{
    public static HashAlgorithmName Of(SignatureScheme scheme) => scheme switch
    {
        SignatureScheme.RsaPssSha256 or SignatureScheme.RsaPkcs1Sha256 or SignatureScheme.EcdsaSha256 => HashAlgorithmName.SHA256,
        SignatureScheme.RsaPssSha384 or SignatureScheme.RsaPkcs1Sha384 or SignatureScheme.EcdsaSha384 => HashAlgorithmName.SHA384,
        _ => HashAlgorithmName.SHA512,
    };

    public static ECCurve CurveOf(HsmKeySpec spec) => spec switch
    {
        HsmKeySpec.EcP256 => ECCurve.NamedCurves.nistP256,
        HsmKeySpec.EcP384 => ECCurve.NamedCurves.nistP384,
        HsmKeySpec.EcP521 => ECCurve.NamedCurves.nistP521,
        HsmKeySpec.EcSecp256k1 => ECCurve.CreateFromValue("1.3.132.0.10"),
        _ => throw new ArgumentOutOfRangeException(nameof(spec)),
    };
}

/// <summary>The OpenSSL command-line tool, for what .NET cannot check itself (Ed25519).</summary>
internal static class OpenSslCli
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

    /// <summary>Signs with an Ed25519 PKCS#8 private key.</summary>
    public static byte[] SignEd25519(byte[] pkcs8, byte[] message)
    {
        using var folder = new TempFolder();
        var signature = Path.Combine(folder.Path, "sig.bin");
        var (exitCode, output) = Run(["pkeyutl", "-sign", "-keyform", "DER", "-inkey", folder.Write("key.der", pkcs8),
            "-rawin", "-in", folder.Write("msg.bin", message), "-out", signature]);
        Assert.True(exitCode == 0, output);
        return File.ReadAllBytes(signature);
    }

    /// <summary>The DER SubjectPublicKeyInfo that OpenSSL computes from a PKCS#8 private key.</summary>
    public static byte[] PublicKeyOf(byte[] pkcs8)
    {
        using var folder = new TempFolder();
        var publicKey = Path.Combine(folder.Path, "pub.der");
        var (exitCode, output) = Run(["pkey", "-inform", "DER", "-in", folder.Write("key.der", pkcs8), "-pubout", "-outform", "DER",
            "-out", publicKey]);
        Assert.True(exitCode == 0, output);
        return File.ReadAllBytes(publicKey);
    }

    private sealed class TempFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("kms-openssl-").FullName;

        public string Write(string name, byte[] content)
        {
            var file = System.IO.Path.Combine(Path, name);
            File.WriteAllBytes(file, content);
            return file;
        }

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
