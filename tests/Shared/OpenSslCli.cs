using System.Diagnostics;
using Xunit;

namespace KmsEmulator.Tests.Shared;

/// <summary>The OpenSSL command-line tool, for what .NET cannot check itself (Ed25519, HMAC-SHA-224). Shared by the test projects.</summary>
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

    /// <summary>Signs <paramref name="message"/> with an Ed25519 DER PKCS#8 private key.</summary>
    public static byte[] SignEd25519(byte[] pkcs8, byte[] message)
    {
        using var folder = new TempFolder();
        var signature = Path.Combine(folder.Path, "sig.bin");
        var (exitCode, output) = Run(["pkeyutl", "-sign", "-keyform", "DER", "-inkey", folder.Write("key.der", pkcs8),
            "-rawin", "-in", folder.Write("msg.bin", message), "-out", signature]);
        Assert.True(exitCode == 0, output);
        return File.ReadAllBytes(signature);
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
