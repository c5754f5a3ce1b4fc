using System.Collections.Frozen;
using System.Collections.Immutable;
using KmsEmulator.Api.Generated;
using KmsEmulator.Hsm;

namespace KmsEmulator.Api.Keys;

/// <summary>
/// What a key spec can do, as data: the key usages it allows and the algorithms each usage offers.
/// Handlers ask this table; they never compare spec or algorithm strings themselves.
/// </summary>
public sealed record KeySpecCapability(
    KeySpec Spec,
    ImmutableArray<KeyUsageType> Usages,
    ImmutableArray<EncryptionAlgorithmSpec> EncryptionAlgorithms,
    ImmutableArray<SigningAlgorithmSpec> SigningAlgorithms,
    ImmutableArray<MacAlgorithmSpec> MacAlgorithms,
    ImmutableArray<KeyAgreementAlgorithmSpec> KeyAgreementAlgorithms,
    bool SupportedByEmulator)
{
    /// <summary>The HSM key type that holds this spec's material; null for specs the emulator cannot create.</summary>
    public HsmKeySpec? Material { get; init; }

    /// <summary>Why the emulator cannot create keys of this spec (null when it can).</summary>
    public string? UnsupportedReason { get; init; }

    /// <summary>RSA modulus length in bytes (0 for other specs): bounds the plaintext of RSAES-OAEP.</summary>
    public int RsaModulusBytes { get; init; }

    /// <summary>A key pair: it has a public key (GetPublicKey) and no symmetric material.</summary>
    public bool IsAsymmetric { get; init; }

    /// <summary>
    /// Ciphertexts of this spec are the raw output of the public-key algorithm: they carry no key id, so Decrypt needs
    /// the KeyId and never parses them as the emulator's symmetric format.
    /// </summary>
    public bool HasRawCiphertexts => EncryptionAlgorithms.Any(a => a != EncryptionAlgorithmSpec.SYMMETRIC_DEFAULT);

    /// <summary>AWS reports key material ids (CurrentKeyMaterialId, KeyMaterialId) only for symmetric encryption keys.</summary>
    public bool HasKeyMaterialIds => Spec == KeySpec.SYMMETRIC_DEFAULT;

    public bool Allows(KeyUsageType usage) => Usages.Contains(usage);

    /// <summary>The algorithms DescribeKey lists for a key of this spec with the given usage.</summary>
    public ImmutableArray<EncryptionAlgorithmSpec> EncryptionAlgorithmsFor(KeyUsageType usage) =>
        usage == KeyUsageType.ENCRYPT_DECRYPT ? EncryptionAlgorithms : [];

    public ImmutableArray<SigningAlgorithmSpec> SigningAlgorithmsFor(KeyUsageType usage) =>
        usage == KeyUsageType.SIGN_VERIFY ? SigningAlgorithms : [];

    public ImmutableArray<MacAlgorithmSpec> MacAlgorithmsFor(KeyUsageType usage) =>
        usage == KeyUsageType.GENERATE_VERIFY_MAC ? MacAlgorithms : [];

    public ImmutableArray<KeyAgreementAlgorithmSpec> KeyAgreementAlgorithmsFor(KeyUsageType usage) =>
        usage == KeyUsageType.KEY_AGREEMENT ? KeyAgreementAlgorithms : [];
}

/// <summary>The capability table for every key spec of the service model.</summary>
public static class KeySpecCapabilities
{
    private const string NoMlDsa =
        "the HSM behind it (SoftHSM2, PKCS#11 2.40) has no ML-DSA mechanisms. See docs/differences-from-aws.md.";

    private const string NoSm2 =
        "SM2 (China Regions only) needs SM2/SM3 mechanisms that the HSM behind it (SoftHSM2) does not have. See docs/differences-from-aws.md.";

    private static readonly ImmutableArray<EncryptionAlgorithmSpec> RsaEncryption =
        [EncryptionAlgorithmSpec.RSAES_OAEP_SHA_1, EncryptionAlgorithmSpec.RSAES_OAEP_SHA_256];

    private static readonly ImmutableArray<SigningAlgorithmSpec> RsaSigning =
    [
        SigningAlgorithmSpec.RSASSA_PSS_SHA_256, SigningAlgorithmSpec.RSASSA_PSS_SHA_384, SigningAlgorithmSpec.RSASSA_PSS_SHA_512,
        SigningAlgorithmSpec.RSASSA_PKCS1_V1_5_SHA_256, SigningAlgorithmSpec.RSASSA_PKCS1_V1_5_SHA_384, SigningAlgorithmSpec.RSASSA_PKCS1_V1_5_SHA_512,
    ];

    private static readonly FrozenDictionary<KeySpec, KeySpecCapability> Table = new[]
    {
        Symmetric(),
        Rsa(KeySpec.RSA_2048, HsmKeySpec.Rsa2048, 256),
        Rsa(KeySpec.RSA_3072, HsmKeySpec.Rsa3072, 384),
        Rsa(KeySpec.RSA_4096, HsmKeySpec.Rsa4096, 512),
        NistCurve(KeySpec.ECC_NIST_P256, HsmKeySpec.EcP256, SigningAlgorithmSpec.ECDSA_SHA_256),
        NistCurve(KeySpec.ECC_NIST_P384, HsmKeySpec.EcP384, SigningAlgorithmSpec.ECDSA_SHA_384),
        NistCurve(KeySpec.ECC_NIST_P521, HsmKeySpec.EcP521, SigningAlgorithmSpec.ECDSA_SHA_512),
        Signing(KeySpec.ECC_SECG_P256K1, HsmKeySpec.EcSecp256k1, [SigningAlgorithmSpec.ECDSA_SHA_256]),
        Signing(KeySpec.ECC_NIST_EDWARDS25519, HsmKeySpec.Ed25519, [SigningAlgorithmSpec.ED25519_SHA_512, SigningAlgorithmSpec.ED25519_PH_SHA_512]),
        Signing(KeySpec.ML_DSA_44, null, [SigningAlgorithmSpec.ML_DSA_SHAKE_256]) with { UnsupportedReason = NoMlDsa },
        Signing(KeySpec.ML_DSA_65, null, [SigningAlgorithmSpec.ML_DSA_SHAKE_256]) with { UnsupportedReason = NoMlDsa },
        Signing(KeySpec.ML_DSA_87, null, [SigningAlgorithmSpec.ML_DSA_SHAKE_256]) with { UnsupportedReason = NoMlDsa },
        Hmac(KeySpec.HMAC_224, HsmKeySpec.Hmac224, MacAlgorithmSpec.HMAC_SHA_224),
        Hmac(KeySpec.HMAC_256, HsmKeySpec.Hmac256, MacAlgorithmSpec.HMAC_SHA_256),
        Hmac(KeySpec.HMAC_384, HsmKeySpec.Hmac384, MacAlgorithmSpec.HMAC_SHA_384),
        Hmac(KeySpec.HMAC_512, HsmKeySpec.Hmac512, MacAlgorithmSpec.HMAC_SHA_512),
        new KeySpecCapability(
            KeySpec.SM2,
            [KeyUsageType.ENCRYPT_DECRYPT, KeyUsageType.SIGN_VERIFY, KeyUsageType.KEY_AGREEMENT],
            [EncryptionAlgorithmSpec.SM2PKE],
            [SigningAlgorithmSpec.SM2DSA],
            [],
            [KeyAgreementAlgorithmSpec.ECDH],
            SupportedByEmulator: false) { IsAsymmetric = true, UnsupportedReason = NoSm2 },
    }.ToFrozenDictionary(c => c.Spec);

    public static KeySpecCapability For(KeySpec spec) => Table[spec];

    private static KeySpecCapability Symmetric() =>
        new(KeySpec.SYMMETRIC_DEFAULT, [KeyUsageType.ENCRYPT_DECRYPT], [EncryptionAlgorithmSpec.SYMMETRIC_DEFAULT], [], [], [], SupportedByEmulator: true)
        {
            Material = HsmKeySpec.Aes256,
        };

    private static KeySpecCapability Rsa(KeySpec spec, HsmKeySpec material, int modulusBytes) =>
        new(spec, [KeyUsageType.ENCRYPT_DECRYPT, KeyUsageType.SIGN_VERIFY], RsaEncryption, RsaSigning, [], [], SupportedByEmulator: true)
        {
            Material = material,
            RsaModulusBytes = modulusBytes,
            IsAsymmetric = true,
        };

    private static KeySpecCapability NistCurve(KeySpec spec, HsmKeySpec material, SigningAlgorithmSpec signing) =>
        new(spec, [KeyUsageType.SIGN_VERIFY, KeyUsageType.KEY_AGREEMENT], [], [signing], [], [KeyAgreementAlgorithmSpec.ECDH], SupportedByEmulator: true)
        {
            Material = material,
            IsAsymmetric = true,
        };

    private static KeySpecCapability Signing(KeySpec spec, HsmKeySpec? material, ImmutableArray<SigningAlgorithmSpec> algorithms) =>
        new(spec, [KeyUsageType.SIGN_VERIFY], [], algorithms, [], [], SupportedByEmulator: material is not null)
        {
            Material = material,
            IsAsymmetric = true,
        };

    private static KeySpecCapability Hmac(KeySpec spec, HsmKeySpec material, MacAlgorithmSpec algorithm) =>
        new(spec, [KeyUsageType.GENERATE_VERIFY_MAC], [], [], [algorithm], [], SupportedByEmulator: true) { Material = material };
}
