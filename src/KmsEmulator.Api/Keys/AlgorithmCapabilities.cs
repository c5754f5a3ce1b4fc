using System.Collections.Frozen;
using System.Collections.Immutable;
using KmsEmulator.Api.Generated;
using KmsEmulator.Hsm;

namespace KmsEmulator.Api.Keys;

/// <summary>
/// What a signing algorithm takes, as data: the message types it accepts, the digest length of DIGEST messages and
/// the HSM scheme that computes it (null, with a reason, where the HSM has none).
/// </summary>
public sealed record SigningAlgorithmCapability(
    SigningAlgorithmSpec Algorithm,
    ImmutableArray<MessageType> MessageTypes,
    int DigestBytes,
    SignatureScheme? Scheme,
    string? UnsupportedReason = null);

/// <summary>What an encryption algorithm is in the HSM, and the hash length that bounds its plaintext (RSAES-OAEP).</summary>
public sealed record EncryptionAlgorithmCapability(EncryptionAlgorithmSpec Algorithm, RsaEncryptionScheme? Scheme, int OaepHashBytes);

/// <summary>The per-algorithm tables (signing, encryption, MAC); <see cref="KeySpecCapabilities"/> says which spec offers which.</summary>
public static class AlgorithmCapabilities
{
    private static readonly ImmutableArray<MessageType> RawOrDigest = [MessageType.RAW, MessageType.DIGEST];

    private static readonly FrozenDictionary<SigningAlgorithmSpec, SigningAlgorithmCapability> Signing = new SigningAlgorithmCapability[]
    {
        new(SigningAlgorithmSpec.RSASSA_PSS_SHA_256, RawOrDigest, 32, SignatureScheme.RsaPssSha256),
        new(SigningAlgorithmSpec.RSASSA_PSS_SHA_384, RawOrDigest, 48, SignatureScheme.RsaPssSha384),
        new(SigningAlgorithmSpec.RSASSA_PSS_SHA_512, RawOrDigest, 64, SignatureScheme.RsaPssSha512),
        new(SigningAlgorithmSpec.RSASSA_PKCS1_V1_5_SHA_256, RawOrDigest, 32, SignatureScheme.RsaPkcs1Sha256),
        new(SigningAlgorithmSpec.RSASSA_PKCS1_V1_5_SHA_384, RawOrDigest, 48, SignatureScheme.RsaPkcs1Sha384),
        new(SigningAlgorithmSpec.RSASSA_PKCS1_V1_5_SHA_512, RawOrDigest, 64, SignatureScheme.RsaPkcs1Sha512),
        new(SigningAlgorithmSpec.ECDSA_SHA_256, RawOrDigest, 32, SignatureScheme.EcdsaSha256),
        new(SigningAlgorithmSpec.ECDSA_SHA_384, RawOrDigest, 48, SignatureScheme.EcdsaSha384),
        new(SigningAlgorithmSpec.ECDSA_SHA_512, RawOrDigest, 64, SignatureScheme.EcdsaSha512),
        new(SigningAlgorithmSpec.ED25519_SHA_512, [MessageType.RAW], 64, SignatureScheme.Ed25519),
        new(SigningAlgorithmSpec.ED25519_PH_SHA_512, [MessageType.DIGEST], 64, null,
            "KmsEmulator cannot sign or verify with ED25519_PH_SHA_512: its HSM (SoftHSM2 2.6.1) implements pure Ed25519 only. " +
            "Use ED25519_SHA_512 with MessageType RAW. See docs/differences-from-aws.md."),
        new(SigningAlgorithmSpec.ML_DSA_SHAKE_256, [MessageType.RAW, MessageType.EXTERNAL_MU], 64, null,
            "KmsEmulator does not support ML_DSA_SHAKE_256: its HSM has no ML-DSA."),
        new(SigningAlgorithmSpec.SM2DSA, RawOrDigest, 32, null, "KmsEmulator does not support SM2DSA: its HSM has no SM2."),
    }.ToFrozenDictionary(c => c.Algorithm);

    private static readonly FrozenDictionary<EncryptionAlgorithmSpec, EncryptionAlgorithmCapability> Encryption = new EncryptionAlgorithmCapability[]
    {
        new(EncryptionAlgorithmSpec.SYMMETRIC_DEFAULT, null, 0),
        new(EncryptionAlgorithmSpec.RSAES_OAEP_SHA_1, RsaEncryptionScheme.OaepSha1, 20),
        new(EncryptionAlgorithmSpec.RSAES_OAEP_SHA_256, RsaEncryptionScheme.OaepSha256, 32),
        new(EncryptionAlgorithmSpec.SM2PKE, null, 0),
    }.ToFrozenDictionary(c => c.Algorithm);

    private static readonly FrozenDictionary<MacAlgorithmSpec, MacAlgorithm> Mac = new Dictionary<MacAlgorithmSpec, MacAlgorithm>
    {
        [MacAlgorithmSpec.HMAC_SHA_224] = MacAlgorithm.HmacSha224,
        [MacAlgorithmSpec.HMAC_SHA_256] = MacAlgorithm.HmacSha256,
        [MacAlgorithmSpec.HMAC_SHA_384] = MacAlgorithm.HmacSha384,
        [MacAlgorithmSpec.HMAC_SHA_512] = MacAlgorithm.HmacSha512,
    }.ToFrozenDictionary();

    public static SigningAlgorithmCapability For(SigningAlgorithmSpec algorithm) => Signing[algorithm];

    public static EncryptionAlgorithmCapability For(EncryptionAlgorithmSpec algorithm) => Encryption[algorithm];

    public static MacAlgorithm For(MacAlgorithmSpec algorithm) => Mac[algorithm];

    /// <summary>The HSM usage of a key pair or HMAC key made for <paramref name="usage"/>.</summary>
    public static HsmKeyUsage HsmUsage(KeyUsageType usage) => usage switch
    {
        KeyUsageType.ENCRYPT_DECRYPT => HsmKeyUsage.EncryptDecrypt,
        KeyUsageType.SIGN_VERIFY => HsmKeyUsage.SignVerify,
        KeyUsageType.KEY_AGREEMENT => HsmKeyUsage.KeyAgreement,
        _ => HsmKeyUsage.GenerateVerifyMac,
    };
}
