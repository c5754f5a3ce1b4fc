using System.Security.Cryptography;

namespace KmsEmulator.Hsm.Crypto;

/// <summary>The families of <see cref="SignatureScheme"/>.</summary>
internal enum SignatureFamily
{
    RsaPss,
    RsaPkcs1,
    Ecdsa,
    Ed25519,
    Ed25519Ph,
}

/// <summary>Facts about each <see cref="SignatureScheme"/>: family, hash and how to prepare the input.</summary>
internal static class SignatureSchemes
{
    // DER DigestInfo prefixes (RFC 8017 §9.2, note 1) that precede the hash in an RSASSA-PKCS1-v1_5 signature.
    private static readonly byte[] Sha256DigestInfo = Convert.FromHexString("3031300d060960864801650304020105000420");
    private static readonly byte[] Sha384DigestInfo = Convert.FromHexString("3041300d060960864801650304020205000430");
    private static readonly byte[] Sha512DigestInfo = Convert.FromHexString("3051300d060960864801650304020305000440");

    public static SignatureFamily FamilyOf(SignatureScheme scheme) => scheme switch
    {
        SignatureScheme.RsaPssSha256 or SignatureScheme.RsaPssSha384 or SignatureScheme.RsaPssSha512 => SignatureFamily.RsaPss,
        SignatureScheme.RsaPkcs1Sha256 or SignatureScheme.RsaPkcs1Sha384 or SignatureScheme.RsaPkcs1Sha512 => SignatureFamily.RsaPkcs1,
        SignatureScheme.EcdsaSha256 or SignatureScheme.EcdsaSha384 or SignatureScheme.EcdsaSha512 => SignatureFamily.Ecdsa,
        SignatureScheme.Ed25519 => SignatureFamily.Ed25519,
        SignatureScheme.Ed25519Ph => SignatureFamily.Ed25519Ph,
        _ => throw new HsmException(HsmErrorKind.InvalidInput, $"Unknown signature scheme {scheme}."),
    };

    /// <summary>The hash of a scheme (SHA-512 for the Ed25519 schemes).</summary>
    public static HashAlgorithmName HashOf(SignatureScheme scheme) => scheme switch
    {
        SignatureScheme.RsaPssSha256 or SignatureScheme.RsaPkcs1Sha256 or SignatureScheme.EcdsaSha256 => HashAlgorithmName.SHA256,
        SignatureScheme.RsaPssSha384 or SignatureScheme.RsaPkcs1Sha384 or SignatureScheme.EcdsaSha384 => HashAlgorithmName.SHA384,
        _ => HashAlgorithmName.SHA512,
    };

    public static int DigestBytes(HashAlgorithmName hash) =>
        hash == HashAlgorithmName.SHA256 ? 32 : hash == HashAlgorithmName.SHA384 ? 48 : hash == HashAlgorithmName.SHA512 ? 64
        : hash == HashAlgorithmName.SHA1 ? 20
        : throw new ArgumentOutOfRangeException(nameof(hash), hash, "Unsupported hash.");

    /// <summary>
    /// The digest to sign: <paramref name="input"/> itself when it is a digest (after checking its length), else its hash.
    /// </summary>
    public static byte[] Digest(SignatureScheme scheme, ReadOnlySpan<byte> input, bool inputIsDigest)
    {
        var hash = HashOf(scheme);
        if (!inputIsDigest)
        {
            return CryptographicOperations.HashData(hash, input);
        }

        var expected = DigestBytes(hash);
        if (input.Length != expected)
        {
            throw new HsmException(HsmErrorKind.InvalidInput,
                $"A {hash.Name} digest for {scheme} must be {expected} bytes, not {input.Length}.");
        }

        return input.ToArray();
    }

    /// <summary>DigestInfo ‖ digest, the input of CKM_RSA_PKCS for an RSASSA-PKCS1-v1_5 signature.</summary>
    public static byte[] DigestInfo(HashAlgorithmName hash, ReadOnlySpan<byte> digest)
    {
        var prefix = hash == HashAlgorithmName.SHA256 ? Sha256DigestInfo
            : hash == HashAlgorithmName.SHA384 ? Sha384DigestInfo
            : hash == HashAlgorithmName.SHA512 ? Sha512DigestInfo
            : throw new ArgumentOutOfRangeException(nameof(hash), hash, "Unsupported hash.");
        return [.. prefix, .. digest];
    }
}
