using System.Numerics;
using System.Security.Cryptography;
using KmsEmulator.Hsm.Crypto;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace KmsEmulator.Hsm.Pkcs11;

/// <summary>
/// Imported key material (ImportKeyMaterial): wrapped material is unwrapped with an import wrapping key pair into a
/// private, sensitive, non-extractable token object, inside the HSM wherever SoftHSM2 2.6.1 has the mechanism.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>RSAES_OAEP_SHA_1: one C_UnwrapKey with CKM_RSA_PKCS_OAEP (SHA-1); the material never leaves the HSM.</item>
/// <item>RSA_AES_KEY_WRAP_SHA_1: C_UnwrapKey (OAEP SHA-1) of the ephemeral AES key into a session object that may only
/// unwrap, then C_UnwrapKey with CKM_AES_KEY_WRAP_PAD of the material; nothing leaves the HSM.</item>
/// <item>RSA_AES_KEY_WRAP_SHA_256: SoftHSM2 2.6.1 has no SHA-256 OAEP, so the HSM does the raw RSA step
/// (CKM_RSA_X_509) and the OAEP decoding runs here: the ephemeral AES key is in process memory until it is a session
/// object (C_CreateObject), then zeroed. The material itself is unwrapped in the HSM.</item>
/// <item>RSAES_OAEP_SHA_256: the same raw RSA step and decoding, so the material itself is in process memory until it
/// is a token object (C_CreateObject), then zeroed.</item>
/// </list>
/// Every failure of the wrapped blob (length, padding, wrong wrapping key, corrupt key wrap) gives one and the same
/// <see cref="HsmErrorKind.AuthenticationFailed"/>, so that no answer tells which step failed.
/// </remarks>
public sealed partial class Pkcs11Backend
{
    private const string UnwrapFailedMessage = "The wrapped key material could not be unwrapped with this wrapping key and algorithm.";

    /// <summary>The message the check value of imported material is computed over (see <see cref="ImportSecretKeyAsync"/>).</summary>
    private static readonly byte[] CheckValueMessage = "KmsEmulator imported key material check value v1"u8.ToArray();

    /// <summary>The label of the session object <see cref="CheckValueOfSecretAsync"/> makes (never a token object's).</summary>
    private const string CheckValueProbeLabel = "kmsemu-check-value-probe";

    /// <inheritdoc />
    public async ValueTask<byte[]> ImportSecretKeyAsync(string wrappingLabel, ImportWrappingAlgorithm algorithm,
        ReadOnlyMemory<byte> encryptedKeyMaterial, HsmKeyDescription target, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(wrappingLabel);
        ArgumentException.ThrowIfNullOrEmpty(target.Label);
        var imported = target with { Imported = true };
        var template = ForNewObject(AttributeTemplates.ForImportedKey(imported, CKO.CKO_SECRET_KEY));
        var wrapped = encryptedKeyMaterial.ToArray();
        _defects.TryRemove(target.Label, out _);
        var (keyObject, checkValue) = await WithKeyAsync(wrappingLabel, CKO.CKO_PRIVATE_KEY, "import key material", (session, wrappingKey) =>
        {
            if (wrappingKey.KeyType != CKK.CKK_RSA || wrappingKey.ModulusBytes == 0)
            {
                throw new HsmException(HsmErrorKind.InvalidInput, $"The key '{wrappingLabel}' is not an RSA wrapping key.");
            }

            using (var existing = Pkcs11Template.From(session, AttributeTemplates.TokenObjectsLabelled(target.Label)))
            {
                if (FindFirst(session, existing) is not null)
                {
                    throw new HsmException(HsmErrorKind.Internal, $"The token already holds an object labelled '{target.Label}'.");
                }
            }

            var handle = Unwrap(session, wrappingKey, algorithm, wrapped, template, target.Spec);
            try
            {
                var snapshot = ObjectSnapshot.Read(session, handle, ObjectSnapshot.KeyAttributes);
                var differences = snapshot.Differences(AttributeTemplates.Expected(imported, CKO.CKO_SECRET_KEY));
                if (differences.Count > 0)
                {
                    throw new HsmException(HsmErrorKind.Internal,
                        $"The HSM made imported material labelled '{target.Label}' that is not what was asked ({string.Join("; ", differences)}); it was destroyed.");
                }

                return (KeyObject.From(snapshot), CheckValue(session, handle, target.Spec));
            }
            catch
            {
                DestroyQuietly(session, handle);
                throw;
            }
        }, cancellationToken).ConfigureAwait(false);

        Remember(target.Label, CKO.CKO_SECRET_KEY, keyObject);
        return checkValue;
    }

    /// <inheritdoc />
    public async ValueTask<byte[]> CheckValueOfSecretAsync(HsmKeySpec spec, ReadOnlyMemory<byte> material, CancellationToken cancellationToken = default)
    {
        if (AttributeTemplates.ClassesOf(spec) is not [CKO.CKO_SECRET_KEY])
        {
            throw new HsmException(HsmErrorKind.Unsupported, $"Only AES and HMAC material has a check value, not {spec}.");
        }

        RequireMaterialLength(spec, material.Length);

        // The imported key's own template, as a session object under a label no token object has.
        var probe = new HsmKeyDescription(CheckValueProbeLabel, spec, spec == HsmKeySpec.Aes256 ? HsmKeyUsage.EncryptDecrypt : HsmKeyUsage.GenerateVerifyMac, Imported: true);
        var template = AttributeTemplates.ForImportedKey(probe, CKO.CKO_SECRET_KEY)
            .Select(a => a.Type == CKA.CKA_TOKEN ? a with { Value = false } : a)
            .ToArray();
        var value = material.ToArray();
        try
        {
            return await RunAsync("compute the check value of key material", session =>
            {
                IObjectHandle handle;
                using (var target = Pkcs11Template.From(session, [.. template, new(CKA.CKA_VALUE, value)]))
                {
                    handle = session.CreateObject(target.Attributes);
                }

                try
                {
                    var snapshot = ObjectSnapshot.Read(session, handle, ObjectSnapshot.KeyAttributes);
                    var differences = snapshot.Differences(AttributeTemplates.Expected(probe, CKO.CKO_SECRET_KEY, sessionCopy: true));
                    if (differences.Count > 0)
                    {
                        throw new HsmException(HsmErrorKind.Internal,
                            $"The HSM made a check value session object that is not what was asked ({string.Join("; ", differences)}); it was destroyed.");
                    }

                    return CheckValue(session, handle, spec);
                }
                finally
                {
                    DestroyQuietly(session, handle);
                }
            }, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // The session pool may run the work twice (a lost session), so the copy is zeroed only once it is done.
            CryptographicOperations.ZeroMemory(value);
        }
    }

    /// <inheritdoc />
    public async ValueTask<byte[]> ImportKeyPairAsync(string wrappingLabel, ImportWrappingAlgorithm algorithm,
        ReadOnlyMemory<byte> encryptedKeyMaterial, HsmKeyDescription target, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(wrappingLabel);
        ArgumentException.ThrowIfNullOrEmpty(target.Label);
        if (!(KeySpecs.IsRsa(target.Spec) || KeySpecs.IsEc(target.Spec))
            || algorithm is not (ImportWrappingAlgorithm.RsaAesKeyWrapSha1 or ImportWrappingAlgorithm.RsaAesKeyWrapSha256))
        {
            throw new HsmException(HsmErrorKind.Unsupported, $"Only RSA and EC private keys wrapped with RSA_AES_KEY_WRAP are imported as key pairs, not {target.Spec} with {algorithm}.");
        }

        KeySpecs.RequireKeyPairUsage(target.Spec, target.Usage);
        var imported = target with { Imported = true };
        var privateTemplate = ForNewObject(AttributeTemplates.ForImportedKey(imported, CKO.CKO_PRIVATE_KEY));
        var publicTemplate = ForNewObject(AttributeTemplates.ForImportedKey(imported, CKO.CKO_PUBLIC_KEY));
        var wrapped = encryptedKeyMaterial.ToArray();
        _defects.TryRemove(target.Label, out _);
        var (objects, spki) = await WithKeyAsync(wrappingLabel, CKO.CKO_PRIVATE_KEY, "import key material", (session, wrappingKey) =>
        {
            if (wrappingKey.KeyType != CKK.CKK_RSA || wrappingKey.ModulusBytes == 0)
            {
                throw new HsmException(HsmErrorKind.InvalidInput, $"The key '{wrappingLabel}' is not an RSA wrapping key.");
            }

            using (var existing = Pkcs11Template.From(session, AttributeTemplates.TokenObjectsLabelled(target.Label)))
            {
                if (FindFirst(session, existing) is not null)
                {
                    throw new HsmException(HsmErrorKind.Internal, $"The token already holds an object labelled '{target.Label}'.");
                }
            }

            // EC: the public point first, from a throw-away session copy (SoftHSM2 keeps no point with a private key).
            var ecPoint = KeySpecs.IsEc(target.Spec) ? FindEcPublicPoint(session, wrappingKey, algorithm, wrapped, target.Spec) : null;
            var privateHandle = Unwrap(session, wrappingKey, algorithm, wrapped, privateTemplate, target.Spec);
            IObjectHandle? publicHandle = null;
            try
            {
                var privateSnapshot = ObjectSnapshot.Read(session, privateHandle, ObjectSnapshot.KeyAttributes);
                var privateKey = KeyObject.From(privateSnapshot);
                Pkcs11Attribute publicValue;
                if (ecPoint is not null)
                {
                    if (privateKey.Spec != target.Spec)
                    {
                        throw new HsmException(HsmErrorKind.InvalidInput, $"The key material is not an {target.Spec} private key.");
                    }

                    publicValue = new(CKA.CKA_EC_POINT, DerOctetString(ecPoint));
                }
                else
                {
                    var exponent = privateSnapshot.Bytes(CKA.CKA_PUBLIC_EXPONENT) ?? [];
                    if (privateKey.Spec != target.Spec || !exponent.AsSpan().TrimStart((byte)0).SequenceEqual(Pkcs11Constants.RsaPublicExponent))
                    {
                        throw new HsmException(HsmErrorKind.InvalidInput, $"The key material is not an {target.Spec} private key with public exponent 65537.");
                    }

                    publicValue = new(CKA.CKA_MODULUS, privateSnapshot.Bytes(CKA.CKA_MODULUS)!);
                }

                using (var template = Pkcs11Template.From(session, [.. publicTemplate, publicValue]))
                {
                    publicHandle = _tokenObjects.Creating(() => session.CreateObject(template.Attributes));
                }

                var publicSnapshot = ObjectSnapshot.Read(session, publicHandle, ObjectSnapshot.KeyAttributes);
                var differences = privateSnapshot.Differences(AttributeTemplates.Expected(imported, CKO.CKO_PRIVATE_KEY)).Select(d => $"{CKO.CKO_PRIVATE_KEY}: {d}")
                    .Concat(publicSnapshot.Differences(AttributeTemplates.Expected(imported, CKO.CKO_PUBLIC_KEY)).Select(d => $"{CKO.CKO_PUBLIC_KEY}: {d}"))
                    .ToList();
                var publicKey = KeyObject.From(publicSnapshot);
                if (publicKey.Spec != target.Spec)
                {
                    differences.Add($"the public key is a {publicKey.Spec} key");
                }

                if (differences.Count > 0)
                {
                    throw new HsmException(HsmErrorKind.Internal,
                        $"The HSM made an imported key pair labelled '{target.Label}' that is not what was asked ({string.Join("; ", differences)}); it was destroyed.");
                }

                return (new[] { (CKO.CKO_PRIVATE_KEY, privateKey), (CKO.CKO_PUBLIC_KEY, publicKey) }, ReadSubjectPublicKeyInfo(session, publicKey));
            }
            catch
            {
                DestroyQuietly(session, privateHandle);
                if (publicHandle is not null)
                {
                    DestroyQuietly(session, publicHandle);
                }

                throw;
            }
        }, cancellationToken).ConfigureAwait(false);

        foreach (var (objectClass, keyObject) in objects)
        {
            Remember(target.Label, objectClass, keyObject);
        }

        return spki;
    }

    /// <summary>
    /// The uncompressed public point (04 ‖ X ‖ Y) of a wrapped EC private key, found without the private scalar leaving
    /// the HSM: a session copy unwrapped from the same blob derives ECDH with the curve's generator (which gives X), and a
    /// signature it makes tells which of the two points with that X is the public key. The copy is destroyed.
    /// </summary>
    private byte[] FindEcPublicPoint(ISession session, KeyObject wrappingKey, ImportWrappingAlgorithm algorithm, byte[] wrapped, HsmKeySpec spec)
    {
        var probe = Unwrap(session, wrappingKey, algorithm, wrapped, AttributeTemplates.EcPublicPointProbe(), spec);
        try
        {
            var parameters = Pkcs11Attributes.ReadBytes(session, probe, CKA.CKA_EC_PARAMS)[0];
            if (KeyEncoding.SpecOfEcParameters(parameters) != spec)
            {
                throw new HsmException(HsmErrorKind.InvalidInput, $"The key material is not an {spec} private key.");
            }

            using var curveKey = ECDsa.Create(CurveOf(spec));
            var curve = curveKey.ExportExplicitParameters(includePrivateParameters: false).Curve;
            var fieldBytes = KeySpecs.FieldBytes(spec);
            byte[] generator = [0x04, .. curve.G.X!, .. curve.G.Y!];
            byte[] x;
            using (var deriveParameters = session.Factories.MechanismParamsFactory.CreateCkEcdh1DeriveParams((ulong)CKD.CKD_NULL, null, generator))
            using (var derive = session.Factories.MechanismFactory.Create(CKM.CKM_ECDH1_DERIVE, deriveParameters))
            using (var template = Pkcs11Template.From(session, AttributeTemplates.DerivedSecret(fieldBytes)))
            {
                var derived = session.DeriveKey(derive, probe, template.Attributes);
                try
                {
                    x = Pkcs11Attributes.ReadRequiredBytes(session, derived, CKA.CKA_VALUE)[0];
                }
                finally
                {
                    DestroyQuietly(session, derived);
                }
            }

            // y² = x³ + ax + b (mod p); every supported curve has p ≡ 3 (mod 4), so a square root is rhs^((p+1)/4).
            var p = Unsigned(curve.Prime!);
            var xValue = Unsigned(x);
            var rhs = BigInteger.Remainder((BigInteger.ModPow(xValue, 3, p) + (Unsigned(curve.A!) * xValue) + Unsigned(curve.B!)) % p + p, p);
            var y = BigInteger.ModPow(rhs, (p + 1) / 4, p);
            if (BigInteger.ModPow(y, 2, p) != rhs)
            {
                throw new HsmException(HsmErrorKind.Internal, "The HSM derived an x that is not on the curve.");
            }

            var digest = SHA256.HashData(CheckValueMessage);
            byte[] signature;
            using (var ecdsa = session.Factories.MechanismFactory.Create(CKM.CKM_ECDSA))
            {
                signature = session.Sign(ecdsa, probe, digest);
            }

            foreach (var candidate in new[] { y, p - y })
            {
                var yBytes = FixedWidth(candidate, fieldBytes);
                using var verifier = ECDsa.Create(new ECParameters { Curve = CurveOf(spec), Q = new ECPoint { X = x, Y = yBytes } });
                if (verifier.VerifyHash(digest, signature, DSASignatureFormat.IeeeP1363FixedFieldConcatenation))
                {
                    return [0x04, .. x, .. yBytes];
                }
            }

            throw new HsmException(HsmErrorKind.Internal, "Neither point with the derived x verifies the imported key's signature.");
        }
        finally
        {
            DestroyQuietly(session, probe);
        }
    }

    private static ECCurve CurveOf(HsmKeySpec spec) => spec switch
    {
        HsmKeySpec.EcP256 => ECCurve.NamedCurves.nistP256,
        HsmKeySpec.EcP384 => ECCurve.NamedCurves.nistP384,
        HsmKeySpec.EcP521 => ECCurve.NamedCurves.nistP521,
        _ => ECCurve.CreateFromFriendlyName("secP256k1"),
    };

    private static BigInteger Unsigned(byte[] bigEndian) => new(bigEndian, isUnsigned: true, isBigEndian: true);

    private static byte[] FixedWidth(BigInteger value, int bytes)
    {
        var raw = value.ToByteArray(isUnsigned: true, isBigEndian: true);
        var result = new byte[bytes];
        raw.CopyTo(result, bytes - raw.Length);
        return result;
    }

    /// <summary>A DER OCTET STRING around <paramref name="value"/> (CKA_EC_POINT's encoding).</summary>
    private static byte[] DerOctetString(byte[] value) => value.Length < 128
        ? [0x04, (byte)value.Length, .. value]
        : [0x04, 0x81, (byte)value.Length, .. value];

    /// <summary>Unwraps the material into a new token object made from <paramref name="template"/>.</summary>
    private IObjectHandle Unwrap(ISession session, KeyObject wrappingKey, ImportWrappingAlgorithm algorithm, byte[] wrapped,
        Pkcs11Attribute[] template, HsmKeySpec spec)
    {
        var modulus = wrappingKey.ModulusBytes;
        switch (algorithm)
        {
            case ImportWrappingAlgorithm.RsaOaepSha1:
            {
                RequireUnwrap(wrapped.Length == modulus);
                if (spec == HsmKeySpec.Aes256)
                {
                    // SoftHSM2 does not report the length of an unwrapped secret and accepts 16, 24 and 32-byte AES
                    // keys alike; a throw-away HMAC-SHA-224 key from the same blob proves at least 28 bytes, so only
                    // a 32-byte AES key passes both checks.
                    ProbeLengthAtLeast28(session, wrappingKey, wrapped);
                }

                using var target = Pkcs11Template.From(session, template);
                using var parameters = OaepSha1Parameters(session);
                using var oaep = session.Factories.MechanismFactory.Create(CKM.CKM_RSA_PKCS_OAEP, parameters);
                return UnwrapOrFail(() => _tokenObjects.Creating(() => session.UnwrapKey(oaep, wrappingKey.Handle, wrapped, target.Attributes)));
            }

            case ImportWrappingAlgorithm.RsaOaepSha256:
            {
                RequireUnwrap(wrapped.Length == modulus);
                var material = RawOaepSha256Decrypt(session, wrappingKey, wrapped);
                try
                {
                    RequireMaterialLength(spec, material.Length);
                    using var target = Pkcs11Template.From(session, [.. template, new(CKA.CKA_VALUE, material)]);
                    return _tokenObjects.Creating(() => session.CreateObject(target.Attributes));
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(material);
                }
            }

            case ImportWrappingAlgorithm.RsaAesKeyWrapSha1:
            case ImportWrappingAlgorithm.RsaAesKeyWrapSha256:
            {
                RequireUnwrap(wrapped.Length > modulus);
                var keyWrap = wrapped[modulus..];
                RequireUnwrap(keyWrap.Length >= 16 && keyWrap.Length % 8 == 0);
                if (spec == HsmKeySpec.Aes256 && keyWrap.Length != 40)
                {
                    // RFC 5649 output is the padded length plus 8: 25 to 32 bytes of material give 40, and of those
                    // only 32 is an AES key length.
                    throw MaterialLengthWrong(spec);
                }

                var ephemeral = algorithm == ImportWrappingAlgorithm.RsaAesKeyWrapSha1
                    ? UnwrapEphemeralSha1(session, wrappingKey, wrapped[..modulus])
                    : CreateEphemeralSha256(session, wrappingKey, wrapped[..modulus]);
                try
                {
                    using var target = Pkcs11Template.From(session, template);
                    using var mechanism = session.Factories.MechanismFactory.Create(CKM.CKM_AES_KEY_WRAP_PAD);
                    return UnwrapOrFail(() => _tokenObjects.Creating(() => session.UnwrapKey(mechanism, ephemeral, keyWrap, target.Attributes)));
                }
                finally
                {
                    DestroyQuietly(session, ephemeral);
                }
            }

            default:
                throw new HsmException(HsmErrorKind.Unsupported, $"Unknown wrapping algorithm {algorithm}.");
        }
    }

    /// <summary>RSA_AES_KEY_WRAP_SHA_1, step 1: the ephemeral AES key unwrapped in the HSM into an unwrap-only session key.</summary>
    private static IObjectHandle UnwrapEphemeralSha1(ISession session, KeyObject wrappingKey, byte[] wrappedAesKey)
    {
        using var template = Pkcs11Template.From(session, AttributeTemplates.EphemeralUnwrapKey());
        using var parameters = OaepSha1Parameters(session);
        using var oaep = session.Factories.MechanismFactory.Create(CKM.CKM_RSA_PKCS_OAEP, parameters);
        return UnwrapOrFail(() => session.UnwrapKey(oaep, wrappingKey.Handle, wrappedAesKey, template.Attributes));
    }

    /// <summary>
    /// RSA_AES_KEY_WRAP_SHA_256, step 1: raw RSA in the HSM, OAEP-SHA-256 decoding here, and the ephemeral AES key
    /// becomes an unwrap-only session key at once; its bytes are zeroed before this returns.
    /// </summary>
    private static IObjectHandle CreateEphemeralSha256(ISession session, KeyObject wrappingKey, byte[] wrappedAesKey)
    {
        var aesKey = RawOaepSha256Decrypt(session, wrappingKey, wrappedAesKey);
        try
        {
            RequireUnwrap(aesKey.Length is 16 or 24 or 32);
            using var template = Pkcs11Template.From(session, [.. AttributeTemplates.EphemeralUnwrapKey(), new(CKA.CKA_VALUE, aesKey)]);
            return session.CreateObject(template.Attributes);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(aesKey);
        }
    }

    /// <summary>CKM_RSA_X_509 in the HSM, then EME-OAEP (SHA-256) decoding; every failure is the same AuthenticationFailed.</summary>
    private static byte[] RawOaepSha256Decrypt(ISession session, KeyObject wrappingKey, byte[] ciphertext)
    {
        RequireUnwrap(ciphertext.Length == wrappingKey.ModulusBytes);
        using var raw = session.Factories.MechanismFactory.Create(CKM.CKM_RSA_X_509);
        byte[] decrypted;
        try
        {
            decrypted = session.Decrypt(raw, wrappingKey.Handle, ciphertext);
        }
        catch (Pkcs11Exception e) when (CkrMapper.IsDecryptionFailure(e.RV))
        {
            throw new HsmException(HsmErrorKind.AuthenticationFailed, UnwrapFailedMessage, e.RV.ToString(), e);
        }

        var encoded = new byte[wrappingKey.ModulusBytes];
        try
        {
            decrypted.AsSpan(Math.Max(0, decrypted.Length - encoded.Length))
                .CopyTo(encoded.AsSpan(Math.Max(0, encoded.Length - decrypted.Length)));
            return Oaep.TryDecode(encoded, HashAlgorithmName.SHA256, out var message)
                ? message
                : throw new HsmException(HsmErrorKind.AuthenticationFailed, UnwrapFailedMessage);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(decrypted);
            CryptographicOperations.ZeroMemory(encoded);
        }
    }

    /// <summary>
    /// Unwraps the same OAEP-SHA-1 blob into a throw-away session HMAC key and signs with HMAC-SHA-224, which SoftHSM2
    /// refuses for keys under 28 bytes. A blob that does not unwrap fails as every other bad blob does.
    /// </summary>
    private void ProbeLengthAtLeast28(ISession session, KeyObject wrappingKey, byte[] wrapped)
    {
        IObjectHandle probe;
        using (var template = Pkcs11Template.From(session, AttributeTemplates.LengthProbe()))
        using (var parameters = OaepSha1Parameters(session))
        using (var oaep = session.Factories.MechanismFactory.Create(CKM.CKM_RSA_PKCS_OAEP, parameters))
        {
            probe = UnwrapOrFail(() => session.UnwrapKey(oaep, wrappingKey.Handle, wrapped, template.Attributes));
        }

        try
        {
            using var hmac = session.Factories.MechanismFactory.Create(CKM.CKM_SHA224_HMAC);
            var mac = session.Sign(hmac, probe, CheckValueMessage);
            CryptographicOperations.ZeroMemory(mac);
        }
        catch (Pkcs11Exception e) when (e.RV != CKR.CKR_SESSION_HANDLE_INVALID)
        {
            throw new HsmException(HsmErrorKind.InvalidInput, MaterialLengthWrong(HsmKeySpec.Aes256).Message, e.RV.ToString(), e);
        }
        finally
        {
            DestroyQuietly(session, probe);
        }
    }

    /// <summary>
    /// A fingerprint of the material, computed with it inside the HSM, to recognise the same material when it is
    /// imported again: SHA-256 of an AES-GCM encryption (fixed zero IV, a fixed message as AAD, 32 zero bytes) or of
    /// an HMAC of the fixed message. It also proves the object works as the key it claims to be (a wrong length fails).
    /// </summary>
    private static byte[] CheckValue(ISession session, IObjectHandle handle, HsmKeySpec spec)
    {
        byte[] output;
        try
        {
            if (spec == HsmKeySpec.Aes256)
            {
                using var parameters = session.Factories.MechanismParamsFactory.CreateCkGcmParams(new byte[GcmIvBytes], GcmIvBits, CheckValueMessage, GcmTagBits);
                using var gcm = session.Factories.MechanismFactory.Create(CKM.CKM_AES_GCM, parameters);
                output = session.Encrypt(gcm, handle, new byte[32]);
            }
            else
            {
                using var hmac = session.Factories.MechanismFactory.Create(spec switch
                {
                    HsmKeySpec.Hmac224 => CKM.CKM_SHA224_HMAC,
                    HsmKeySpec.Hmac256 => CKM.CKM_SHA256_HMAC,
                    HsmKeySpec.Hmac384 => CKM.CKM_SHA384_HMAC,
                    _ => CKM.CKM_SHA512_HMAC,
                });
                output = session.Sign(hmac, handle, CheckValueMessage);
            }
        }
        catch (Pkcs11Exception e) when (!CkrMapper.IsSessionLost(e.RV))
        {
            throw new HsmException(HsmErrorKind.InvalidInput, MaterialLengthWrong(spec).Message, e.RV.ToString(), e);
        }

        try
        {
            return SHA256.HashData(output);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(output);
        }
    }

    private static void RequireMaterialLength(HsmKeySpec spec, int length)
    {
        var fits = spec == HsmKeySpec.Aes256 ? length == 32 : length >= KeySpecs.HmacKeyBytes(spec);
        if (!fits)
        {
            throw MaterialLengthWrong(spec);
        }
    }

    private static HsmException MaterialLengthWrong(HsmKeySpec spec) => new(HsmErrorKind.InvalidInput, spec == HsmKeySpec.Aes256
        ? "The key material is not a 256-bit (32-byte) AES key."
        : $"The key material is shorter than the {KeySpecs.HmacKeyBytes(spec)} bytes a {spec} key needs.");

    private static void RequireUnwrap(bool condition)
    {
        if (!condition)
        {
            throw new HsmException(HsmErrorKind.AuthenticationFailed, UnwrapFailedMessage);
        }
    }

    private static IObjectHandle UnwrapOrFail(Func<IObjectHandle> unwrap)
    {
        try
        {
            return unwrap();
        }
        catch (Pkcs11Exception e) when (IsUnwrapFailure(e.RV))
        {
            throw new HsmException(HsmErrorKind.AuthenticationFailed, UnwrapFailedMessage, e.RV.ToString(), e);
        }
    }

    /// <summary>The codes SoftHSM2 returns for a blob that does not unwrap (bad padding, wrong key, bad length, bad integrity check).</summary>
    private static bool IsUnwrapFailure(CKR rv) =>
        CkrMapper.IsDecryptionFailure(rv) || rv is CKR.CKR_WRAPPED_KEY_INVALID or CKR.CKR_WRAPPED_KEY_LEN_RANGE
            or CKR.CKR_KEY_SIZE_RANGE or CKR.CKR_ATTRIBUTE_VALUE_INVALID;
}
