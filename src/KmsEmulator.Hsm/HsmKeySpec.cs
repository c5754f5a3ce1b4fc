namespace KmsEmulator.Hsm;

/// <summary>The key types the HSM generates, one per KMS KeySpec.</summary>
public enum HsmKeySpec
{
    /// <summary>RSA with a 2048-bit modulus and public exponent 65537 (KMS RSA_2048).</summary>
    Rsa2048,
    /// <summary>RSA with a 3072-bit modulus (KMS RSA_3072).</summary>
    Rsa3072,
    /// <summary>RSA with a 4096-bit modulus (KMS RSA_4096).</summary>
    Rsa4096,
    /// <summary>NIST P-256, secp256r1 (KMS ECC_NIST_P256).</summary>
    EcP256,
    /// <summary>NIST P-384, secp384r1 (KMS ECC_NIST_P384).</summary>
    EcP384,
    /// <summary>NIST P-521, secp521r1 (KMS ECC_NIST_P521).</summary>
    EcP521,
    /// <summary>SECG secp256k1 (KMS ECC_SECG_P256K1).</summary>
    EcSecp256k1,
    /// <summary>Ed25519 (KMS ECC_NIST_EDWARDS25519).</summary>
    Ed25519,
    /// <summary>A 224-bit (28-byte) HMAC secret (KMS HMAC_224).</summary>
    Hmac224,
    /// <summary>A 256-bit (32-byte) HMAC secret (KMS HMAC_256).</summary>
    Hmac256,
    /// <summary>A 384-bit (48-byte) HMAC secret (KMS HMAC_384).</summary>
    Hmac384,
    /// <summary>A 512-bit (64-byte) HMAC secret (KMS HMAC_512).</summary>
    Hmac512,
    /// <summary>A 256-bit AES key for AES-GCM (KMS SYMMETRIC_DEFAULT).</summary>
    Aes256,
}

/// <summary>What an asymmetric key may do; the private key gets only the matching PKCS#11 usage flag.</summary>
public enum HsmKeyUsage
{
    /// <summary>RSA only: the private key decrypts (CKA_DECRYPT), the public key encrypts.</summary>
    EncryptDecrypt,
    /// <summary>The private key signs (CKA_SIGN), the public key verifies.</summary>
    SignVerify,
    /// <summary>Weierstrass EC curves only: the private key derives ECDH secrets (CKA_DERIVE).</summary>
    KeyAgreement,
    /// <summary>HMAC keys: sign and verify MACs. Implied by <see cref="IKeyMaterialBackend.CreateHmacKeyAsync"/>.</summary>
    GenerateVerifyMac,
    /// <summary>
    /// RSA only: an import wrapping key (GetParametersForImport). The private key unwraps (CKA_UNWRAP, for RSA-OAEP
    /// with SHA-1) and decrypts (CKA_DECRYPT, for the raw RSA step of the SHA-256 variants); the public key does nothing
    /// in the HSM, it is handed out.
    /// </summary>
    ImportWrapping,
}

/// <summary>How imported key material is wrapped (KMS AlgorithmSpec of GetParametersForImport).</summary>
public enum ImportWrappingAlgorithm
{
    /// <summary>The material, RSA-OAEP encrypted with SHA-1 and MGF1-SHA-1 (KMS RSAES_OAEP_SHA_1).</summary>
    RsaOaepSha1,
    /// <summary>The material, RSA-OAEP encrypted with SHA-256 and MGF1-SHA-256 (KMS RSAES_OAEP_SHA_256).</summary>
    RsaOaepSha256,
    /// <summary>
    /// An ephemeral AES key RSA-OAEP (SHA-1) encrypted, followed by the material wrapped under it with AES key wrap with
    /// padding, RFC 5649 (KMS RSA_AES_KEY_WRAP_SHA_1).
    /// </summary>
    RsaAesKeyWrapSha1,
    /// <summary>As <see cref="RsaAesKeyWrapSha1"/> with RSA-OAEP SHA-256 for the ephemeral key (KMS RSA_AES_KEY_WRAP_SHA_256).</summary>
    RsaAesKeyWrapSha256,
}

/// <summary>Signature algorithms, one per KMS SigningAlgorithmSpec that the HSM can serve.</summary>
public enum SignatureScheme
{
    /// <summary>RSASSA-PSS, SHA-256, MGF1-SHA-256, salt length 32 (KMS RSASSA_PSS_SHA_256).</summary>
    RsaPssSha256,
    /// <summary>RSASSA-PSS, SHA-384, MGF1-SHA-384, salt length 48.</summary>
    RsaPssSha384,
    /// <summary>RSASSA-PSS, SHA-512, MGF1-SHA-512, salt length 64.</summary>
    RsaPssSha512,
    /// <summary>RSASSA-PKCS1-v1_5 with SHA-256 (KMS RSASSA_PKCS1_V1_5_SHA_256).</summary>
    RsaPkcs1Sha256,
    /// <summary>RSASSA-PKCS1-v1_5 with SHA-384.</summary>
    RsaPkcs1Sha384,
    /// <summary>RSASSA-PKCS1-v1_5 with SHA-512.</summary>
    RsaPkcs1Sha512,
    /// <summary>ECDSA with SHA-256; signatures are DER SEQUENCE { r, s } (KMS ECDSA_SHA_256).</summary>
    EcdsaSha256,
    /// <summary>ECDSA with SHA-384.</summary>
    EcdsaSha384,
    /// <summary>ECDSA with SHA-512.</summary>
    EcdsaSha512,
    /// <summary>Pure Ed25519 over the message itself (KMS ED25519_SHA_512, MessageType RAW only).</summary>
    Ed25519,
    /// <summary>
    /// Ed25519ph (RFC 8032) over a SHA-512 pre-hash (KMS ED25519_PH_SHA_512). SoftHSM2 2.6.1 cannot do it: it
    /// ignores CK_EDDSA_PARAMS and would silently produce a pure Ed25519 signature, so the backend refuses it.
    /// </summary>
    Ed25519Ph,
}

/// <summary>RSA encryption schemes (KMS EncryptionAlgorithmSpec).</summary>
public enum RsaEncryptionScheme
{
    /// <summary>RSAES-OAEP with SHA-1 and MGF1-SHA-1, empty label (KMS RSAES_OAEP_SHA_1).</summary>
    OaepSha1,
    /// <summary>RSAES-OAEP with SHA-256 and MGF1-SHA-256, empty label (KMS RSAES_OAEP_SHA_256).</summary>
    OaepSha256,
}

/// <summary>HMAC algorithms (KMS MacAlgorithmSpec). Each goes with the HMAC key spec of the same size.</summary>
public enum MacAlgorithm
{
    /// <summary>HMAC-SHA-224, 28-byte MAC, for <see cref="HsmKeySpec.Hmac224"/> keys.</summary>
    HmacSha224,
    /// <summary>HMAC-SHA-256, 32-byte MAC, for <see cref="HsmKeySpec.Hmac256"/> keys.</summary>
    HmacSha256,
    /// <summary>HMAC-SHA-384, 48-byte MAC, for <see cref="HsmKeySpec.Hmac384"/> keys.</summary>
    HmacSha384,
    /// <summary>HMAC-SHA-512, 64-byte MAC, for <see cref="HsmKeySpec.Hmac512"/> keys.</summary>
    HmacSha512,
}

/// <summary>A data key pair for GenerateDataKeyPair: both halves leave the HSM.</summary>
/// <param name="PublicKeySpki">DER X.509 SubjectPublicKeyInfo.</param>
/// <param name="PrivateKeyPkcs8">DER PKCS#8 PrivateKeyInfo (unencrypted). The caller should zero it after use.</param>
public sealed record HsmDataKeyPair(byte[] PublicKeySpki, byte[] PrivateKeyPkcs8);
