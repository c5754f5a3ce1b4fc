using System.Security.Cryptography;

namespace KmsEmulator.Hsm.Tests;

internal static class TestData
{
    public static byte[] Iv() => RandomNumberGenerator.GetBytes(12);

    public static byte[] Bytes(int count) => RandomNumberGenerator.GetBytes(count);

    public static string KeyLabel(string purpose = "key") => $"{purpose}-{Guid.NewGuid():N}";

    public static async Task<HsmException> ThrowsHsm(HsmErrorKind kind, Func<Task> action)
    {
        var exception = await Assert.ThrowsAsync<HsmException>(action);
        Assert.Equal(kind, exception.Kind);
        return exception;
    }
}
