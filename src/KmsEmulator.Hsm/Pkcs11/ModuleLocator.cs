namespace KmsEmulator.Hsm.Pkcs11;

/// <summary>Finds the PKCS#11 module file: the configured one, or SoftHSM2 where distributions install it.</summary>
internal static class ModuleLocator
{
    /// <summary>Where Debian, Ubuntu, Fedora and Homebrew put libsofthsm2.</summary>
    public static readonly IReadOnlyList<string> SoftHsmLocations =
    [
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/local/lib/softhsm/libsofthsm2.so",
        "/usr/lib64/pkcs11/libsofthsm2.so",
        "/opt/homebrew/lib/softhsm/libsofthsm2.so",
    ];

    private const string Advice = "Install softhsm2 (apt-get install softhsm2) or set Kms:Hsm:ModulePath.";

    /// <summary>Returns the module path to load, or throws <see cref="HsmErrorKind.Unavailable"/> saying what was tried.</summary>
    public static string Resolve(string? configuredPath) => Resolve(configuredPath, SoftHsmLocations);

    /// <summary>As <see cref="Resolve(string?)"/>, searching <paramref name="candidates"/> when nothing is configured.</summary>
    public static string Resolve(string? configuredPath, IReadOnlyList<string> candidates)
    {
        if (!string.IsNullOrWhiteSpace(configuredPath))
        {
            return File.Exists(configuredPath)
                ? configuredPath
                : throw new HsmException(HsmErrorKind.Unavailable,
                    $"The PKCS#11 module '{configuredPath}' (Kms:Hsm:ModulePath) does not exist. {Advice}");
        }

        return candidates.FirstOrDefault(File.Exists)
            ?? throw new HsmException(HsmErrorKind.Unavailable,
                $"No SoftHSM2 PKCS#11 module found; tried {string.Join(", ", candidates)}. {Advice}");
    }
}
