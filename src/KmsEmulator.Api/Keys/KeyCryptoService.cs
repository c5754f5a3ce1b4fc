using System.Security.Cryptography;
using KmsEmulator.Hsm;

namespace KmsEmulator.Api.Keys;

/// <summary>A data key pair for GenerateDataKeyPair*: the private key in the clear (PKCS#8) and encrypted under a KMS key.</summary>
/// <param name="PublicKey">DER SubjectPublicKeyInfo.</param>
/// <param name="PrivateKeyPkcs8">DER PKCS#8 PrivateKeyInfo; the caller zeroes it after use.</param>
/// <param name="PrivateKeyCiphertext">The PKCS#8 in the symmetric ciphertext format, under the KMS key and the encryption context.</param>
/// <param name="Material">The KMS key's material that encrypted the private key.</param>
public sealed record DataKeyPair(byte[] PublicKey, byte[] PrivateKeyPkcs8, byte[] PrivateKeyCiphertext, KeyMaterialVersion Material);

/// <summary>
/// Every use of key material: symmetric encryption in our ciphertext format, data keys and data key pairs, random
/// bytes, RSA encryption, signing, HMAC and key agreement. Material stays in the HSM; nothing here writes. The checks
/// of <see cref="AlgorithmRules"/> run before any HSM call, and HSM failures a request can cause become KMS errors here.
/// </summary>
public sealed class KeyCryptoService(IKeyMaterialBackend hsm)
{
    private const int MaxEncryptionContextBytes = 8192;

    /// <summary>Encrypts under the key's current material; returns the ciphertext blob.</summary>
    public async Task<byte[]> EncryptAsync(KeyRecord key, ReadOnlyMemory<byte> plaintext, IReadOnlyDictionary<string, string>? context, CancellationToken cancellationToken)
    {
        var material = key.CurrentMaterial ?? throw KmsErrors.KeyPendingImport(key.Arn);
        var header = SymmetricCiphertext.CreateHeader(key.KeyId, material.Version);
        var aad = BuildAad(header, context);
        var iv = new byte[SymmetricCiphertext.IvLength];
        RandomNumberGenerator.Fill(iv);
        var sealedBytes = await hsm.EncryptAesGcmAsync(material.HsmLabel, iv, aad, plaintext, cancellationToken);
        return SymmetricCiphertext.Assemble(header, iv, sealedBytes);
    }

    /// <summary>Decrypts a blob made by <see cref="EncryptAsync"/> under <paramref name="key"/>.</summary>
    public async Task<(byte[] Plaintext, KeyMaterialVersion Material)> DecryptAsync(
        KeyRecord key, SymmetricCiphertext ciphertext, IReadOnlyDictionary<string, string>? context, CancellationToken cancellationToken)
    {
        var material = key.FindMaterial(ciphertext.MaterialVersion) ?? throw KmsErrors.InvalidCiphertext();
        var aad = BuildAad(ciphertext.Header.Span, context);
        try
        {
            var plaintext = await hsm.DecryptAesGcmAsync(material.HsmLabel, ciphertext.Iv, aad, ciphertext.CiphertextAndTag, cancellationToken);
            return (plaintext, material);
        }
        catch (HsmException e) when (e.Kind is HsmErrorKind.AuthenticationFailed or HsmErrorKind.InvalidInput)
        {
            throw KmsErrors.InvalidCiphertext();
        }
    }

    /// <summary>Random bytes from the HSM's generator.</summary>
    public async Task<byte[]> GenerateRandomAsync(int count, CancellationToken cancellationToken) =>
        await hsm.GenerateRandomAsync(count, cancellationToken);

    /// <summary>The key pair's public key as DER SubjectPublicKeyInfo.</summary>
    public Task<byte[]> GetPublicKeyAsync(KeyRecord key, CancellationToken cancellationToken)
    {
        AlgorithmRules.RequireKeyPair(key);
        var label = MaterialOf(key).HsmLabel;
        return UseHsmAsync(() => hsm.GetPublicKeyAsync(label, cancellationToken));
    }

    public Task<byte[]> SignAsync(KeyRecord key, SigningPlan plan, ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        var label = MaterialOf(key).HsmLabel;
        return UseHsmAsync(() => hsm.SignAsync(label, plan.Scheme, message, plan.IsDigest, cancellationToken));
    }

    /// <summary>Returns when the signature is valid; throws KMSInvalidSignatureException (AWS never answers SignatureValid false).</summary>
    public async Task VerifyAsync(KeyRecord key, SigningPlan plan, ReadOnlyMemory<byte> message, ReadOnlyMemory<byte> signature, CancellationToken cancellationToken)
    {
        var label = MaterialOf(key).HsmLabel;
        if (!await UseHsmAsync(() => hsm.VerifyAsync(label, plan.Scheme, message, plan.IsDigest, signature, cancellationToken)))
        {
            throw KmsErrors.InvalidSignature();
        }
    }

    /// <summary>Encrypts with the plan's algorithm: the symmetric format, or RSAES-OAEP with the key's public key.</summary>
    public async Task<byte[]> EncryptAsync(
        KeyRecord key, EncryptionPlan plan, ReadOnlyMemory<byte> plaintext, IReadOnlyDictionary<string, string>? context, CancellationToken cancellationToken)
    {
        if (plan.RsaScheme is not { } scheme)
        {
            return await EncryptAsync(key, plaintext, context, cancellationToken);
        }

        var label = MaterialOf(key).HsmLabel;
        return await UseHsmAsync(() => hsm.EncryptRsaAsync(label, scheme, plaintext, cancellationToken));
    }

    /// <summary>
    /// Decrypts with the plan's algorithm. Returns the material version for symmetric keys (AWS reports its id) and
    /// null for RSA keys, whose ciphertexts fail as InvalidCiphertextException however they are wrong.
    /// </summary>
    public async Task<(byte[] Plaintext, KeyMaterialVersion? Material)> DecryptAsync(
        KeyRecord key, EncryptionPlan plan, KeyCiphertext ciphertext, IReadOnlyDictionary<string, string>? context, CancellationToken cancellationToken)
    {
        if (plan.RsaScheme is not { } scheme)
        {
            var symmetric = ciphertext.Symmetric ?? throw KmsErrors.InvalidCiphertext();
            return await DecryptAsync(key, symmetric, context, cancellationToken);
        }

        var label = MaterialOf(key).HsmLabel;
        return (await UseHsmAsync(() => hsm.DecryptRsaAsync(label, scheme, ciphertext.Blob, cancellationToken)), null);
    }

    public Task<byte[]> GenerateMacAsync(KeyRecord key, MacPlan plan, ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        var label = MaterialOf(key).HsmLabel;
        return UseHsmAsync(() => hsm.MacAsync(label, plan.HsmAlgorithm, message, cancellationToken));
    }

    /// <summary>Returns when the MAC is valid; throws KMSInvalidMacException (AWS never answers MacValid false).</summary>
    public async Task VerifyMacAsync(KeyRecord key, MacPlan plan, ReadOnlyMemory<byte> message, ReadOnlyMemory<byte> mac, CancellationToken cancellationToken)
    {
        var label = MaterialOf(key).HsmLabel;
        if (!await UseHsmAsync(() => hsm.VerifyMacAsync(label, plan.HsmAlgorithm, message, mac, cancellationToken)))
        {
            throw KmsErrors.InvalidMac();
        }
    }

    /// <summary>Raw ECDH secret with a peer public key (DER SPKI on the key's curve); a bad peer key is AWS's message-less ValidationException.</summary>
    public async Task<byte[]> DeriveSharedSecretAsync(KeyRecord key, ReadOnlyMemory<byte> peerPublicKey, CancellationToken cancellationToken)
    {
        var label = MaterialOf(key).HsmLabel;
        try
        {
            return await hsm.DeriveSharedSecretAsync(label, peerPublicKey, cancellationToken);
        }
        catch (HsmException e) when (e.Kind == HsmErrorKind.InvalidInput)
        {
            throw KmsErrors.InvalidPublicKey();
        }
    }

    /// <summary>
    /// A key pair made by the HSM and handed out, its private key (PKCS#8) encrypted under the symmetric KMS key
    /// <paramref name="key"/> in the symmetric format, so that KMS Decrypt with the same context returns the PKCS#8.
    /// </summary>
    public async Task<DataKeyPair> GenerateDataKeyPairAsync(
        KeyRecord key, HsmKeySpec spec, IReadOnlyDictionary<string, string>? context, CancellationToken cancellationToken)
    {
        var material = MaterialOf(key);
        var pair = await UseHsmAsync(() => hsm.GenerateDataKeyPairAsync(spec, cancellationToken));
        try
        {
            var blob = await EncryptAsync(key, pair.PrivateKeyPkcs8, context, cancellationToken);
            return new DataKeyPair(pair.PublicKeySpki, pair.PrivateKeyPkcs8, blob, material);
        }
        catch
        {
            CryptographicOperations.ZeroMemory(pair.PrivateKeyPkcs8);
            throw;
        }
    }

    private static byte[] BuildAad(ReadOnlySpan<byte> header, IReadOnlyDictionary<string, string>? context)
    {
        // Measured before encoding: the encoding's 2-byte length fields cannot hold arbitrarily long keys or values.
        var size = context?.Sum(pair => System.Text.Encoding.UTF8.GetByteCount(pair.Key) + System.Text.Encoding.UTF8.GetByteCount(pair.Value)) ?? 0;
        if (size > MaxEncryptionContextBytes)
        {
            throw KmsErrors.EncryptionContextTooLarge(MaxEncryptionContextBytes);
        }

        return EncryptionContextEncoding.BuildAad(header, context);
    }


    private static KeyMaterialVersion MaterialOf(KeyRecord key) =>
        key.CurrentMaterial ?? throw KmsErrors.KeyPendingImport(key.Arn);

    /// <summary>Runs an HSM call, turning the failures a request can cause into KMS errors; the rest stay internal faults.</summary>
    private static async Task<T> UseHsmAsync<T>(Func<ValueTask<T>> call)
    {
        try
        {
            return await call();
        }
        catch (HsmException e) when (e.Kind is HsmErrorKind.AuthenticationFailed or HsmErrorKind.InvalidInput or HsmErrorKind.Unsupported)
        {
            // HSM messages can name PKCS#11 return codes and object labels: callers get fixed texts instead.
            throw e.Kind switch
            {
                HsmErrorKind.AuthenticationFailed => KmsErrors.InvalidCiphertext(),
                HsmErrorKind.Unsupported => KmsErrors.HsmCannotPerform(),
                _ => KmsErrors.InputNotValidForKey(),
            };
        }
    }
}
