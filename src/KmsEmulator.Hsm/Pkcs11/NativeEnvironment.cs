using System.Runtime.InteropServices;

namespace KmsEmulator.Hsm.Pkcs11;

/// <summary>
/// Sets environment variables that native code can see. On Unix, <see cref="Environment.SetEnvironmentVariable(string, string)"/>
/// changes only the runtime's managed copy, while a PKCS#11 module calls libc <c>getenv</c>.
/// </summary>
internal static class NativeEnvironment
{
    /// <summary>Sets <paramref name="name"/> for both managed readers and native <c>getenv</c>.</summary>
    public static void Set(string name, string value)
    {
        Environment.SetEnvironmentVariable(name, value);
        if (!OperatingSystem.IsWindows() && SetEnv(name, value, overwrite: 1) != 0)
        {
            throw new HsmException(HsmErrorKind.Unavailable,
                $"Could not set {name} for the PKCS#11 module (errno {Marshal.GetLastPInvokeError()}).");
        }
    }

    [DllImport("libc", EntryPoint = "setenv", SetLastError = true)]
    private static extern int SetEnv(
        [MarshalAs(UnmanagedType.LPUTF8Str)] string name, [MarshalAs(UnmanagedType.LPUTF8Str)] string value, int overwrite);
}
