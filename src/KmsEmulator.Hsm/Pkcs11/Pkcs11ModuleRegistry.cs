using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace KmsEmulator.Hsm.Pkcs11;

/// <summary>
/// PKCS#11 state is per process: a module is initialised once, and finalising it would pull the rug from under
/// every other user. The registry loads each module once and keeps it loaded for the life of the process.
/// </summary>
internal static class Pkcs11ModuleRegistry
{
    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, Pkcs11Module> Modules = new(StringComparer.Ordinal);

    /// <summary>
    /// Returns the process-wide instance of the module at <paramref name="modulePath"/>, loading it on first use with
    /// <paramref name="config"/> (written and exported as SOFTHSM2_CONF first). A later request with a different
    /// configuration is refused, because the module has already read its configuration.
    /// </summary>
    public static Pkcs11Module Acquire(string modulePath, SoftHsmConfigFile? config, Action<string> log)
    {
        var key = CanonicalPath(modulePath);
        lock (Gate)
        {
            if (Modules.TryGetValue(key, out var loaded))
            {
                return loaded.SoftHsmConfigFile == config?.FilePath
                    ? loaded
                    : throw new HsmException(HsmErrorKind.Unavailable,
                        $"This process already uses the PKCS#11 module '{modulePath}' with {Describe(loaded.SoftHsmConfigFile)} " +
                        $"and cannot switch to {Describe(config?.FilePath)}: a module is initialised once per process, so one " +
                        "process can use only one SoftHSM2 token directory. Give every backend in the process the same " +
                        "Kms:Hsm:TokenDirectory and tell them apart by Kms:Hsm:TokenLabel.");
            }

            var module = Load(modulePath, config, log);
            Modules.Add(key, module);
            return module;
        }
    }

    private static Pkcs11Module Load(string modulePath, SoftHsmConfigFile? config, Action<string> log)
    {
        LibdlResolver.Install();
        if (config is not null)
        {
            config.Write();
            NativeEnvironment.Set(SoftHsmConfigFile.EnvironmentVariable, config.FilePath);
        }

        try
        {
            var factories = new Pkcs11InteropFactories();
            var library = factories.Pkcs11LibraryFactory.LoadPkcs11Library(factories, modulePath, AppType.MultiThreaded);
            log($"Loaded PKCS#11 module {modulePath} with {Describe(config?.FilePath)}.");
            return new Pkcs11Module(modulePath, library, config?.FilePath, BulkAttributeReader.TryCreate(modulePath, log));
        }
        catch (Exception e) when (e is Pkcs11Exception or UnmanagedException or DllNotFoundException)
        {
            throw new HsmException(HsmErrorKind.Unavailable,
                $"Could not load and initialise the PKCS#11 module '{modulePath}' with {Describe(config?.FilePath)}: {e.Message} " +
                "For SoftHSM2, check that the configuration names an existing, writable token directory.",
                (e as Pkcs11Exception)?.RV.ToString(), e);
        }
    }

    private static string Describe(string? configFile) =>
        configFile is null ? "the SoftHSM2 configuration from the environment or its default" : $"SoftHSM2 configuration '{configFile}'";

    private static string CanonicalPath(string path)
    {
        var fullPath = Path.GetFullPath(path);
        return File.ResolveLinkTarget(fullPath, returnFinalTarget: true)?.FullName ?? fullPath;
    }
}
