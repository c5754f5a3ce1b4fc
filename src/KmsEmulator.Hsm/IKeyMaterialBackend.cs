namespace KmsEmulator.Hsm;

/// <summary>
/// The domain-facing seam to the HSM. Callers name key material by a stable label that the
/// metadata store records; they never see PKCS#11 handles, sessions or return codes.
/// Every method may throw <see cref="HsmException"/>.
/// </summary>
public interface IKeyMaterialBackend
{
    /// <summary>True once the token is initialised, the user is logged in and the session pool is ready.</summary>
    bool IsReady { get; }

    /// <summary>
    /// Generates a 256-bit AES key as a private, sensitive, non-extractable token object. Like every key creation, the
    /// new object is read back and compared with what was asked for; one that differs is destroyed and the call fails.
    /// </summary>
    ValueTask CreateAesKeyAsync(string label, CancellationToken cancellationToken = default);

    /// <summary>AES-256-GCM inside the HSM. Returns ciphertext followed by the 16-byte tag.</summary>
    ValueTask<byte[]> EncryptAesGcmAsync(string label, ReadOnlyMemory<byte> iv, ReadOnlyMemory<byte> aad, ReadOnlyMemory<byte> plaintext, CancellationToken cancellationToken = default);

    /// <summary>
    /// AES-256-GCM decryption inside the HSM. <paramref name="ciphertextAndTag"/> is ciphertext followed by the tag.
    /// A failed authentication throws <see cref="HsmException"/> with <see cref="HsmErrorKind.AuthenticationFailed"/>.
    /// </summary>
    ValueTask<byte[]> DecryptAesGcmAsync(string label, ReadOnlyMemory<byte> iv, ReadOnlyMemory<byte> aad, ReadOnlyMemory<byte> ciphertextAndTag, CancellationToken cancellationToken = default);

    /// <summary>Fills <paramref name="count"/> bytes from the HSM's random generator.</summary>
    ValueTask<byte[]> GenerateRandomAsync(int count, CancellationToken cancellationToken = default);

    /// <summary>
    /// Destroys every object with this label (a key pair's private and public key alike), and this process's session copies
    /// of them. Missing objects are not an error. Another process sharing the token keeps its own copies until it checks
    /// (<see cref="HsmOptions.SessionCopyCheckInterval"/>).
    /// </summary>
    ValueTask DestroyAsync(string label, CancellationToken cancellationToken = default);

    /// <summary>
    /// Destroys every object whose label is one of <paramref name="labels"/>, as <see cref="DestroyAsync"/> does for one,
    /// in one pass over the token instead of a search per label (a reset of many keys). Returns how many token objects
    /// were destroyed.
    /// </summary>
    ValueTask<int> DestroyManyAsync(IReadOnlySet<string> labels, CancellationToken cancellationToken = default);

    /// <summary>True when an object with this label exists on the token.</summary>
    ValueTask<bool> ExistsAsync(string label, CancellationToken cancellationToken = default);

    /// <summary>
    /// Reads every token object whose label starts with <paramref name="labelPrefix"/> once (one pass over the token),
    /// checks each against the key it belongs to in <paramref name="expected"/>, and caches the handles of the good
    /// ones, so that no later use of a key searches the token. Keys whose objects differ from what was made are
    /// reported in <see cref="HsmInventory.Defective"/> and in <see cref="Defects"/>, and never used.
    /// </summary>
    ValueTask<HsmInventory> IndexAsync(string labelPrefix, IReadOnlyCollection<HsmKeyDescription> expected,
        CancellationToken cancellationToken = default);

    /// <summary>Keys found defective (by label) since the backend opened, with how their objects differ.</summary>
    IReadOnlyDictionary<string, IReadOnlyList<string>> Defects { get; }

    // Asymmetric, HMAC and key-agreement keys. Private keys and HMAC secrets are private, sensitive, non-extractable
    // token objects; only public keys leave the HSM.

    /// <summary>
    /// Generates a key pair as two token objects sharing <paramref name="label"/> (and CKA_ID): a private, sensitive,
    /// non-extractable private key with only the flag <paramref name="usage"/> needs, and its public key.
    /// Returns the public key as DER SubjectPublicKeyInfo.
    /// </summary>
    /// <exception cref="HsmException"><see cref="HsmErrorKind.InvalidInput"/> for an HMAC spec or a usage the spec cannot have.</exception>
    ValueTask<byte[]> CreateKeyPairAsync(string label, HsmKeySpec spec, HsmKeyUsage usage, CancellationToken cancellationToken = default);

    /// <summary>Generates an HMAC secret (28/32/48/64 bytes for Hmac224..Hmac512) as a private, sensitive, non-extractable token object.</summary>
    ValueTask CreateHmacKeyAsync(string label, HsmKeySpec spec, CancellationToken cancellationToken = default);

    /// <summary>The public key of the key pair <paramref name="label"/> as DER SubjectPublicKeyInfo.</summary>
    ValueTask<byte[]> GetPublicKeyAsync(string label, CancellationToken cancellationToken = default);

    /// <summary>
    /// Signs with the private key. With <paramref name="inputIsDigest"/> the input must be the digest of the scheme's
    /// hash (32/48/64 bytes); otherwise it is the message and is hashed here. Returns the signature as KMS does: RSA
    /// as the modulus-length octet string, ECDSA as DER SEQUENCE { INTEGER r, INTEGER s }, Ed25519 as 64 bytes.
    /// </summary>
    /// <exception cref="HsmException">
    /// <see cref="HsmErrorKind.InvalidInput"/> for a wrong digest length, a scheme that does not fit the key, a key
    /// without the sign usage, or Ed25519 over a digest; <see cref="HsmErrorKind.Unsupported"/> for Ed25519ph.
    /// </exception>
    ValueTask<byte[]> SignAsync(string label, SignatureScheme scheme, ReadOnlyMemory<byte> input, bool inputIsDigest,
        CancellationToken cancellationToken = default);

    /// <summary>
    /// Verifies with the public key. A wrong or malformed signature returns false; input errors throw as in
    /// <see cref="SignAsync"/>.
    /// </summary>
    ValueTask<bool> VerifyAsync(string label, SignatureScheme scheme, ReadOnlyMemory<byte> input, bool inputIsDigest,
        ReadOnlyMemory<byte> signature, CancellationToken cancellationToken = default);

    /// <summary>
    /// RSA-OAEP encryption with the public key (SHA-1 inside the HSM, SHA-256 in managed code from the public key).
    /// The plaintext may be at most modulus length − 2·hash length − 2 bytes.
    /// </summary>
    ValueTask<byte[]> EncryptRsaAsync(string label, RsaEncryptionScheme scheme, ReadOnlyMemory<byte> plaintext,
        CancellationToken cancellationToken = default);

    /// <summary>
    /// RSA-OAEP decryption with the private key. Any failure of the ciphertext (length, range, padding) throws
    /// <see cref="HsmException"/> with <see cref="HsmErrorKind.AuthenticationFailed"/> and the same message.
    /// </summary>
    ValueTask<byte[]> DecryptRsaAsync(string label, RsaEncryptionScheme scheme, ReadOnlyMemory<byte> ciphertext,
        CancellationToken cancellationToken = default);

    /// <summary>HMAC of <paramref name="message"/>. The algorithm must match the key's size, else InvalidInput.</summary>
    ValueTask<byte[]> MacAsync(string label, MacAlgorithm algorithm, ReadOnlyMemory<byte> message,
        CancellationToken cancellationToken = default);

    /// <summary>True when <paramref name="mac"/> is the HMAC of <paramref name="message"/> (compared in constant time).</summary>
    ValueTask<bool> VerifyMacAsync(string label, MacAlgorithm algorithm, ReadOnlyMemory<byte> message, ReadOnlyMemory<byte> mac,
        CancellationToken cancellationToken = default);

    /// <summary>
    /// Raw ECDH shared secret (the x-coordinate: 32, 48 or 66 bytes) between the private key and a peer public key given
    /// as DER SubjectPublicKeyInfo with an uncompressed point on the same curve (otherwise InvalidInput).
    /// </summary>
    ValueTask<byte[]> DeriveSharedSecretAsync(string label, ReadOnlyMemory<byte> peerPublicKeySpki,
        CancellationToken cancellationToken = default);

    /// <summary>
    /// Generates a key pair that is returned to the caller (GenerateDataKeyPair): made by the HSM as session objects,
    /// exported, then destroyed. Nothing stays on the token.
    /// </summary>
    ValueTask<HsmDataKeyPair> GenerateDataKeyPairAsync(HsmKeySpec spec, CancellationToken cancellationToken = default);

    /// <summary>
    /// Imports wrapped key material (ImportKeyMaterial) into a new private, sensitive, non-extractable token object
    /// labelled <c>target.Label</c>, unwrapped with the private key of the import wrapping key pair
    /// <paramref name="wrappingLabel"/> (made with <see cref="HsmKeyUsage.ImportWrapping"/>). Only AES-256 and HMAC
    /// material is supported. The new object is read back and checked like a generated key, and a check value is
    /// computed with it inside the HSM: equal values mean the same material (for re-imports).
    /// </summary>
    /// <returns>The 32-byte check value of the material (a digest of an operation with it; it reveals nothing usable).</returns>
    /// <exception cref="HsmException">
    /// <see cref="HsmErrorKind.AuthenticationFailed"/> (one message for every cause) when the blob does not unwrap;
    /// <see cref="HsmErrorKind.InvalidInput"/> when the material does not fit the target (length);
    /// <see cref="HsmErrorKind.Unsupported"/> for a target that is not an AES or HMAC key.
    /// </exception>
    ValueTask<byte[]> ImportSecretKeyAsync(string wrappingLabel, ImportWrappingAlgorithm algorithm, ReadOnlyMemory<byte> encryptedKeyMaterial,
        HsmKeyDescription target, CancellationToken cancellationToken = default);

    /// <summary>
    /// The check value <see cref="ImportSecretKeyAsync"/> computes for imported material, computed for AES-256 or HMAC
    /// material given in plaintext (a seed file's), to recognise material already imported without reading it out of the
    /// HSM: the material becomes a private, sensitive, non-extractable session object (never a token object), which is
    /// read back and checked, computes the check value inside the HSM, and is destroyed. Nothing stays on the token.
    /// </summary>
    /// <exception cref="HsmException">
    /// <see cref="HsmErrorKind.InvalidInput"/> when the material does not fit the spec (AES: 32 bytes; HMAC: at least the
    /// spec's length); <see cref="HsmErrorKind.Unsupported"/> for a spec that is not AES or HMAC.
    /// </exception>
    ValueTask<byte[]> CheckValueOfSecretAsync(HsmKeySpec spec, ReadOnlyMemory<byte> material, CancellationToken cancellationToken = default);

    /// <summary>
    /// Imports a wrapped RSA or EC (NIST P-256/384/521, secp256k1) private key (PKCS#8, wrapped with RSA_AES_KEY_WRAP_SHA_1
    /// or _SHA_256) as a key pair labelled <c>target.Label</c>: the private key is unwrapped in the HSM into a private,
    /// sensitive, non-extractable token object with only the usage <c>target.Usage</c> needs, and the public key object is
    /// made from the RSA modulus and exponent, or from the EC point found with a throw-away session copy of the private
    /// key (ECDH with the generator gives x; a signature picks y). Both objects are read back and checked.
    /// </summary>
    /// <returns>The public key as DER SubjectPublicKeyInfo.</returns>
    /// <exception cref="HsmException">
    /// <see cref="HsmErrorKind.AuthenticationFailed"/> when the blob does not unwrap; <see cref="HsmErrorKind.InvalidInput"/>
    /// when the key is not a key of the target's spec (RSA: with public exponent 65537); <see cref="HsmErrorKind.Unsupported"/>
    /// for other targets or wrapping algorithms.
    /// </exception>
    /// <summary>
    /// Copies the key material labelled <paramref name="sourceLabel"/> into new token objects labelled
    /// <c>target.Label</c> with C_CopyObject, inside the HSM (multi-Region replica keys share their primary's material):
    /// a secret key, or a key pair's private and public key. Only the label and CKA_ID change; the copies stay private,
    /// sensitive and non-extractable, and keep what the originals prove (CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE,
    /// CKA_LOCAL). The source must be what <paramref name="target"/> describes (apart from its label), and the copies are
    /// read back and checked like every new key object; copies that differ are destroyed and the call fails.
    /// </summary>
    /// <exception cref="HsmException">
    /// <see cref="HsmErrorKind.KeyNotFound"/> when the source has no (or not every) object; <see cref="HsmErrorKind.Defective"/>
    /// when the source is not what <paramref name="target"/> describes; <see cref="HsmErrorKind.InvalidInput"/> when objects
    /// labelled <c>target.Label</c> exist already.
    /// </exception>
    ValueTask CopyKeyAsync(string sourceLabel, HsmKeyDescription target, CancellationToken cancellationToken = default);

    ValueTask<byte[]> ImportKeyPairAsync(string wrappingLabel, ImportWrappingAlgorithm algorithm, ReadOnlyMemory<byte> encryptedKeyMaterial,
        HsmKeyDescription target, CancellationToken cancellationToken = default);
}
