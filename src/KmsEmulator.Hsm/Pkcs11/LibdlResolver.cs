using System.Reflection;
using System.Runtime.InteropServices;
using Net.Pkcs11Interop.HighLevelAPI;

namespace KmsEmulator.Hsm.Pkcs11;

/// <summary>
/// Pkcs11Interop calls <c>dlopen</c> from a library it names "libdl". Without libc6-dev, glibc systems
/// (Debian 12 and later) have only <c>libdl.so.2</c>, so the name is redirected there.
/// </summary>
internal static class LibdlResolver
{
    private static readonly Lock Gate = new();
    private static bool _installed;

    /// <summary>Installs the resolver for the Pkcs11Interop assembly; later calls do nothing.</summary>
    public static void Install()
    {
        lock (Gate)
        {
            if (_installed)
            {
                return;
            }

            NativeLibrary.SetDllImportResolver(typeof(Pkcs11InteropFactories).Assembly, Resolve);
            _installed = true;
        }
    }

    private static IntPtr Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath) =>
        libraryName == "libdl" && OperatingSystem.IsLinux() && NativeLibrary.TryLoad("libdl.so.2", out var handle)
            ? handle
            : IntPtr.Zero;
}
