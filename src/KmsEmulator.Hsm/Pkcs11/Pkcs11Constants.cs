using Net.Pkcs11Interop.Common;

namespace KmsEmulator.Hsm.Pkcs11;

/// <summary>PKCS#11 3.0 values that Pkcs11Interop 5.3 (a PKCS#11 2.40 binding) has no names for, and fixed parameters.</summary>
internal static class Pkcs11Constants
{
    /// <summary>CKK_EC_EDWARDS: Ed25519/Ed448 keys.</summary>
    public const CKK CkkEcEdwards = (CKK)0x40;

    /// <summary>CKM_EC_EDWARDS_KEY_PAIR_GEN.</summary>
    public const CKM CkmEcEdwardsKeyPairGen = (CKM)0x1055;

    /// <summary>
    /// CKM_EDDSA. SoftHSM2 2.6.1 ignores its optional CK_EDDSA_PARAMS (phFlag, context) and always signs pure Ed25519.
    /// </summary>
    public const CKM CkmEddsa = (CKM)0x1057;

    /// <summary>65537, the public exponent of every RSA key (as KMS uses).</summary>
    public static byte[] RsaPublicExponent => [0x01, 0x00, 0x01];
}
