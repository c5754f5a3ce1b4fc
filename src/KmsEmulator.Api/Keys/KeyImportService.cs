using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using KmsEmulator.Api.Generated;
using KmsEmulator.Hsm;
using KmsEmulator.Hsm.Crypto;
using Microsoft.Extensions.Logging;

namespace KmsEmulator.Api.Keys;

/// <summary>What ImportKeyMaterial asked for, after structural validation.</summary>
public sealed record ImportRequest(
    byte[] ImportToken,
    byte[] EncryptedKeyMaterial,
    ExpirationModelType ExpirationModel,
    DateTimeOffset? ValidTo,
    ImportType? ImportType,
    string? KeyMaterialDescription,
    string? KeyMaterialId);

/// <summary>
/// Imported key material (Origin EXTERNAL): GetParametersForImport, ImportKeyMaterial, DeleteImportedKeyMaterial, and
/// the expiry of material and of import parameters on the emulator's clock. One imported material per key, as AWS had
/// it before on-demand rotation of imported keys (docs/differences-from-aws.md). Writes go through <see cref="KeyWriter"/>.
/// </summary>
public sealed partial class KeyImportService(KeyWriter writer, KeyCatalog catalog, IKeyMaterialBackend hsm, TimeProvider clock, ILogger<KeyImportService> logger)
{
    /// <summary>How long a wrapping public key and its import token stay valid (AWS: 24 hours).</summary>
    public static readonly TimeSpan ParametersValidity = TimeSpan.FromHours(24);

    /// <summary>How far ahead ValidTo may be (AWS: 365 days from the request).</summary>
    public const int MaxValidToDays = 365;

    private const byte TokenFormat = 1;
    private const int TokenIdBytes = 32;
    private static readonly byte[] TokenMagic = "KMSEMU-IMPORT"u8.ToArray();

    /// <summary>
    /// Semantic checks of GetParametersForImport that need the key: origin EXTERNAL, a key spec whose material can be
    /// imported, and a wrapping algorithm and key spec this region offers.
    /// </summary>
    public static void CheckImportable(KeyRecord key)
    {
        if (key.Origin != OriginType.EXTERNAL)
        {
            throw KmsErrors.OriginNotValidForImport(key.Arn, key.Origin);
        }

        if (!IsImportable(key.KeySpec))
        {
            throw KmsErrors.ImportNotSupportedForKeySpec(key.KeySpec);
        }
    }

    /// <summary>The HSM key spec of a wrapping key spec; RSA only outside the China regions.</summary>
    public static HsmKeySpec WrappingSpecOf(WrappingKeySpec spec) => spec switch
    {
        WrappingKeySpec.RSA_2048 => HsmKeySpec.Rsa2048,
        WrappingKeySpec.RSA_3072 => HsmKeySpec.Rsa3072,
        WrappingKeySpec.RSA_4096 => HsmKeySpec.Rsa4096,
        _ => throw KmsErrors.WrappingKeySpecNotSupported(spec.ToWire()),
    };

    /// <summary>The HSM's name of a wrapping algorithm; RSAES_PKCS1_V1_5 (withdrawn in 2023) and SM2PKE (China only) are refused.</summary>
    public static ImportWrappingAlgorithm WrappingAlgorithmOf(AlgorithmSpec algorithm) => algorithm switch
    {
        AlgorithmSpec.RSAES_OAEP_SHA_1 => ImportWrappingAlgorithm.RsaOaepSha1,
        AlgorithmSpec.RSAES_OAEP_SHA_256 => ImportWrappingAlgorithm.RsaOaepSha256,
        AlgorithmSpec.RSA_AES_KEY_WRAP_SHA_1 => ImportWrappingAlgorithm.RsaAesKeyWrapSha1,
        AlgorithmSpec.RSA_AES_KEY_WRAP_SHA_256 => ImportWrappingAlgorithm.RsaAesKeyWrapSha256,
        _ => throw KmsErrors.WrappingAlgorithmNotSupported(algorithm.ToWire()),
    };

    /// <summary>ImportKeyMaterial's checks of ExpirationModel and ValidTo (AWS: ValidationException).</summary>
    public static void CheckExpiration(ExpirationModelType model, DateTimeOffset? validTo, ImportType? importType, string? keyMaterialId, DateTimeOffset now)
    {
        if (model == ExpirationModelType.KEY_MATERIAL_EXPIRES && validTo is null)
        {
            throw KmsErrors.ValidToRequired();
        }

        if (model == ExpirationModelType.KEY_MATERIAL_DOES_NOT_EXPIRE && validTo is not null)
        {
            throw KmsErrors.ValidToNotAllowed();
        }

        if (validTo is { } until && (until <= now || until > now.AddDays(MaxValidToDays)))
        {
            throw KmsErrors.ValidToOutOfRange(MaxValidToDays);
        }

        if (importType == ImportType.NEW_KEY_MATERIAL && keyMaterialId is not null)
        {
            throw KmsErrors.KeyMaterialIdWithNewMaterial();
        }
    }

    /// <summary>GetParametersForImport: a new wrapping key pair in the HSM and its import token, valid for 24 hours.</summary>
    public async Task<(byte[] PublicKey, byte[] ImportToken, DateTimeOffset ValidTo)> GetParametersAsync(
        KeyRecord key, WrappingKeySpec wrappingKeySpec, AlgorithmSpec algorithm, CancellationToken cancellationToken)
    {
        var spec = WrappingSpecOf(wrappingKeySpec);
        WrappingAlgorithmOf(algorithm);
        CheckWrappingFits(key, algorithm);
        var now = clock.GetUtcNow();
        var validTo = now.Add(ParametersValidity);
        var tokenId = RandomNumberGenerator.GetBytes(TokenIdBytes);
        var tokenIdHex = Convert.ToHexStringLower(tokenId);
        var parameters = new ImportParameters(tokenIdHex, writer.WrappingKeyLabel(key.KeyId, tokenIdHex), wrappingKeySpec.ToWire(), algorithm.ToWire(), now, validTo);
        var publicKey = await writer.AddImportParametersAsync(key, parameters, spec, live =>
        {
            KeyStateRules.Check(KeyStateRule.Import, live);
            CheckImportable(live);
        }, cancellationToken);
        return (publicKey, EncodeToken(tokenId, validTo), validTo);
    }

    /// <summary>ImportKeyMaterial. Returns the key after the import and the material's KeyMaterialId.</summary>
    public async Task<(KeyRecord Key, string KeyMaterialId)> ImportAsync(KeyRecord key, ImportRequest request, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var token = DecodeToken(request.ImportToken);
        var key2 = await writer.ImportMaterialAsync(
            key,
            live =>
            {
                KeyStateRules.Check(KeyStateRule.Import, live);
                CheckImportable(live);
                return FindParameters(live, token, now);
            },
            async (parameters, target) =>
            {
                var algorithm = WrappingAlgorithmOf(AlgorithmSpecWire.TryParse(parameters.WrappingAlgorithm, out var a) ? a : AlgorithmSpec.RSAES_PKCS1_V1_5);
                try
                {
                    // A key pair is recognised by its public key; a secret by the check value the HSM computes with it.
                    return IsKeyPair(key.KeySpec)
                        ? SHA256.HashData(await hsm.ImportKeyPairAsync(parameters.HsmLabel, algorithm, request.EncryptedKeyMaterial, target, cancellationToken))
                        : await hsm.ImportSecretKeyAsync(parameters.HsmLabel, algorithm, request.EncryptedKeyMaterial, target, cancellationToken);
                }
                catch (HsmException e) when (e.Kind == HsmErrorKind.AuthenticationFailed)
                {
                    throw KmsErrors.InvalidCiphertext();
                }
                catch (HsmException e) when (e.Kind == HsmErrorKind.InvalidInput)
                {
                    throw KmsErrors.KeyMaterialLengthWrong(key.KeySpec);
                }
                catch (HsmException e) when (e.Kind == HsmErrorKind.Unsupported)
                {
                    throw KmsErrors.ImportNotSupportedForKeySpec(key.KeySpec);
                }
                catch (HsmException e) when (e.Kind == HsmErrorKind.KeyNotFound)
                {
                    // The wrapping key pair is gone (expired and swept meanwhile): the token no longer works.
                    throw KmsErrors.ExpiredImportToken();
                }
            },
            (live, checkValue, material) => Imported(live, request, checkValue, material, now),
            now,
            cancellationToken);
        return (key2, key2.CurrentMaterial?.MaterialId ?? MaterialIdOf(key2.KeyId, key2.Import!.CheckValue));
    }

    /// <summary>
    /// The check value <paramref name="material"/>, given in plaintext (a seed file's), gets when it is imported into a key
    /// of <paramref name="spec"/>: for AES and HMAC material the HSM computes it in a throw-away session object (the same
    /// computation the import makes), for a key pair it is the digest of the public key. Comparing it with a key's
    /// <see cref="ImportedMaterial.CheckValue"/> tells whether the key holds that material without reading it out.
    /// </summary>
    /// <exception cref="KmsException">The material does not fit the spec (IncorrectKeyMaterialException or ValidationException, as an import says).</exception>
    public async Task<string> CheckValueOfAsync(KeySpec spec, ReadOnlyMemory<byte> material, CancellationToken cancellationToken)
    {
        if (!IsImportable(spec) || KeySpecCapabilities.For(spec).Material is not { } hsmSpec)
        {
            throw KmsErrors.ImportNotSupportedForKeySpec(spec);
        }

        try
        {
            return Convert.ToHexStringLower(IsKeyPair(spec)
                ? SHA256.HashData(Pkcs8PublicKey.Of(hsmSpec, material.Span))
                : await hsm.CheckValueOfSecretAsync(hsmSpec, material, cancellationToken));
        }
        catch (HsmException e) when (e.Kind == HsmErrorKind.InvalidInput)
        {
            throw KmsErrors.KeyMaterialLengthWrong(spec);
        }
    }

    /// <summary>
    /// Imports material given in plaintext (a seed file's) through ImportKeyMaterial's own path: GetParametersForImport
    /// (RSA_2048, RSA_AES_KEY_WRAP_SHA_256) makes a wrapping key pair in the HSM, the material is wrapped here with its
    /// public key (RSA-OAEP-SHA-256 of a fresh AES key, then AES key wrap with padding), and <see cref="ImportAsync"/>
    /// unwraps it in the HSM and commits it as any import does (with the same checks: state, length, the key's expected
    /// check value). The import parameters are dropped again whatever happens. Returns the key afterwards.
    /// </summary>
    public async Task<KeyRecord> ImportPlaintextAsync(KeyRecord key, ReadOnlyMemory<byte> material, ExpirationModelType expirationModel, DateTimeOffset? validTo,
        CancellationToken cancellationToken)
    {
        CheckExpiration(expirationModel, validTo, importType: null, keyMaterialId: null, clock.GetUtcNow());
        var (publicKey, token, _) = await GetParametersAsync(key, WrappingKeySpec.RSA_2048, AlgorithmSpec.RSA_AES_KEY_WRAP_SHA_256, cancellationToken);
        var tokenId = DecodeToken(token).Id;
        try
        {
            var wrapped = WrapForImport(publicKey, material.Span);
            await ImportAsync(key, new ImportRequest(token, wrapped, expirationModel, validTo, null, null, null), cancellationToken);
        }
        finally
        {
            await writer.DropImportParametersAsync(key, p => p.TokenId == tokenId, CancellationToken.None);
        }

        return catalog.FindKey(key.Scope, key.KeyId) ?? throw KmsErrors.KeyDoesNotExist(key.Arn);
    }

    /// <summary>RSA_AES_KEY_WRAP_SHA_256 as a client does it: RSA-OAEP-SHA-256 of a fresh AES-256 key, followed by the material wrapped with it (RFC 5649).</summary>
    private static byte[] WrapForImport(byte[] wrappingPublicKey, ReadOnlySpan<byte> material)
    {
        using var rsa = RSA.Create();
        rsa.ImportSubjectPublicKeyInfo(wrappingPublicKey, out _);
        using var aes = Aes.Create();
        aes.KeySize = 256;
        var aesKey = aes.Key;
        try
        {
            return [.. rsa.Encrypt(aesKey, RSAEncryptionPadding.OaepSHA256), .. aes.EncryptKeyWrapPadded(material)];
        }
        finally
        {
            CryptographicOperations.ZeroMemory(aesKey);
        }
    }

    /// <summary>DeleteImportedKeyMaterial: the key goes to PendingImport (or stays PendingDeletion); no material, no change.</summary>
    public async Task<KeyRecord> DeleteMaterialAsync(KeyRecord key, string? keyMaterialId, CancellationToken cancellationToken)
    {
        if (key.Origin != OriginType.EXTERNAL)
        {
            throw KmsErrors.OriginNotValidForImport(key.Arn, key.Origin);
        }

        var after = await writer.DeleteImportedMaterialAsync(key, live =>
        {
            KeyStateRules.Check(KeyStateRule.DeleteImportedMaterial, live);
            if (keyMaterialId is not null && live.Materials.All(m => m.MaterialId != keyMaterialId))
            {
                throw KmsErrors.KeyMaterialNotFound(keyMaterialId, live.Arn);
            }

            return live.Import is { Present: true } ? WithoutMaterial(live) : null;
        }, cancellationToken);
        return after ?? catalog.FindKey(key.Scope, key.KeyId) ?? key;
    }

    /// <summary>
    /// The lifecycle sweep: deletes imported material whose ValidTo has passed (the key goes to PendingImport, as after
    /// DeleteImportedKeyMaterial) and drops expired import parameters with their wrapping key pairs. Returns the keys
    /// whose material expired, for the audit trail (DeleteExpiredKeyMaterial).
    /// </summary>
    public async Task<IReadOnlyList<KeyRecord>> ExpireAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var expired = new List<KeyRecord>();
        foreach (var key in catalog.AllKeys.Where(k => MaterialExpired(k, now)).ToList())
        {
            try
            {
                if (await writer.DeleteImportedMaterialAsync(key, live => MaterialExpired(live, now) ? WithoutMaterial(live) : null, cancellationToken) is { } after)
                {
                    LogMaterialExpired(key.KeyId, key.Scope.AccountId, key.Scope.Region);
                    expired.Add(after);
                }
            }
            catch (KmsException e) when (e.Code == KmsErrorCodes.NotFoundException)
            {
                // Deleted since the scan.
            }
        }

        foreach (var key in catalog.AllKeys.Where(k => k.ImportParameters.Any(p => p.ValidTo <= now)).ToList())
        {
            await writer.DropExpiredImportParametersAsync(key, now, cancellationToken);
        }

        return expired;
    }

    /// <summary>The KeyMaterialId of imported material: derived from the key id and the material (its check value), as AWS derives it from both.</summary>
    public static string MaterialIdOf(string keyId, string checkValue) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{keyId}\n{checkValue}")));

    private static bool IsImportable(KeySpec spec) =>
        spec == KeySpec.SYMMETRIC_DEFAULT || IsHmac(spec) || IsKeyPair(spec);

    private static bool IsHmac(KeySpec spec) => spec is KeySpec.HMAC_224 or KeySpec.HMAC_256 or KeySpec.HMAC_384 or KeySpec.HMAC_512;

    private static bool IsRsa(KeySpec spec) => spec is KeySpec.RSA_2048 or KeySpec.RSA_3072 or KeySpec.RSA_4096;

    /// <summary>Key pairs whose private key the emulator imports: RSA and the Weierstrass EC curves (not Ed25519, SM2, ML-DSA).</summary>
    private static bool IsKeyPair(KeySpec spec) =>
        IsRsa(spec) || spec is KeySpec.ECC_NIST_P256 or KeySpec.ECC_NIST_P384 or KeySpec.ECC_NIST_P521 or KeySpec.ECC_SECG_P256K1;

    /// <summary>
    /// AWS: an RSA private key can only be wrapped with an RSA_AES_KEY_WRAP algorithm (it is too long for RSA-OAEP). The
    /// emulator asks the same of EC private keys, which AWS also takes with RSA-OAEP (docs/differences-from-aws.md).
    /// </summary>
    public static void CheckWrappingFits(KeyRecord key, AlgorithmSpec algorithm)
    {
        if (IsKeyPair(key.KeySpec) && algorithm is not (AlgorithmSpec.RSA_AES_KEY_WRAP_SHA_1 or AlgorithmSpec.RSA_AES_KEY_WRAP_SHA_256))
        {
            throw KmsErrors.WrappingAlgorithmCannotWrapKeySpec(algorithm.ToWire(), key.KeySpec);
        }
    }

    private static bool MaterialExpired(KeyRecord key, DateTimeOffset now) =>
        key.Import is { Present: true, ValidTo: { } validTo } && validTo <= now;

    private static KeyRecord WithoutMaterial(KeyRecord key) => key with
    {
        KeyState = key.KeyState == KeyState.PendingDeletion ? KeyState.PendingDeletion : KeyState.PendingImport,
        Import = key.Import! with
        {
            Present = false,
            ExpirationModel = null,
            ValidTo = null,
            StateAfterImport = key.KeyState == KeyState.Disabled ? KeyState.Disabled
                : key.KeyState == KeyState.PendingDeletion ? key.Import!.StateAfterImport
                : KeyState.Enabled,
        },
    };

    private static KeyRecord Imported(KeyRecord live, ImportRequest request, string checkValue, KeyMaterialVersion material, DateTimeOffset now)
    {
        var previous = live.Import;
        var materialId = MaterialIdOf(live.KeyId, checkValue);
        var importType = request.ImportType ?? (previous is null ? ImportType.NEW_KEY_MATERIAL : ImportType.EXISTING_KEY_MATERIAL);
        if (previous is not null && previous.CheckValue != checkValue)
        {
            throw importType == ImportType.NEW_KEY_MATERIAL ? KmsErrors.SecondImportedMaterialNotSupported(live.Arn) : KmsErrors.NotTheImportedMaterial(live.Arn);
        }

        if (previous is not null && importType == ImportType.NEW_KEY_MATERIAL)
        {
            throw KmsErrors.MaterialAlreadyImported(live.Arn);
        }

        if (previous is null && importType == ImportType.EXISTING_KEY_MATERIAL)
        {
            throw KmsErrors.NoMaterialToReimport(live.Arn);
        }

        if (request.KeyMaterialId is { } expectedId && expectedId != materialId)
        {
            throw KmsErrors.KeyMaterialIdMismatch(expectedId, live.Arn);
        }

        var version = live.Materials.IsEmpty ? material with { MaterialId = materialId, CreatedAt = now } : live.Materials[0];
        return live with
        {
            KeyState = live.KeyState == KeyState.PendingImport ? previous?.StateAfterImport ?? KeyState.Enabled : live.KeyState,
            Materials = live.Materials.IsEmpty ? [version] : live.Materials,
            CurrentMaterialVersion = version.Version,
            Import = new ImportedMaterial(
                checkValue,
                Present: true,
                request.ExpirationModel.ToWire(),
                request.ExpirationModel == ExpirationModelType.KEY_MATERIAL_EXPIRES ? request.ValidTo : null,
                request.KeyMaterialDescription ?? previous?.Description,
                previous?.StateAfterImport ?? KeyState.Enabled),
        };
    }

    private static ImportParameters FindParameters(KeyRecord live, (string Id, DateTimeOffset ValidTo) token, DateTimeOffset now)
    {
        var parameters = live.ImportParameters.FirstOrDefault(p => p.TokenId == token.Id);
        if (parameters is null)
        {
            // Not this key's token, or one whose parameters expired and were swept: its own (unauthenticated) expiry
            // only chooses between the two errors, it never makes a token valid.
            throw token.ValidTo <= now ? KmsErrors.ExpiredImportToken() : KmsErrors.InvalidImportToken();
        }

        if (parameters.ValidTo.ToUnixTimeSeconds() != token.ValidTo.ToUnixTimeSeconds())
        {
            throw KmsErrors.InvalidImportToken();
        }

        return parameters.ValidTo <= now ? throw KmsErrors.ExpiredImportToken() : parameters;
    }

    /// <summary>The import token: a magic, a format byte, ParametersValidTo (Unix seconds) and 32 random bytes that name the stored parameters.</summary>
    private static byte[] EncodeToken(byte[] tokenId, DateTimeOffset validTo)
    {
        var token = new byte[TokenMagic.Length + 1 + 8 + TokenIdBytes];
        TokenMagic.CopyTo(token, 0);
        token[TokenMagic.Length] = TokenFormat;
        BinaryPrimitives.WriteInt64BigEndian(token.AsSpan(TokenMagic.Length + 1), validTo.ToUnixTimeSeconds());
        tokenId.CopyTo(token, TokenMagic.Length + 9);
        return token;
    }

    private static (string Id, DateTimeOffset ValidTo) DecodeToken(byte[] token)
    {
        if (token.Length != TokenMagic.Length + 1 + 8 + TokenIdBytes || !token.AsSpan(0, TokenMagic.Length).SequenceEqual(TokenMagic) || token[TokenMagic.Length] != TokenFormat)
        {
            throw KmsErrors.InvalidImportToken();
        }

        var seconds = BinaryPrimitives.ReadInt64BigEndian(token.AsSpan(TokenMagic.Length + 1));
        if (seconds < 0 || seconds > DateTimeOffset.MaxValue.ToUnixTimeSeconds())
        {
            throw KmsErrors.InvalidImportToken();
        }

        return (Convert.ToHexStringLower(token.AsSpan(TokenMagic.Length + 9)), DateTimeOffset.FromUnixTimeSeconds(seconds));
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Deleted the imported key material of key {KeyId} in {AccountId}/{Region}: its ValidTo has passed")]
    private partial void LogMaterialExpired(string keyId, string accountId, string region);
}
