using System.Collections.Frozen;
using System.Collections.Immutable;
using KmsEmulator.Api.Generated;

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
        Rsa(KeySpec.RSA_2048),
        Rsa(KeySpec.RSA_3072),
        Rsa(KeySpec.RSA_4096),
        NistCurve(KeySpec.ECC_NIST_P256, SigningAlgorithmSpec.ECDSA_SHA_256),
        NistCurve(KeySpec.ECC_NIST_P384, SigningAlgorithmSpec.ECDSA_SHA_384),
        NistCurve(KeySpec.ECC_NIST_P521, SigningAlgorithmSpec.ECDSA_SHA_512),
        Signing(KeySpec.ECC_SECG_P256K1, [SigningAlgorithmSpec.ECDSA_SHA_256]),
        Signing(KeySpec.ECC_NIST_EDWARDS25519, [SigningAlgorithmSpec.ED25519_SHA_512, SigningAlgorithmSpec.ED25519_PH_SHA_512]),
        Signing(KeySpec.ML_DSA_44, [SigningAlgorithmSpec.ML_DSA_SHAKE_256]),
        Signing(KeySpec.ML_DSA_65, [SigningAlgorithmSpec.ML_DSA_SHAKE_256]),
        Signing(KeySpec.ML_DSA_87, [SigningAlgorithmSpec.ML_DSA_SHAKE_256]),
        Hmac(KeySpec.HMAC_224, MacAlgorithmSpec.HMAC_SHA_224),
        Hmac(KeySpec.HMAC_256, MacAlgorithmSpec.HMAC_SHA_256),
        Hmac(KeySpec.HMAC_384, MacAlgorithmSpec.HMAC_SHA_384),
        Hmac(KeySpec.HMAC_512, MacAlgorithmSpec.HMAC_SHA_512),
        new KeySpecCapability(
            KeySpec.SM2,
            [KeyUsageType.ENCRYPT_DECRYPT, KeyUsageType.SIGN_VERIFY, KeyUsageType.KEY_AGREEMENT],
            [EncryptionAlgorithmSpec.SM2PKE],
            [SigningAlgorithmSpec.SM2DSA],
            [],
            [KeyAgreementAlgorithmSpec.ECDH],
            SupportedByEmulator: false),
    }.ToFrozenDictionary(c => c.Spec);

    public static KeySpecCapability For(KeySpec spec) => Table[spec];

    private static KeySpecCapability Symmetric() =>
        new(KeySpec.SYMMETRIC_DEFAULT, [KeyUsageType.ENCRYPT_DECRYPT], [EncryptionAlgorithmSpec.SYMMETRIC_DEFAULT], [], [], [], SupportedByEmulator: true);

    private static KeySpecCapability Rsa(KeySpec spec) =>
        new(spec, [KeyUsageType.ENCRYPT_DECRYPT, KeyUsageType.SIGN_VERIFY], RsaEncryption, RsaSigning, [], [], SupportedByEmulator: false);

    private static KeySpecCapability NistCurve(KeySpec spec, SigningAlgorithmSpec signing) =>
        new(spec, [KeyUsageType.SIGN_VERIFY, KeyUsageType.KEY_AGREEMENT], [], [signing], [], [KeyAgreementAlgorithmSpec.ECDH], SupportedByEmulator: false);

    private static KeySpecCapability Signing(KeySpec spec, ImmutableArray<SigningAlgorithmSpec> algorithms) =>
        new(spec, [KeyUsageType.SIGN_VERIFY], [], algorithms, [], [], SupportedByEmulator: false);

    private static KeySpecCapability Hmac(KeySpec spec, MacAlgorithmSpec algorithm) =>
        new(spec, [KeyUsageType.GENERATE_VERIFY_MAC], [], [], [algorithm], [], SupportedByEmulator: false);
}
