using System.Security.Cryptography;

namespace KmsEmulator.Hsm.Crypto;

/// <summary>
/// The public key of a PKCS#8 private key given in plaintext (a seed file's imported key pair), encoded exactly as
/// <see cref="IKeyMaterialBackend.ImportKeyPairAsync"/> returns the public key of an imported key pair, so that the two
/// can be compared: an imported key pair is recognised by its public key.
/// </summary>
public static class Pkcs8PublicKey
{
    /// <summary>
    /// The DER SubjectPublicKeyInfo of the RSA or EC private key <paramref name="pkcs8"/> of <paramref name="spec"/>.
    /// </summary>
    /// <exception cref="HsmException">
    /// <see cref="HsmErrorKind.InvalidInput"/> when the bytes are not a PKCS#8 key of the spec (RSA: its modulus size and
    /// public exponent 65537, as the import requires; EC: its curve); <see cref="HsmErrorKind.Unsupported"/> for a spec
    /// that is not RSA or a Weierstrass curve.
    /// </exception>
    public static byte[] Of(HsmKeySpec spec, ReadOnlySpan<byte> pkcs8)
    {
        if (!KeySpecs.IsRsa(spec) && !KeySpecs.IsEc(spec))
        {
            throw new HsmException(HsmErrorKind.Unsupported, $"Only RSA and EC private keys are imported as key pairs, not {spec}.");
        }

        try
        {
            if (KeySpecs.IsRsa(spec))
            {
                using var rsa = RSA.Create();
                rsa.ImportPkcs8PrivateKey(pkcs8, out var read);
                var parameters = rsa.ExportParameters(includePrivateParameters: false);
                return read == pkcs8.Length && rsa.KeySize == KeySpecs.RsaModulusBits(spec)
                    && parameters.Exponent.AsSpan().TrimStart((byte)0).SequenceEqual(Pkcs11.Pkcs11Constants.RsaPublicExponent)
                    ? KeyEncoding.RsaSubjectPublicKeyInfo(parameters.Modulus, parameters.Exponent)
                    : throw NotAKeyOf(spec);
            }

            using var ec = ECDiffieHellman.Create();
            ec.ImportPkcs8PrivateKey(pkcs8, out var length);
            var point = ec.ExportParameters(includePrivateParameters: false);
            if (length != pkcs8.Length || point.Curve.Oid?.Value != KeySpecs.CurveOid(spec))
            {
                throw NotAKeyOf(spec);
            }

            var fieldBytes = KeySpecs.FieldBytes(spec);
            return KeyEncoding.EcSubjectPublicKeyInfo(spec, [0x04, .. Pad(point.Q.X!, fieldBytes), .. Pad(point.Q.Y!, fieldBytes)]);
        }
        catch (CryptographicException e)
        {
            throw new HsmException(HsmErrorKind.InvalidInput, NotAKeyOf(spec).Message, inner: e);
        }
    }

    private static byte[] Pad(byte[] value, int length) => value.Length >= length ? value : [.. new byte[length - value.Length], .. value];

    private static HsmException NotAKeyOf(HsmKeySpec spec) => new(HsmErrorKind.InvalidInput, KeySpecs.IsRsa(spec)
        ? $"The key material is not a PKCS#8 {spec} private key with public exponent 65537."
        : $"The key material is not a PKCS#8 {spec} private key.");
}
