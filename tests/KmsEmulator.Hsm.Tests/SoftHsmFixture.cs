using KmsEmulator.Hsm.Pkcs11;

namespace KmsEmulator.Hsm.Tests;

/// <summary>
/// One SoftHSM2 token directory for the whole test run. PKCS#11 state is per process and a process can use one
/// token directory, so every test that touches SoftHSM2 shares it, each test class with its own token label.
/// </summary>
public sealed class SoftHsmFixture : IDisposable
{
    public SoftHsmFixture()
    {
        if (SoftHsmConfigFile.IsInherited)
        {
            throw new InvalidOperationException(
                "SOFTHSM2_CONF is set; unset it so that the HSM tests use their own temporary token directory.");
        }
    }

    public string Root { get; } = Directory.CreateTempSubdirectory("kms-hsm-tests-").FullName;

    public string TokenDirectory => Path.Combine(Root, "tokens");

    /// <summary>A token label unique to this run (SoftHSM2 labels hold at most 32 bytes).</summary>
    public static string NewTokenLabel(string purpose) => $"{purpose}-{Guid.NewGuid():N}"[..32];

    public HsmOptions Options(string tokenLabel) => new() { TokenDirectory = TokenDirectory, TokenLabel = tokenLabel };

    public Pkcs11Backend Open(string tokenLabel, Action<string>? log = null) => Pkcs11Backend.Open(Options(tokenLabel), log);

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

[CollectionDefinition(Name)]
public sealed class SoftHsmCollection : ICollectionFixture<SoftHsmFixture>
{
    public const string Name = "SoftHSM2";
}
