namespace KmsEmulator.Hsm.Crypto;

/// <summary>Facts about each <see cref="HsmKeySpec"/>: family, sizes and curve identifiers.</summary>
internal static class KeySpecs
{
    public const string EcPublicKeyOid = "1.2.840.10045.2.1";
    public const string RsaEncryptionOid = "1.2.840.113549.1.1.1";
    public const string Ed25519Oid = "1.3.101.112";

    public static bool IsRsa(HsmKeySpec spec) => spec is HsmKeySpec.Rsa2048 or HsmKeySpec.Rsa3072 or HsmKeySpec.Rsa4096;

    /// <summary>Short-Weierstrass curves (ECDSA and ECDH).</summary>
    public static bool IsEc(HsmKeySpec spec) =>
        spec is HsmKeySpec.EcP256 or HsmKeySpec.EcP384 or HsmKeySpec.EcP521 or HsmKeySpec.EcSecp256k1;

    public static bool IsHmac(HsmKeySpec spec) =>
        spec is HsmKeySpec.Hmac224 or HsmKeySpec.Hmac256 or HsmKeySpec.Hmac384 or HsmKeySpec.Hmac512;

    public static bool IsKeyPair(HsmKeySpec spec) => IsRsa(spec) || IsEc(spec) || spec == HsmKeySpec.Ed25519;

    public static int RsaModulusBits(HsmKeySpec spec) => spec switch
    {
        HsmKeySpec.Rsa2048 => 2048,
        HsmKeySpec.Rsa3072 => 3072,
        HsmKeySpec.Rsa4096 => 4096,
        _ => throw new ArgumentOutOfRangeException(nameof(spec), spec, "Not an RSA key spec."),
    };

    public static HsmKeySpec? RsaSpecOfModulusBits(int bits) => bits switch
    {
        2048 => HsmKeySpec.Rsa2048,
        3072 => HsmKeySpec.Rsa3072,
        4096 => HsmKeySpec.Rsa4096,
        _ => null,
    };

    /// <summary>The named-curve OID of an EC spec.</summary>
    public static string CurveOid(HsmKeySpec spec) => spec switch
    {
        HsmKeySpec.EcP256 => "1.2.840.10045.3.1.7",
        HsmKeySpec.EcP384 => "1.3.132.0.34",
        HsmKeySpec.EcP521 => "1.3.132.0.35",
        HsmKeySpec.EcSecp256k1 => "1.3.132.0.10",
        HsmKeySpec.Ed25519 => Ed25519Oid,
        _ => throw new ArgumentOutOfRangeException(nameof(spec), spec, "Not an elliptic-curve key spec."),
    };

    public static HsmKeySpec? EcSpecOfCurveOid(string oid) => oid switch
    {
        "1.2.840.10045.3.1.7" => HsmKeySpec.EcP256,
        "1.3.132.0.34" => HsmKeySpec.EcP384,
        "1.3.132.0.35" => HsmKeySpec.EcP521,
        "1.3.132.0.10" => HsmKeySpec.EcSecp256k1,
        _ => null,
    };

    /// <summary>Bytes of one field element (coordinate, private scalar, ECDSA r or s, ECDH secret).</summary>
    public static int FieldBytes(HsmKeySpec spec) => spec switch
    {
        HsmKeySpec.EcP256 or HsmKeySpec.EcSecp256k1 or HsmKeySpec.Ed25519 => 32,
        HsmKeySpec.EcP384 => 48,
        HsmKeySpec.EcP521 => 66,
        _ => throw new ArgumentOutOfRangeException(nameof(spec), spec, "Not an elliptic-curve key spec."),
    };

    public static int HmacKeyBytes(HsmKeySpec spec) => spec switch
    {
        HsmKeySpec.Hmac224 => 28,
        HsmKeySpec.Hmac256 => 32,
        HsmKeySpec.Hmac384 => 48,
        HsmKeySpec.Hmac512 => 64,
        _ => throw new ArgumentOutOfRangeException(nameof(spec), spec, "Not an HMAC key spec."),
    };

    public static HsmKeySpec? HmacSpecOfKeyBytes(ulong bytes) => bytes switch
    {
        28 => HsmKeySpec.Hmac224,
        32 => HsmKeySpec.Hmac256,
        48 => HsmKeySpec.Hmac384,
        64 => HsmKeySpec.Hmac512,
        _ => null,
    };

    /// <summary>The HMAC key spec that goes with a MAC algorithm (KMS pairs them one to one).</summary>
    public static HsmKeySpec HmacSpecOf(MacAlgorithm algorithm) => algorithm switch
    {
        MacAlgorithm.HmacSha224 => HsmKeySpec.Hmac224,
        MacAlgorithm.HmacSha256 => HsmKeySpec.Hmac256,
        MacAlgorithm.HmacSha384 => HsmKeySpec.Hmac384,
        MacAlgorithm.HmacSha512 => HsmKeySpec.Hmac512,
        _ => throw new HsmException(HsmErrorKind.InvalidInput, $"Unknown MAC algorithm {algorithm}."),
    };

    /// <summary>Throws InvalidInput unless <paramref name="usage"/> is one a key pair of <paramref name="spec"/> can have.</summary>
    public static void RequireKeyPairUsage(HsmKeySpec spec, HsmKeyUsage usage)
    {
        var allowed = usage switch
        {
            HsmKeyUsage.SignVerify => IsKeyPair(spec),
            HsmKeyUsage.EncryptDecrypt or HsmKeyUsage.ImportWrapping => IsRsa(spec),
            HsmKeyUsage.KeyAgreement => IsEc(spec),
            _ => false,
        };
        if (!allowed)
        {
            throw new HsmException(HsmErrorKind.InvalidInput, $"A {spec} key pair cannot have the usage {usage}.");
        }
    }
}
