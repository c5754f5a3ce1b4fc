namespace KmsEmulator.Policy.Tests;

/// <summary>
/// The KMS actions whose API reference says "Cross-account use: Yes", for the decision fixtures. The emulator keeps
/// this fact in each operation's row (and a test there checks the rows against this list).
/// </summary>
public static class AwsCrossAccountActions
{
    public static IReadOnlySet<string> All { get; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "kms:CreateGrant", "kms:Decrypt", "kms:DeriveSharedSecret", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey",
        "kms:GenerateDataKeyPair", "kms:GenerateDataKeyPairWithoutPlaintext", "kms:GenerateDataKeyWithoutPlaintext",
        "kms:GenerateMac", "kms:GetKeyRotationStatus", "kms:GetPublicKey", "kms:ListGrants", "kms:ReEncryptFrom",
        "kms:ReEncryptTo", "kms:RetireGrant", "kms:RevokeGrant", "kms:Sign", "kms:Verify", "kms:VerifyMac",
    };
}
