using System.Numerics;
using System.Security.Cryptography;
using KmsEmulator.Hsm.Crypto;

namespace KmsEmulator.Hsm.Tests;

/// <summary>The managed encodings, without an HSM.</summary>
public sealed class CodecTests
{
    private static readonly Lazy<RSA> Rsa = new(() => RSA.Create(2048));

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(190)]
    public void OAEP_SHA256_decoding_recovers_dotnet_plaintext(int length)
    {
        var plaintext = TestData.Bytes(length);
        var encoded = RawDecrypt(Rsa.Value.Encrypt(plaintext, RSAEncryptionPadding.OaepSHA256));

        Assert.True(Oaep.TryDecode(encoded, HashAlgorithmName.SHA256, out var decoded));
        Assert.Equal(plaintext, decoded);
    }

    [Theory]
    [InlineData(0)] // the leading zero byte
    [InlineData(1)] // masked seed
    [InlineData(40)] // masked lHash
    [InlineData(200)] // masked PS / separator / message
    [InlineData(255)]
    public void OAEP_SHA256_decoding_rejects_any_change(int index)
    {
        var encoded = RawDecrypt(Rsa.Value.Encrypt(TestData.Bytes(16), RSAEncryptionPadding.OaepSHA256));
        encoded[index] ^= 0x01;

        Assert.False(Oaep.TryDecode(encoded, HashAlgorithmName.SHA256, out var decoded));
        Assert.Empty(decoded);
    }

    [Fact]
    public void OAEP_SHA256_decoding_rejects_SHA1_padding_and_short_input()
    {
        var encoded = RawDecrypt(Rsa.Value.Encrypt(TestData.Bytes(16), RSAEncryptionPadding.OaepSHA1));

        Assert.False(Oaep.TryDecode(encoded, HashAlgorithmName.SHA256, out _));
        Assert.False(Oaep.TryDecode(new byte[65], HashAlgorithmName.SHA256, out _));
        Assert.False(Oaep.TryDecode(new byte[256], HashAlgorithmName.SHA256, out _));
    }

    [Fact]
    public void ECDSA_raw_signatures_become_minimal_DER_and_back()
    {
        var raw = new byte[64];
        raw[31] = 0x05; // r = 5
        raw[32] = 0x80; // s has its top bit set, so DER needs a leading zero

        var der = KeyEncoding.EcdsaRawToDer(raw);

        Assert.Equal("3026020105022100" + "80" + new string('0', 62), Convert.ToHexString(der).ToLowerInvariant());
        Assert.True(KeyEncoding.TryEcdsaDerToRaw(der, 32, out var back));
        Assert.Equal(raw, back);
    }

    [Fact]
    public void ECDSA_DER_signatures_from_dotnet_convert_to_the_IEEE_P1363_form()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP521);
        for (var i = 0; i < 20; i++)
        {
            var digest = TestData.Bytes(64);
            var der = key.SignHash(digest, DSASignatureFormat.Rfc3279DerSequence);

            Assert.True(KeyEncoding.TryEcdsaDerToRaw(der, 66, out var raw));
            Assert.True(key.VerifyHash(digest, raw, DSASignatureFormat.IeeeP1363FixedFieldConcatenation));
            Assert.Equal(der, KeyEncoding.EcdsaRawToDer(raw));
        }
    }

    [Theory]
    [InlineData("3026020105022101" + "00000000000000000000000000000000000000000000000000000000000000ff", 32)] // s is 33 bytes long
    [InlineData("30060201050201", 32)] // truncated
    [InlineData("31060201050201 05", 32)] // SET, not SEQUENCE
    [InlineData("3006020005020105", 32)] // empty integer
    public void Malformed_ECDSA_DER_is_rejected(string hex, int fieldBytes)
    {
        Assert.False(KeyEncoding.TryEcdsaDerToRaw(Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal)), fieldBytes, out _));
    }

    [Theory]
    [InlineData("06032b6570", HsmKeySpec.Ed25519)]
    [InlineData("130c6564776172647332353531", null)] // malformed
    [InlineData("130c6564776172647332353531 39", HsmKeySpec.Ed25519)] // PrintableString "edwards25519"
    [InlineData("06082a8648ce3d030107", HsmKeySpec.EcP256)]
    [InlineData("06052b8104000a", HsmKeySpec.EcSecp256k1)]
    [InlineData("06052b81040023", HsmKeySpec.EcP521)]
    [InlineData("06052b81040022", HsmKeySpec.EcP384)]
    [InlineData("06032b6571", null)] // Ed448
    public void EC_parameters_name_their_curve(string hex, HsmKeySpec? expected)
    {
        Assert.Equal(expected, KeyEncoding.SpecOfEcParameters(Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal))));
    }

    [Fact]
    public void EC_public_keys_in_SPKI_match_dotnet()
    {
        foreach (var (spec, curve) in new[] { (HsmKeySpec.EcP256, ECCurve.NamedCurves.nistP256), (HsmKeySpec.EcP521, ECCurve.NamedCurves.nistP521) })
        {
            using var key = ECDsa.Create(curve);
            var q = key.ExportParameters(false).Q;
            var wrapped = new System.Formats.Asn1.AsnWriter(System.Formats.Asn1.AsnEncodingRules.DER);
            wrapped.WriteOctetString([0x04, .. q.X!, .. q.Y!]);

            var point = KeyEncoding.UnwrapEcPoint(wrapped.Encode(), spec);

            Assert.Equal(key.ExportSubjectPublicKeyInfo(), KeyEncoding.EcSubjectPublicKeyInfo(spec, point));
            Assert.Equal(point, KeyEncoding.PeerEcPoint(key.ExportSubjectPublicKeyInfo(), spec));
        }
    }

    [Fact]
    public void RSA_public_and_private_keys_match_dotnet()
    {
        var p = Rsa.Value.ExportParameters(true);

        Assert.Equal(Rsa.Value.ExportSubjectPublicKeyInfo(), KeyEncoding.RsaSubjectPublicKeyInfo(p.Modulus, p.Exponent));
        Assert.Equal(Rsa.Value.ExportPkcs8PrivateKey(),
            KeyEncoding.RsaPkcs8(new RsaPrivateComponents(p.Modulus!, p.Exponent!, p.D!, p.P!, p.Q!, p.DP!, p.DQ!, p.InverseQ!)));
    }

    [Fact]
    public void EC_private_keys_match_dotnet_even_with_a_short_scalar()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP521);
        var p = key.ExportParameters(true);
        var point = (byte[])[0x04, .. p.Q.X!, .. p.Q.Y!];
        var trimmed = p.D!.SkipWhile(b => b == 0).ToArray(); // as an HSM may return it

        Assert.Equal(key.ExportPkcs8PrivateKey(), KeyEncoding.EcPkcs8(HsmKeySpec.EcP521, trimmed, point));
    }

    private static byte[] RawDecrypt(byte[] ciphertext)
    {
        var p = Rsa.Value.ExportParameters(true);
        var m = BigInteger.ModPow(new BigInteger(ciphertext, true, true), new BigInteger(p.D, true, true), new BigInteger(p.Modulus, true, true));
        var bytes = m.ToByteArray(true, true);
        var encoded = new byte[p.Modulus!.Length];
        bytes.CopyTo(encoded, encoded.Length - bytes.Length);
        return encoded;
    }
}
