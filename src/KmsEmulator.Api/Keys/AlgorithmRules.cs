using KmsEmulator.Api.Generated;
using KmsEmulator.Hsm;

namespace KmsEmulator.Api.Keys;

/// <summary>How to encrypt or decrypt with a key: the algorithm, and for RSA keys the HSM scheme (null means symmetric).</summary>
public readonly record struct EncryptionPlan(EncryptionAlgorithmSpec Algorithm, RsaEncryptionScheme? RsaScheme)
{
    public bool IsSymmetric => RsaScheme is null;
}

/// <summary>How to sign or verify: the algorithm, its HSM scheme and whether the message is already a digest.</summary>
public readonly record struct SigningPlan(SigningAlgorithmSpec Algorithm, SignatureScheme Scheme, bool IsDigest);

/// <summary>A MAC algorithm and its HSM counterpart.</summary>
public readonly record struct MacPlan(MacAlgorithmSpec Algorithm, MacAlgorithm HsmAlgorithm);

/// <summary>
/// The semantic checks of the cryptographic operations, driven by <see cref="KeySpecCapabilities"/> and
/// <see cref="AlgorithmCapabilities"/>, with AWS's errors. Pure functions: the pipeline runs them before DryRun, the
/// key service again before it uses the HSM. Key state and key usage are the pipeline's (KeyStateRules, RequiredUsage).
/// </summary>
public static class AlgorithmRules
{
    /// <summary>
    /// The encryption algorithm for Encrypt, Decrypt, ReEncrypt and the data-key operations. An absent algorithm means
    /// SYMMETRIC_DEFAULT, which AWS then reports as incompatible with an RSA key. RSA keys take no encryption context
    /// and at most modulus − 2·hash − 2 bytes of plaintext.
    /// </summary>
    public static EncryptionPlan Encryption(KeyRecord key, string? requested, IReadOnlyDictionary<string, string>? context, int? plaintextLength = null)
    {
        var capability = KeySpecCapabilities.For(key.KeySpec);
        var algorithm = EncryptionAlgorithmSpec.SYMMETRIC_DEFAULT;
        if ((requested is not null && !EncryptionAlgorithmSpecWire.TryParse(requested, out algorithm))
            || !capability.EncryptionAlgorithmsFor(key.KeyUsage).Contains(algorithm))
        {
            throw KmsErrors.IncompatibleAlgorithm(requested ?? algorithm.ToWire(), key.KeySpec);
        }

        var scheme = AlgorithmCapabilities.For(algorithm);
        if (scheme.Scheme is null)
        {
            return new EncryptionPlan(algorithm, null);
        }

        if (context is { Count: > 0 })
        {
            throw KmsErrors.EncryptionContextWithAsymmetricKey(key.KeySpec);
        }

        var maximum = capability.RsaModulusBytes - (2 * scheme.OaepHashBytes) - 2;
        if (plaintextLength > maximum)
        {
            throw KmsErrors.PlaintextTooLarge(algorithm, key.KeySpec, maximum);
        }

        return new EncryptionPlan(algorithm, scheme.Scheme);
    }

    /// <summary>Symmetric encryption under <paramref name="key"/> (GenerateDataKey*, GenerateDataKeyPair*): the key must be SYMMETRIC_DEFAULT.</summary>
    public static void RequireSymmetricEncryption(KeyRecord key, IReadOnlyDictionary<string, string>? context) =>
        Encryption(key, null, context);

    /// <summary>Sign and Verify: algorithm offered by the key spec, message type accepted by the algorithm, digest length.</summary>
    public static SigningPlan Signing(KeyRecord key, string algorithmName, string? messageTypeName, int messageLength)
    {
        var capability = KeySpecCapabilities.For(key.KeySpec);
        if (!SigningAlgorithmSpecWire.TryParse(algorithmName, out var algorithm) || !capability.SigningAlgorithmsFor(key.KeyUsage).Contains(algorithm))
        {
            throw KmsErrors.IncompatibleAlgorithm(algorithmName, key.KeySpec);
        }

        var messageType = MessageType.RAW;
        if (messageTypeName is not null && !MessageTypeWire.TryParse(messageTypeName, out messageType))
        {
            throw KmsErrors.UnknownMessageType(messageTypeName);
        }

        var signing = AlgorithmCapabilities.For(algorithm);
        if (!signing.MessageTypes.Contains(messageType))
        {
            throw messageType == MessageType.EXTERNAL_MU
                ? KmsErrors.ExternalMuNeedsMlDsa()
                : KmsErrors.MessageTypeNotValidForAlgorithm(algorithm, signing.MessageTypes);
        }

        if (messageType == MessageType.DIGEST && messageLength != signing.DigestBytes)
        {
            throw KmsErrors.DigestLengthInvalid(algorithm);
        }

        if (signing.Scheme is not { } scheme)
        {
            throw KmsErrors.SigningAlgorithmNotSupported(signing.UnsupportedReason);
        }

        return new SigningPlan(algorithm, scheme, messageType == MessageType.DIGEST);
    }

    /// <summary>GenerateMac and VerifyMac: the algorithm must be the one of the HMAC key's size.</summary>
    public static MacPlan Mac(KeyRecord key, string algorithmName)
    {
        if (!MacAlgorithmSpecWire.TryParse(algorithmName, out var algorithm)
            || !KeySpecCapabilities.For(key.KeySpec).MacAlgorithmsFor(key.KeyUsage).Contains(algorithm))
        {
            throw KmsErrors.IncompatibleAlgorithm(algorithmName, key.KeySpec);
        }

        return new MacPlan(algorithm, AlgorithmCapabilities.For(algorithm));
    }

    /// <summary>DeriveSharedSecret: the key spec must offer the key agreement algorithm.</summary>
    public static KeyAgreementAlgorithmSpec KeyAgreement(KeyRecord key, string algorithmName)
    {
        if (!KeyAgreementAlgorithmSpecWire.TryParse(algorithmName, out var algorithm)
            || !KeySpecCapabilities.For(key.KeySpec).KeyAgreementAlgorithmsFor(key.KeyUsage).Contains(algorithm))
        {
            throw KmsErrors.IncompatibleAlgorithm(algorithmName, key.KeySpec);
        }

        return algorithm;
    }

    /// <summary>GetPublicKey: only key pairs have a public key.</summary>
    public static void RequireKeyPair(KeyRecord key)
    {
        if (!KeySpecCapabilities.For(key.KeySpec).IsAsymmetric)
        {
            throw KmsErrors.NoPublicKey(key.Arn, key.KeySpec);
        }
    }

    /// <summary>GenerateDataKeyPair*: the HSM key type of a KeyPairSpec (SM2 has none).</summary>
    public static HsmKeySpec DataKeyPair(string keyPairSpec)
    {
        if (!KeySpecWire.TryParse(keyPairSpec, out var spec) || !KeySpecCapabilities.For(spec).IsAsymmetric)
        {
            throw KmsErrors.UnknownKeyPairSpec(keyPairSpec);
        }

        var capability = KeySpecCapabilities.For(spec);
        return capability.Material ?? throw KmsErrors.DataKeyPairNotSupported(keyPairSpec, capability.UnsupportedReason);
    }
}
