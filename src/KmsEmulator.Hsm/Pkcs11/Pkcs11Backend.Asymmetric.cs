using System.Security.Cryptography;
using KmsEmulator.Hsm.Crypto;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace KmsEmulator.Hsm.Pkcs11;

/// <summary>Key pairs: generation, public keys, signatures, RSA encryption and ECDH.</summary>
public sealed partial class Pkcs11Backend
{
    private const string DecryptionFailedMessage = "The ciphertext could not be decrypted with this key.";

    /// <inheritdoc />
    public async ValueTask<byte[]> CreateKeyPairAsync(string label, HsmKeySpec spec, HsmKeyUsage usage,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(label);
        KeySpecs.RequireKeyPairUsage(spec, usage);
        return await CreateKeyAsync(new HsmKeyDescription(label, spec, usage), $"a {spec} key pair", cancellationToken).ConfigureAwait(false)
            ?? throw new HsmException(HsmErrorKind.Internal, "A key pair was made without a public key.");
    }

    /// <inheritdoc />
    public ValueTask<byte[]> GetPublicKeyAsync(string label, CancellationToken cancellationToken = default) =>
        WithKeyAsync(label, CKO.CKO_PUBLIC_KEY, "read a public key", ReadSubjectPublicKeyInfo, cancellationToken);

    /// <inheritdoc />
    public ValueTask<byte[]> SignAsync(string label, SignatureScheme scheme, ReadOnlyMemory<byte> input, bool inputIsDigest,
        CancellationToken cancellationToken = default)
    {
        var family = SignatureSchemes.FamilyOf(scheme);
        var data = SignedData(scheme, family, input, inputIsDigest);
        return WithKeyAsync(label, CKO.CKO_PRIVATE_KEY, "sign", (session, key) =>
        {
            RequireSignatureKey(key, label, family);
            using var mechanism = new SignatureMechanism(session, scheme, family);
            var signature = session.Sign(mechanism.Mechanism, key.Handle, data);
            return family == SignatureFamily.Ecdsa ? KeyEncoding.EcdsaRawToDer(signature) : signature;
        }, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<bool> VerifyAsync(string label, SignatureScheme scheme, ReadOnlyMemory<byte> input, bool inputIsDigest,
        ReadOnlyMemory<byte> signature, CancellationToken cancellationToken = default)
    {
        var family = SignatureSchemes.FamilyOf(scheme);
        var data = SignedData(scheme, family, input, inputIsDigest);
        var signatureBytes = signature.ToArray();
        return WithKeyAsync(label, CKO.CKO_PUBLIC_KEY, "verify a signature", (session, key) =>
        {
            RequireSignatureKey(key, label, family);
            var candidate = signatureBytes;
            var wellFormed = family switch
            {
                SignatureFamily.Ecdsa => KeyEncoding.TryEcdsaDerToRaw(signatureBytes, KeySpecs.FieldBytes(key.Spec!.Value), out candidate),
                SignatureFamily.Ed25519 => signatureBytes.Length == 64,
                _ => signatureBytes.Length == key.ModulusBytes,
            };
            if (!wellFormed)
            {
                return false;
            }

            using var mechanism = new SignatureMechanism(session, scheme, family);
            try
            {
                session.Verify(mechanism.Mechanism, key.Handle, data, candidate, out var valid);
                return valid;
            }
            catch (Pkcs11Exception e) when (e.RV is CKR.CKR_SIGNATURE_INVALID or CKR.CKR_SIGNATURE_LEN_RANGE)
            {
                return false;
            }
        }, cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask<byte[]> EncryptRsaAsync(string label, RsaEncryptionScheme scheme, ReadOnlyMemory<byte> plaintext,
        CancellationToken cancellationToken = default)
    {
        var hash = OaepHash(scheme);
        var input = plaintext.ToArray();
        try
        {
            if (scheme == RsaEncryptionScheme.OaepSha1)
            {
                return await WithKeyAsync(label, CKO.CKO_PUBLIC_KEY, "encrypt", (session, key) =>
                {
                    RequireRsaPlaintext(key, label, hash, input.Length);
                    using var parameters = OaepSha1Parameters(session);
                    using var mechanism = session.Factories.MechanismFactory.Create(CKM.CKM_RSA_PKCS_OAEP, parameters);
                    return session.Encrypt(mechanism, key.Handle, input);
                }, cancellationToken).ConfigureAwait(false);
            }

            // SoftHSM2 2.6.1 has OAEP with SHA-1 only. Encryption needs no secret, so it runs here on the public key.
            var spki = await WithKeyAsync(label, CKO.CKO_PUBLIC_KEY, "read a public key", (session, key) =>
            {
                RequireRsaPlaintext(key, label, hash, input.Length);
                return ReadSubjectPublicKeyInfo(session, key);
            }, cancellationToken).ConfigureAwait(false);
            using var rsa = RSA.Create();
            rsa.ImportSubjectPublicKeyInfo(spki, out _);
            return rsa.Encrypt(input, RSAEncryptionPadding.OaepSHA256);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(input);
        }
    }

    /// <inheritdoc />
    public ValueTask<byte[]> DecryptRsaAsync(string label, RsaEncryptionScheme scheme, ReadOnlyMemory<byte> ciphertext,
        CancellationToken cancellationToken = default)
    {
        var hash = OaepHash(scheme);
        var input = ciphertext.ToArray();
        return WithKeyAsync(label, CKO.CKO_PRIVATE_KEY, "decrypt", (session, key) =>
        {
            RequireRsa(key, label);
            if (input.Length != key.ModulusBytes)
            {
                throw new HsmException(HsmErrorKind.AuthenticationFailed, DecryptionFailedMessage);
            }

            if (scheme == RsaEncryptionScheme.OaepSha1)
            {
                using var parameters = OaepSha1Parameters(session);
                using var oaep = session.Factories.MechanismFactory.Create(CKM.CKM_RSA_PKCS_OAEP, parameters);
                return DecryptOrFail(session, oaep, key, input);
            }

            // OAEP-SHA-256: the raw RSA operation in the HSM, the padding check here (SoftHSM2 2.6.1 lacks SHA-2 OAEP).
            using var raw = session.Factories.MechanismFactory.Create(CKM.CKM_RSA_X_509);
            var decrypted = DecryptOrFail(session, raw, key, input);
            var encoded = new byte[key.ModulusBytes];
            try
            {
                decrypted.AsSpan(Math.Max(0, decrypted.Length - encoded.Length))
                    .CopyTo(encoded.AsSpan(Math.Max(0, encoded.Length - decrypted.Length)));
                return Oaep.TryDecode(encoded, hash, out var message)
                    ? message
                    : throw new HsmException(HsmErrorKind.AuthenticationFailed, DecryptionFailedMessage);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(decrypted);
                CryptographicOperations.ZeroMemory(encoded);
            }
        }, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<byte[]> DeriveSharedSecretAsync(string label, ReadOnlyMemory<byte> peerPublicKeySpki,
        CancellationToken cancellationToken = default)
    {
        var peer = peerPublicKeySpki.ToArray();
        return WithKeyAsync(label, CKO.CKO_PRIVATE_KEY, "derive a shared secret", (session, key) =>
        {
            if (key is not { KeyType: CKK.CKK_EC, Spec: { } curve } || !KeySpecs.IsEc(curve))
            {
                throw new HsmException(HsmErrorKind.InvalidInput, $"The key '{label}' is not an elliptic-curve key that can do ECDH.");
            }

            var point = KeyEncoding.PeerEcPoint(peer, curve);
            var secretBytes = KeySpecs.FieldBytes(curve);
            using var parameters = session.Factories.MechanismParamsFactory.CreateCkEcdh1DeriveParams((ulong)CKD.CKD_NULL, null, point);
            using var mechanism = session.Factories.MechanismFactory.Create(CKM.CKM_ECDH1_DERIVE, parameters);
            IObjectHandle derived;
            try
            {
                using var template = Pkcs11Template.From(session, AttributeTemplates.DerivedSecret(secretBytes));
                derived = session.DeriveKey(mechanism, key.Handle, template.Attributes);
            }
            catch (Pkcs11Exception e) when (e.RV is CKR.CKR_GENERAL_ERROR or CKR.CKR_DOMAIN_PARAMS_INVALID)
            {
                // SoftHSM2 reports a peer point that is not on the curve as CKR_GENERAL_ERROR.
                throw new HsmException(HsmErrorKind.InvalidInput, $"The peer public key is not a valid {curve} point.", e.RV.ToString(), e);
            }

            try
            {
                var secret = Pkcs11Attributes.ReadRequiredBytes(session, derived, CKA.CKA_VALUE)[0];
                return secret.Length == secretBytes
                    ? secret
                    : throw new HsmException(HsmErrorKind.Internal, $"The HSM derived {secret.Length} bytes instead of {secretBytes}.");
            }
            finally
            {
                session.DestroyObject(derived);
            }
        }, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<HsmDataKeyPair> GenerateDataKeyPairAsync(HsmKeySpec spec, CancellationToken cancellationToken = default)
    {
        if (!KeySpecs.IsKeyPair(spec))
        {
            throw new HsmException(HsmErrorKind.InvalidInput, $"{spec} is not a key pair spec.");
        }

        return RunAsync($"generate a {spec} data key pair", session =>
        {
            using var publicTemplate = Pkcs11Template.From(session, AttributeTemplates.SessionPublicKey(spec));
            using var privateTemplate = Pkcs11Template.From(session, AttributeTemplates.SessionPrivateKey(spec));
            var (publicHandle, privateHandle) = GenerateWithRetry($"a {spec} data key pair",
                () => GenerateKeyPair(session, spec, publicTemplate, privateTemplate));
            try
            {
                return ExportKeyPair(session, spec, publicHandle, privateHandle);
            }
            finally
            {
                DestroyQuietly(session, privateHandle);
                DestroyQuietly(session, publicHandle);
            }
        }, cancellationToken);
    }

    private static byte[] SignedData(SignatureScheme scheme, SignatureFamily family, ReadOnlyMemory<byte> input, bool inputIsDigest)
    {
        switch (family)
        {
            case SignatureFamily.Ed25519Ph:
                throw new HsmException(HsmErrorKind.Unsupported,
                    "Ed25519ph (ED25519_PH_SHA_512) is not supported: SoftHSM2 2.6.1 implements pure Ed25519 only.");
            case SignatureFamily.Ed25519 when inputIsDigest:
                throw new HsmException(HsmErrorKind.InvalidInput,
                    "Ed25519 signs the message itself; a digest cannot be signed with it (use the message, or Ed25519ph).");
            case SignatureFamily.Ed25519:
                return input.ToArray();
            case SignatureFamily.RsaPkcs1:
                var hash = SignatureSchemes.HashOf(scheme);
                return SignatureSchemes.DigestInfo(hash, SignatureSchemes.Digest(scheme, input.Span, inputIsDigest));
            default:
                return SignatureSchemes.Digest(scheme, input.Span, inputIsDigest);
        }
    }

    private static void RequireSignatureKey(KeyObject key, string label, SignatureFamily family)
    {
        var fits = family switch
        {
            SignatureFamily.RsaPss or SignatureFamily.RsaPkcs1 => key.KeyType == CKK.CKK_RSA && key.ModulusBytes > 0,
            SignatureFamily.Ecdsa => key is { KeyType: CKK.CKK_EC, Spec: { } spec } && KeySpecs.IsEc(spec),
            _ => key is { KeyType: Pkcs11Constants.CkkEcEdwards, Spec: HsmKeySpec.Ed25519 },
        };
        if (!fits)
        {
            throw new HsmException(HsmErrorKind.InvalidInput, $"The key '{label}' cannot make or check {family} signatures.");
        }
    }

    private static void RequireRsa(KeyObject key, string label)
    {
        if (key.KeyType != CKK.CKK_RSA || key.ModulusBytes == 0)
        {
            throw new HsmException(HsmErrorKind.InvalidInput, $"The key '{label}' is not an RSA key.");
        }
    }

    private static void RequireRsaPlaintext(KeyObject key, string label, HashAlgorithmName hash, int length)
    {
        RequireRsa(key, label);
        var max = Oaep.MaxMessageBytes(key.ModulusBytes, hash);
        if (length > max)
        {
            throw new HsmException(HsmErrorKind.InvalidInput,
                $"RSAES-OAEP with {hash.Name} and this key encrypts at most {max} bytes, not {length}.");
        }
    }

    private static HashAlgorithmName OaepHash(RsaEncryptionScheme scheme) => scheme switch
    {
        RsaEncryptionScheme.OaepSha1 => HashAlgorithmName.SHA1,
        RsaEncryptionScheme.OaepSha256 => HashAlgorithmName.SHA256,
        _ => throw new HsmException(HsmErrorKind.InvalidInput, $"Unknown RSA encryption scheme {scheme}."),
    };

    private static Net.Pkcs11Interop.HighLevelAPI.MechanismParams.ICkRsaPkcsOaepParams OaepSha1Parameters(ISession session) =>
        session.Factories.MechanismParamsFactory.CreateCkRsaPkcsOaepParams(
            (ulong)CKM.CKM_SHA_1, (ulong)CKG.CKG_MGF1_SHA1, (ulong)CKZ.CKZ_DATA_SPECIFIED, null);

    /// <summary>Decrypts, turning every way the ciphertext can be wrong into one and the same AuthenticationFailed.</summary>
    private static byte[] DecryptOrFail(ISession session, IMechanism mechanism, KeyObject key, byte[] input)
    {
        try
        {
            return session.Decrypt(mechanism, key.Handle, input);
        }
        catch (Pkcs11Exception e) when (CkrMapper.IsDecryptionFailure(e.RV))
        {
            throw new HsmException(HsmErrorKind.AuthenticationFailed, DecryptionFailedMessage, e.RV.ToString(), e);
        }
    }

    /// <summary>Generates a key pair; the caller owns the templates and keeps them alive across the call.</summary>
    private static (IObjectHandle Public, IObjectHandle Private) GenerateKeyPair(ISession session, HsmKeySpec spec,
        Pkcs11Template publicTemplate, Pkcs11Template privateTemplate)
    {
        var mechanismType = KeySpecs.IsRsa(spec) ? CKM.CKM_RSA_PKCS_KEY_PAIR_GEN
            : spec == HsmKeySpec.Ed25519 ? Pkcs11Constants.CkmEcEdwardsKeyPairGen
            : CKM.CKM_EC_KEY_PAIR_GEN;
        using var mechanism = session.Factories.MechanismFactory.Create(mechanismType);
        session.GenerateKeyPair(mechanism, publicTemplate.Attributes, privateTemplate.Attributes, out var publicHandle, out var privateHandle);
        return (publicHandle, privateHandle);
    }

    /// <summary>The DER SubjectPublicKeyInfo of a public key object.</summary>
    private static byte[] ReadSubjectPublicKeyInfo(ISession session, KeyObject key)
    {
        if (key.KeyType == CKK.CKK_RSA)
        {
            var rsa = Pkcs11Attributes.ReadRequiredBytes(session, key.Handle, CKA.CKA_MODULUS, CKA.CKA_PUBLIC_EXPONENT);
            return KeyEncoding.RsaSubjectPublicKeyInfo(rsa[0], rsa[1]);
        }

        if (key is { KeyType: CKK.CKK_EC or Pkcs11Constants.CkkEcEdwards, Spec: { } spec })
        {
            var point = Pkcs11Attributes.ReadRequiredBytes(session, key.Handle, CKA.CKA_EC_POINT)[0];
            return KeyEncoding.EcSubjectPublicKeyInfo(spec, KeyEncoding.UnwrapEcPoint(point, spec));
        }

        throw new HsmException(HsmErrorKind.InvalidInput, "The key is not an RSA, EC or Ed25519 public key on a supported curve.");
    }

    private static HsmDataKeyPair ExportKeyPair(ISession session, HsmKeySpec spec, IObjectHandle publicHandle, IObjectHandle privateHandle)
    {
        if (KeySpecs.IsRsa(spec))
        {
            var values = Pkcs11Attributes.ReadRequiredBytes(session, privateHandle,
                CKA.CKA_MODULUS, CKA.CKA_PUBLIC_EXPONENT, CKA.CKA_PRIVATE_EXPONENT, CKA.CKA_PRIME_1, CKA.CKA_PRIME_2,
                CKA.CKA_EXPONENT_1, CKA.CKA_EXPONENT_2, CKA.CKA_COEFFICIENT);
            var components = new RsaPrivateComponents(values[0], values[1], values[2], values[3], values[4], values[5], values[6], values[7]);
            try
            {
                return new HsmDataKeyPair(
                    KeyEncoding.RsaSubjectPublicKeyInfo(components.Modulus, components.PublicExponent), KeyEncoding.RsaPkcs8(components));
            }
            finally
            {
                components.Clear();
            }
        }

        var point = KeyEncoding.UnwrapEcPoint(Pkcs11Attributes.ReadRequiredBytes(session, publicHandle, CKA.CKA_EC_POINT)[0], spec);
        var privateValue = Pkcs11Attributes.ReadRequiredBytes(session, privateHandle, CKA.CKA_VALUE)[0];
        try
        {
            return new HsmDataKeyPair(
                KeyEncoding.EcSubjectPublicKeyInfo(spec, point),
                spec == HsmKeySpec.Ed25519 ? KeyEncoding.Ed25519Pkcs8(privateValue) : KeyEncoding.EcPkcs8(spec, privateValue, point));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(privateValue);
        }
    }

    private void DestroyQuietly(ISession session, IObjectHandle handle)
    {
        try
        {
            session.DestroyObject(handle);
        }
        catch (Pkcs11Exception e) when (!CkrMapper.IsSessionLost(e.RV))
        {
            _log($"Destroying a session key object failed ({e.RV}).");
        }
    }

    /// <summary>The mechanism (and its parameters) for a signature scheme; the caller has prepared the input.</summary>
    private sealed class SignatureMechanism : IDisposable
    {
        private readonly IDisposable? _parameters;

        public SignatureMechanism(ISession session, SignatureScheme scheme, SignatureFamily family)
        {
            var factories = session.Factories;
            switch (family)
            {
                case SignatureFamily.RsaPss:
                    var hash = SignatureSchemes.HashOf(scheme);
                    var (hashMechanism, mgf) = hash == HashAlgorithmName.SHA256 ? (CKM.CKM_SHA256, CKG.CKG_MGF1_SHA256)
                        : hash == HashAlgorithmName.SHA384 ? (CKM.CKM_SHA384, CKG.CKG_MGF1_SHA384)
                        : (CKM.CKM_SHA512, CKG.CKG_MGF1_SHA512);
                    var parameters = factories.MechanismParamsFactory.CreateCkRsaPkcsPssParams(
                        (ulong)hashMechanism, (ulong)mgf, (ulong)SignatureSchemes.DigestBytes(hash));
                    _parameters = parameters;
                    Mechanism = factories.MechanismFactory.Create(CKM.CKM_RSA_PKCS_PSS, parameters);
                    break;
                case SignatureFamily.RsaPkcs1:
                    Mechanism = factories.MechanismFactory.Create(CKM.CKM_RSA_PKCS);
                    break;
                case SignatureFamily.Ecdsa:
                    Mechanism = factories.MechanismFactory.Create(CKM.CKM_ECDSA);
                    break;
                default:
                    Mechanism = factories.MechanismFactory.Create(Pkcs11Constants.CkmEddsa);
                    break;
            }
        }

        public IMechanism Mechanism { get; }

        public void Dispose()
        {
            Mechanism.Dispose();
            _parameters?.Dispose();
        }
    }
}
