using System.Formats.Asn1;
using System.Security.Cryptography;

namespace KmsEmulator.Hsm.Crypto;

/// <summary>DER encodings of keys and signatures: SubjectPublicKeyInfo, PKCS#8, CKA_EC_PARAMS/CKA_EC_POINT and ECDSA.</summary>
internal static class KeyEncoding
{
    private const string Edwards25519Name = "edwards25519";

    /// <summary>CKA_EC_PARAMS for a curve: the DER named-curve OID (SoftHSM2 2.6.1 also accepts the printable name for Ed25519).</summary>
    public static byte[] EcParameters(HsmKeySpec spec)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        writer.WriteObjectIdentifier(KeySpecs.CurveOid(spec));
        return writer.Encode();
    }

    /// <summary>The spec named by a CKA_EC_PARAMS value (a DER OID, or the printable string "edwards25519"); null when unknown.</summary>
    public static HsmKeySpec? SpecOfEcParameters(byte[]? ecParameters)
    {
        if (ecParameters is null || ecParameters.Length == 0)
        {
            return null;
        }

        try
        {
            var reader = new AsnReader(ecParameters, AsnEncodingRules.DER);
            var tag = reader.PeekTag();
            if (tag.HasSameClassAndValue(Asn1Tag.ObjectIdentifier))
            {
                var oid = reader.ReadObjectIdentifier();
                return oid == KeySpecs.Ed25519Oid ? HsmKeySpec.Ed25519 : KeySpecs.EcSpecOfCurveOid(oid);
            }

            if (tag.HasSameClassAndValue(new Asn1Tag(UniversalTagNumber.PrintableString)))
            {
                return reader.ReadCharacterString(UniversalTagNumber.PrintableString) == Edwards25519Name ? HsmKeySpec.Ed25519 : null;
            }
        }
        catch (AsnContentException)
        {
        }

        return null;
    }

    /// <summary>
    /// The raw point from a CKA_EC_POINT value, which PKCS#11 wraps in a DER OCTET STRING (some modules return it bare).
    /// The result is 04‖X‖Y for Weierstrass curves and the 32-byte key for Ed25519.
    /// </summary>
    public static byte[] UnwrapEcPoint(byte[] ecPoint, HsmKeySpec spec)
    {
        var expected = PointBytes(spec);
        var point = ecPoint;
        if (ecPoint.Length != expected)
        {
            try
            {
                var reader = new AsnReader(ecPoint, AsnEncodingRules.DER);
                point = reader.ReadOctetString();
                reader.ThrowIfNotEmpty();
            }
            catch (AsnContentException e)
            {
                throw new HsmException(HsmErrorKind.Internal, "The HSM returned a malformed CKA_EC_POINT.", inner: e);
            }
        }

        if (point.Length != expected || (spec != HsmKeySpec.Ed25519 && point[0] != 0x04))
        {
            throw new HsmException(HsmErrorKind.Internal, $"The HSM returned a CKA_EC_POINT that is not a {spec} public key.");
        }

        return point;
    }

    /// <summary>SubjectPublicKeyInfo of an RSA key (rsaEncryption with NULL parameters).</summary>
    public static byte[] RsaSubjectPublicKeyInfo(ReadOnlySpan<byte> modulus, ReadOnlySpan<byte> publicExponent)
    {
        var key = new AsnWriter(AsnEncodingRules.DER);
        using (key.PushSequence())
        {
            key.WriteIntegerUnsigned(TrimLeadingZeros(modulus));
            key.WriteIntegerUnsigned(TrimLeadingZeros(publicExponent));
        }

        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            WriteRsaAlgorithm(writer);
            writer.WriteBitString(key.Encode());
        }

        return writer.Encode();
    }

    /// <summary>SubjectPublicKeyInfo of an EC (id-ecPublicKey with a named curve) or Ed25519 (id-Ed25519) key.</summary>
    public static byte[] EcSubjectPublicKeyInfo(HsmKeySpec spec, ReadOnlySpan<byte> point)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            WriteEcAlgorithm(writer, spec);
            writer.WriteBitString(point);
        }

        return writer.Encode();
    }

    /// <summary>
    /// The uncompressed point of a peer's EC SubjectPublicKeyInfo, which must be on <paramref name="curve"/>.
    /// Throws InvalidInput for anything else: malformed DER, another algorithm or curve, a compressed or wrong-size point.
    /// </summary>
    public static byte[] PeerEcPoint(ReadOnlyMemory<byte> subjectPublicKeyInfo, HsmKeySpec curve)
    {
        string algorithm;
        string? curveOid = null;
        byte[] point;
        int unusedBits;
        try
        {
            var reader = new AsnReader(subjectPublicKeyInfo, AsnEncodingRules.DER);
            var spki = reader.ReadSequence();
            reader.ThrowIfNotEmpty();
            var algorithmIdentifier = spki.ReadSequence();
            algorithm = algorithmIdentifier.ReadObjectIdentifier();
            if (algorithmIdentifier.HasData && algorithmIdentifier.PeekTag().HasSameClassAndValue(Asn1Tag.ObjectIdentifier))
            {
                curveOid = algorithmIdentifier.ReadObjectIdentifier();
            }

            point = spki.ReadBitString(out unusedBits);
            spki.ThrowIfNotEmpty();
        }
        catch (AsnContentException e)
        {
            throw new HsmException(HsmErrorKind.InvalidInput, "The peer public key is not a DER SubjectPublicKeyInfo.", inner: e);
        }

        if (algorithm != KeySpecs.EcPublicKeyOid || curveOid is null)
        {
            throw new HsmException(HsmErrorKind.InvalidInput, "The peer public key is not an elliptic-curve key on a named curve.");
        }

        var peerCurve = KeySpecs.EcSpecOfCurveOid(curveOid);
        if (peerCurve != curve)
        {
            throw new HsmException(HsmErrorKind.InvalidInput,
                $"The peer public key is on the curve {peerCurve?.ToString() ?? curveOid}, but the private key is on {curve}.");
        }

        if (unusedBits != 0 || point.Length != PointBytes(curve) || point[0] != 0x04)
        {
            throw new HsmException(HsmErrorKind.InvalidInput, $"The peer public key must be an uncompressed {curve} point.");
        }

        return point;
    }

    /// <summary>ECDSA raw r‖s (as CKM_ECDSA returns it) to DER SEQUENCE { INTEGER r, INTEGER s } (as KMS returns it).</summary>
    public static byte[] EcdsaRawToDer(ReadOnlySpan<byte> raw)
    {
        if (raw.Length == 0 || raw.Length % 2 != 0)
        {
            throw new HsmException(HsmErrorKind.Internal, $"The HSM returned an ECDSA signature of odd length {raw.Length}.");
        }

        var half = raw.Length / 2;
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteIntegerUnsigned(TrimLeadingZeros(raw[..half]));
            writer.WriteIntegerUnsigned(TrimLeadingZeros(raw[half..]));
        }

        return writer.Encode();
    }

    /// <summary>DER SEQUENCE { INTEGER r, INTEGER s } to raw r‖s of two <paramref name="fieldBytes"/> halves; false when malformed.</summary>
    public static bool TryEcdsaDerToRaw(ReadOnlyMemory<byte> der, int fieldBytes, out byte[] raw)
    {
        raw = [];
        try
        {
            var reader = new AsnReader(der, AsnEncodingRules.DER);
            var sequence = reader.ReadSequence();
            reader.ThrowIfNotEmpty();
            var r = sequence.ReadIntegerBytes();
            var s = sequence.ReadIntegerBytes();
            sequence.ThrowIfNotEmpty();
            var result = new byte[2 * fieldBytes];
            if (IsNegative(r.Span) || IsNegative(s.Span)
                || !TryCopyUnsigned(r.Span, result.AsSpan(0, fieldBytes)) || !TryCopyUnsigned(s.Span, result.AsSpan(fieldBytes)))
            {
                return false;
            }

            raw = result;
            return true;
        }
        catch (AsnContentException)
        {
            return false;
        }
    }

    /// <summary>PKCS#8 PrivateKeyInfo of an RSA key from its CRT components (big-endian unsigned).</summary>
    public static byte[] RsaPkcs8(RsaPrivateComponents key)
    {
        var inner = new AsnWriter(AsnEncodingRules.DER);
        var outer = new AsnWriter(AsnEncodingRules.DER);
        try
        {
            using (inner.PushSequence())
            {
                inner.WriteInteger(0);
                foreach (var component in new[] { key.Modulus, key.PublicExponent, key.PrivateExponent, key.Prime1, key.Prime2,
                             key.Exponent1, key.Exponent2, key.Coefficient })
                {
                    inner.WriteIntegerUnsigned(TrimLeadingZeros(component));
                }
            }

            using (outer.PushSequence())
            {
                outer.WriteInteger(0);
                WriteRsaAlgorithm(outer);
                WriteOctetStringOf(outer, inner);
            }

            return outer.Encode();
        }
        finally
        {
            inner.Reset();
            outer.Reset();
        }
    }

    /// <summary>PKCS#8 PrivateKeyInfo of an EC key: ECPrivateKey (RFC 5915) with the private scalar and the public point.</summary>
    public static byte[] EcPkcs8(HsmKeySpec spec, ReadOnlySpan<byte> privateScalar, ReadOnlySpan<byte> point)
    {
        var fieldBytes = KeySpecs.FieldBytes(spec);
        var scalar = new byte[fieldBytes];
        var inner = new AsnWriter(AsnEncodingRules.DER);
        var outer = new AsnWriter(AsnEncodingRules.DER);
        try
        {
            if (!TryCopyUnsigned(privateScalar, scalar))
            {
                throw new HsmException(HsmErrorKind.Internal, $"The HSM returned a private scalar longer than a {spec} field element.");
            }

            using (inner.PushSequence())
            {
                inner.WriteInteger(1);
                inner.WriteOctetString(scalar);
                using (inner.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 1, isConstructed: true)))
                {
                    inner.WriteBitString(point);
                }
            }

            using (outer.PushSequence())
            {
                outer.WriteInteger(0);
                WriteEcAlgorithm(outer, spec);
                WriteOctetStringOf(outer, inner);
            }

            return outer.Encode();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(scalar);
            inner.Reset();
            outer.Reset();
        }
    }

    /// <summary>PKCS#8 PrivateKeyInfo of an Ed25519 key (RFC 8410): CurvePrivateKey is the 32-byte seed.</summary>
    public static byte[] Ed25519Pkcs8(ReadOnlySpan<byte> seed)
    {
        if (seed.Length != 32)
        {
            throw new HsmException(HsmErrorKind.Internal, $"The HSM returned an Ed25519 private key of {seed.Length} bytes, not 32.");
        }

        var writer = new AsnWriter(AsnEncodingRules.DER);
        try
        {
            using (writer.PushSequence())
            {
                writer.WriteInteger(0);
                WriteEcAlgorithm(writer, HsmKeySpec.Ed25519);
                using (writer.PushOctetString())
                {
                    writer.WriteOctetString(seed);
                }
            }

            return writer.Encode();
        }
        finally
        {
            writer.Reset();
        }
    }

    private static int PointBytes(HsmKeySpec spec) =>
        spec == HsmKeySpec.Ed25519 ? 32 : 1 + (2 * KeySpecs.FieldBytes(spec));

    private static void WriteRsaAlgorithm(AsnWriter writer)
    {
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier(KeySpecs.RsaEncryptionOid);
            writer.WriteNull();
        }
    }

    private static void WriteEcAlgorithm(AsnWriter writer, HsmKeySpec spec)
    {
        using (writer.PushSequence())
        {
            if (spec == HsmKeySpec.Ed25519)
            {
                writer.WriteObjectIdentifier(KeySpecs.Ed25519Oid);
            }
            else
            {
                writer.WriteObjectIdentifier(KeySpecs.EcPublicKeyOid);
                writer.WriteObjectIdentifier(KeySpecs.CurveOid(spec));
            }
        }
    }

    /// <summary>Writes the encoding of <paramref name="content"/> as an OCTET STRING and wipes the intermediate copy.</summary>
    private static void WriteOctetStringOf(AsnWriter writer, AsnWriter content)
    {
        var encoded = content.Encode();
        try
        {
            writer.WriteOctetString(encoded);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(encoded);
        }
    }

    private static ReadOnlySpan<byte> TrimLeadingZeros(ReadOnlySpan<byte> value)
    {
        var start = 0;
        while (start < value.Length - 1 && value[start] == 0)
        {
            start++;
        }

        return value.IsEmpty ? [0] : value[start..];
    }

    private static bool IsNegative(ReadOnlySpan<byte> derInteger) => derInteger.IsEmpty || (derInteger[0] & 0x80) != 0;

    /// <summary>Right-aligns an unsigned big-endian integer into <paramref name="target"/>; false when it does not fit.</summary>
    private static bool TryCopyUnsigned(ReadOnlySpan<byte> value, Span<byte> target)
    {
        var trimmed = TrimLeadingZeros(value);
        if (trimmed.Length > target.Length)
        {
            return false;
        }

        target.Clear();
        trimmed.CopyTo(target[(target.Length - trimmed.Length)..]);
        return true;
    }
}

/// <summary>The components of an RSA private key, big-endian unsigned, as read from the HSM.</summary>
internal sealed record RsaPrivateComponents(
    byte[] Modulus, byte[] PublicExponent, byte[] PrivateExponent, byte[] Prime1, byte[] Prime2,
    byte[] Exponent1, byte[] Exponent2, byte[] Coefficient)
{
    /// <summary>Overwrites the secret components.</summary>
    public void Clear()
    {
        foreach (var secret in new[] { PrivateExponent, Prime1, Prime2, Exponent1, Exponent2, Coefficient })
        {
            CryptographicOperations.ZeroMemory(secret);
        }
    }
}
