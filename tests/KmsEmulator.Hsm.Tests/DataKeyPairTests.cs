using System.Security.Cryptography;
using KmsEmulator.Hsm.Pkcs11;

namespace KmsEmulator.Hsm.Tests;

[Collection(SoftHsmCollection.Name)]
public sealed class DataKeyPairTests(SoftHsmFixture fixture) : IDisposable
{
    private static readonly string TokenLabel = SoftHsmFixture.NewTokenLabel("datapairs");
    private readonly Pkcs11Backend _backend = fixture.Open(TokenLabel);

    public void Dispose() => _backend.Dispose();

    [Fact]
    public async Task An_RSA_data_key_pair_loads_in_dotnet_and_its_halves_match()
    {
        var sessionObjectsBefore = await HsmObjects.CountSessionObjectsAsync(_backend);

        var pair = await _backend.GenerateDataKeyPairAsync(HsmKeySpec.Rsa2048);

        using var privateKey = RSA.Create();
        privateKey.ImportPkcs8PrivateKey(pair.PrivateKeyPkcs8, out var read);
        using var publicKey = RSA.Create();
        publicKey.ImportSubjectPublicKeyInfo(pair.PublicKeySpki, out _);
        var message = TestData.Bytes(50);
        Assert.Equal(pair.PrivateKeyPkcs8.Length, read);
        Assert.Equal(2048, privateKey.KeySize);
        Assert.Equal(pair.PublicKeySpki, privateKey.ExportSubjectPublicKeyInfo());
        Assert.True(publicKey.VerifyData(message, privateKey.SignData(message, HashAlgorithmName.SHA256, RSASignaturePadding.Pss),
            HashAlgorithmName.SHA256, RSASignaturePadding.Pss));
        Assert.Equal(message, privateKey.Decrypt(publicKey.Encrypt(message, RSAEncryptionPadding.OaepSHA256), RSAEncryptionPadding.OaepSHA256));
        Assert.Equal(sessionObjectsBefore, await HsmObjects.CountSessionObjectsAsync(_backend));
    }

    [Theory]
    [InlineData(HsmKeySpec.EcP256)]
    [InlineData(HsmKeySpec.EcP384)]
    [InlineData(HsmKeySpec.EcP521)]
    [InlineData(HsmKeySpec.EcSecp256k1)]
    public async Task EC_data_key_pairs_load_in_dotnet_and_their_halves_match(HsmKeySpec spec)
    {
        var sessionObjectsBefore = await HsmObjects.CountSessionObjectsAsync(_backend);

        var pair = await _backend.GenerateDataKeyPairAsync(spec);

        using var privateKey = ECDsa.Create();
        privateKey.ImportPkcs8PrivateKey(pair.PrivateKeyPkcs8, out var read);
        using var publicKey = ECDsa.Create();
        publicKey.ImportSubjectPublicKeyInfo(pair.PublicKeySpki, out _);
        var message = TestData.Bytes(50);
        Assert.Equal(pair.PrivateKeyPkcs8.Length, read);
        Assert.Equal(Hashes.CurveOf(spec).Oid.Value, privateKey.ExportParameters(false).Curve.Oid.Value);
        Assert.Equal(pair.PublicKeySpki, privateKey.ExportSubjectPublicKeyInfo());
        Assert.True(publicKey.VerifyData(message, privateKey.SignData(message, HashAlgorithmName.SHA256), HashAlgorithmName.SHA256));
        Assert.Equal(sessionObjectsBefore, await HsmObjects.CountSessionObjectsAsync(_backend));
    }

    [Fact]
    public async Task Each_data_key_pair_is_new()
    {
        var first = await _backend.GenerateDataKeyPairAsync(HsmKeySpec.EcP256);
        var second = await _backend.GenerateDataKeyPairAsync(HsmKeySpec.EcP256);

        Assert.NotEqual(first.PublicKeySpki, second.PublicKeySpki);
        Assert.NotEqual(first.PrivateKeyPkcs8, second.PrivateKeyPkcs8);
    }

    [Fact]
    public async Task An_Ed25519_data_key_pair_is_an_RFC_8410_PKCS8_key_and_an_SPKI()
    {
        var sessionObjectsBefore = await HsmObjects.CountSessionObjectsAsync(_backend);

        var pair = await _backend.GenerateDataKeyPairAsync(HsmKeySpec.Ed25519);

        // PrivateKeyInfo { 0, { id-Ed25519 }, OCTET STRING { OCTET STRING (32-byte seed) } }
        Assert.Equal(48, pair.PrivateKeyPkcs8.Length);
        Assert.Equal(Convert.FromHexString("302e020100300506032b657004220420"), pair.PrivateKeyPkcs8[..16]);
        Assert.Equal(Convert.FromHexString("302a300506032b6570032100"), pair.PublicKeySpki[..12]);
        Assert.Equal(sessionObjectsBefore, await HsmObjects.CountSessionObjectsAsync(_backend));
    }

    [SkippableFact]
    public async Task An_Ed25519_data_key_pair_matches_according_to_OpenSSL()
    {
        Skip.IfNot(OpenSslCli.IsAvailable, "The openssl command-line tool is not installed.");
        var pair = await _backend.GenerateDataKeyPairAsync(HsmKeySpec.Ed25519);
        var message = TestData.Bytes(40);

        var signature = OpenSslCli.SignEd25519(pair.PrivateKeyPkcs8, message);

        Assert.Equal(pair.PublicKeySpki, OpenSslCli.PublicKeyOf(pair.PrivateKeyPkcs8));
        Assert.True(OpenSslCli.VerifyEd25519(pair.PublicKeySpki, message, signature));
    }

    [Theory]
    [InlineData(HsmKeySpec.Hmac256)]
    [InlineData((HsmKeySpec)99)]
    public async Task A_spec_that_is_no_key_pair_is_InvalidInput(HsmKeySpec spec)
    {
        await TestData.ThrowsHsm(HsmErrorKind.InvalidInput, () => _backend.GenerateDataKeyPairAsync(spec).AsTask());
    }
}
