using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;

namespace KmsEmulator.Api.Tests;

/// <summary>Key records for unit tests: an enabled symmetric key of the default account unless told otherwise.</summary>
internal static class TestKeys
{
    public const string KeyId = "1234abcd-12ab-34cd-56ef-1234567890ab";

    public static readonly KeyScope Scope = new("111122223333", "us-east-1");

    public static KeyRecord Create(
        string keyId = KeyId,
        KeySpec spec = KeySpec.SYMMETRIC_DEFAULT,
        KeyUsageType usage = KeyUsageType.ENCRYPT_DECRYPT,
        KeyState state = KeyState.Enabled) => new()
    {
        Scope = Scope,
        KeyId = keyId,
        Description = string.Empty,
        KeySpec = spec,
        KeyUsage = usage,
        Origin = OriginType.AWS_KMS,
        KeyState = state,
        CreationDate = DateTimeOffset.UnixEpoch,
        Policy = "{}",
    };
}
