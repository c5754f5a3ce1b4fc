using System.Formats.Asn1;
using System.Security.Cryptography;
using KmsEmulator.Hsm.Pkcs11;

namespace KmsEmulator.Hsm.Tests;

[Collection(SoftHsmCollection.Name)]
public sealed class EcdhTests(SoftHsmFixture fixture) : IDisposable
{
    private static readonly string TokenLabel = SoftHsmFixture.NewTokenLabel("ecdh");
    private static readonly SharedKeys Keys = new();
    private readonly Pkcs11Backend _backend = fixture.Open(TokenLabel);

    public void Dispose() => _backend.Dispose();

    [Theory]
    [InlineData(HsmKeySpec.EcP256, 32)]
    [InlineData(HsmKeySpec.EcP384, 48)]
    [InlineData(HsmKeySpec.EcP521, 66)]
    [InlineData(HsmKeySpec.EcSecp256k1, 32)]
    public async Task The_shared_secret_equals_dotnet_ECDH_and_leaves_no_object_behind(HsmKeySpec spec, int length)
    {
        var (label, spki) = await Keys.GetAsync(_backend, spec, HsmKeyUsage.KeyAgreement);
        using var ours = ECDiffieHellman.Create();
        ours.ImportSubjectPublicKeyInfo(spki, out _);
        var sessionObjectsBefore = await HsmObjects.CountSessionObjectsAsync(_backend);

        for (var i = 0; i < 3; i++)
        {
            using var peer = ECDiffieHellman.Create(Hashes.CurveOf(spec));
            var expected = peer.DeriveRawSecretAgreement(ours.PublicKey);

            var secret = await _backend.DeriveSharedSecretAsync(label, peer.ExportSubjectPublicKeyInfo());

            Assert.Equal(length, secret.Length);
            Assert.Equal(expected, secret);
        }

        Assert.Equal(sessionObjectsBefore, await HsmObjects.CountSessionObjectsAsync(_backend));
    }

    [Theory]
    [InlineData(HsmKeySpec.EcP384)]
    [InlineData(HsmKeySpec.EcP521)]
    [InlineData(HsmKeySpec.EcSecp256k1)]
    public async Task A_peer_key_on_another_curve_is_InvalidInput(HsmKeySpec peerCurve)
    {
        var (label, _) = await Keys.GetAsync(_backend, HsmKeySpec.EcP256, HsmKeyUsage.KeyAgreement);
        using var peer = ECDiffieHellman.Create(Hashes.CurveOf(peerCurve));

        var failure = await TestData.ThrowsHsm(HsmErrorKind.InvalidInput,
            () => _backend.DeriveSharedSecretAsync(label, peer.ExportSubjectPublicKeyInfo()).AsTask());

        Assert.Contains("curve", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Peer_keys_that_are_not_EC_points_on_the_curve_are_InvalidInput()
    {
        var (label, _) = await Keys.GetAsync(_backend, HsmKeySpec.EcP256, HsmKeyUsage.KeyAgreement);
        using var rsa = RSA.Create(1024);
        using var peer = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
        var point = peer.PublicKey.ExportParameters().Q;
        var offCurve = point.Y!.ToArray();
        offCurve[^1] ^= 1;

        foreach (var spki in new[]
                 {
                     Array.Empty<byte>(), TestData.Bytes(91), rsa.ExportSubjectPublicKeyInfo(),
                     [.. peer.ExportSubjectPublicKeyInfo(), 0x00],
                     EcSpki("1.2.840.10045.3.1.7", [0x02, .. point.X!]), // compressed
                     EcSpki("1.2.840.10045.3.1.7", [0x04, .. point.X!, .. offCurve]), // not on the curve
                     EcSpki("1.2.840.10045.3.1.7", [0x04, .. point.X!]), // truncated
                 })
        {
            await TestData.ThrowsHsm(HsmErrorKind.InvalidInput, () => _backend.DeriveSharedSecretAsync(label, spki).AsTask());
        }
    }

    [Fact]
    public async Task Keys_without_the_key_agreement_usage_cannot_derive()
    {
        var (signingKey, _) = await Keys.GetAsync(_backend, HsmKeySpec.EcP256, HsmKeyUsage.SignVerify);
        var (rsaKey, _) = await Keys.GetAsync(_backend, HsmKeySpec.Rsa2048, HsmKeyUsage.EncryptDecrypt);
        using var peer = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);

        await TestData.ThrowsHsm(HsmErrorKind.InvalidInput,
            () => _backend.DeriveSharedSecretAsync(signingKey, peer.ExportSubjectPublicKeyInfo()).AsTask());
        await TestData.ThrowsHsm(HsmErrorKind.InvalidInput,
            () => _backend.DeriveSharedSecretAsync(rsaKey, peer.ExportSubjectPublicKeyInfo()).AsTask());
    }

    [Fact]
    public async Task Deriving_with_a_missing_key_is_KeyNotFound()
    {
        using var peer = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);

        await TestData.ThrowsHsm(HsmErrorKind.KeyNotFound,
            () => _backend.DeriveSharedSecretAsync(TestData.KeyLabel("missing"), peer.ExportSubjectPublicKeyInfo()).AsTask());
    }

    private static byte[] EcSpki(string curveOid, byte[] point)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            using (writer.PushSequence())
            {
                writer.WriteObjectIdentifier("1.2.840.10045.2.1");
                writer.WriteObjectIdentifier(curveOid);
            }

            writer.WriteBitString(point);
        }

        return writer.Encode();
    }
}
