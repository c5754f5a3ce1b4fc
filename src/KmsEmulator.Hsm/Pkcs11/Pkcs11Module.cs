using Net.Pkcs11Interop.HighLevelAPI;

namespace KmsEmulator.Hsm.Pkcs11;

/// <summary>A PKCS#11 module loaded and initialised once for the whole process, shared by every backend.</summary>
internal sealed class Pkcs11Module(string path, IPkcs11Library library, string? softHsmConfigFile, BulkAttributeReader? bulkReader)
{
    /// <summary>Reads many attributes in one call (start-up index), where the platform allows it; else null.</summary>
    public BulkAttributeReader? BulkReader { get; } = bulkReader;

    /// <summary>Path the module was loaded from.</summary>
    public string Path { get; } = path;

    /// <summary>The initialised library (<c>C_Initialize</c> has run).</summary>
    public IPkcs11Library Library { get; } = library;

    /// <summary>The softhsm2.conf the emulator pointed the module at, or null for the environment's or the default one.</summary>
    public string? SoftHsmConfigFile { get; } = softHsmConfigFile;

    /// <summary>Serialises token look-up and initialisation, which change the slot list.</summary>
    public Lock TokenLock { get; } = new();
}
