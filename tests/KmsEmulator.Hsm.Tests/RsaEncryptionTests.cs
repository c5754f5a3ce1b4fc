using System.Security.Cryptography;
using KmsEmulator.Hsm.Pkcs11;

namespace KmsEmulator.Hsm.Tests;

[Collection(SoftHsmCollection.Name)]
public sealed class RsaEncryptionTests(SoftHsmFixture fixture) : IDisposable
{
    private static readonly string TokenLabel = SoftHsmFixture.NewTokenLabel("oaep");
    private static readonly SharedKeys Keys = new();
    private readonly Pkcs11Backend _backend = fixture.Open(TokenLabel);

    public void Dispose() => _backend.Dispose();

    [Theory]
    [InlineData(RsaEncryptionScheme.OaepSha1, 0)]
    [InlineData(RsaEncryptionScheme.OaepSha1, 1)]
    [InlineData(RsaEncryptionScheme.OaepSha1, 214)] // 256 - 2·20 - 2
    [InlineData(RsaEncryptionScheme.OaepSha256, 0)]
    [InlineData(RsaEncryptionScheme.OaepSha256, 32)]
    [InlineData(RsaEncryptionScheme.OaepSha256, 190)] // 256 - 2·32 - 2
    public async Task Ciphertext_made_by_dotnet_with_the_public_key_decrypts_in_the_HSM(RsaEncryptionScheme scheme, int length)
    {
        var (label, spki) = await Keys.GetAsync(_backend, HsmKeySpec.Rsa2048, HsmKeyUsage.EncryptDecrypt);
        var plaintext = TestData.Bytes(length);
        using var rsa = RSA.Create();
        rsa.ImportSubjectPublicKeyInfo(spki, out _);

        var ciphertext = rsa.Encrypt(plaintext, Padding(scheme));

        Assert.Equal(plaintext, await _backend.DecryptRsaAsync(label, scheme, ciphertext));
    }

    [Theory]
    [InlineData(RsaEncryptionScheme.OaepSha1)]
    [InlineData(RsaEncryptionScheme.OaepSha256)]
    public async Task EncryptRsa_round_trips_and_is_randomised(RsaEncryptionScheme scheme)
    {
        var (label, _) = await Keys.GetAsync(_backend, HsmKeySpec.Rsa2048, HsmKeyUsage.EncryptDecrypt);
        var plaintext = TestData.Bytes(64);

        var first = await _backend.EncryptRsaAsync(label, scheme, plaintext);
        var second = await _backend.EncryptRsaAsync(label, scheme, plaintext);

        Assert.Equal(256, first.Length);
        Assert.NotEqual(first, second);
        Assert.Equal(plaintext, await _backend.DecryptRsaAsync(label, scheme, first));
        Assert.Equal(plaintext, await _backend.DecryptRsaAsync(label, scheme, second));
    }

    [Theory]
    [InlineData(RsaEncryptionScheme.OaepSha1, 215)]
    [InlineData(RsaEncryptionScheme.OaepSha256, 191)]
    public async Task A_plaintext_too_long_for_the_key_is_InvalidInput(RsaEncryptionScheme scheme, int length)
    {
        var (label, _) = await Keys.GetAsync(_backend, HsmKeySpec.Rsa2048, HsmKeyUsage.EncryptDecrypt);

        await TestData.ThrowsHsm(HsmErrorKind.InvalidInput, () => _backend.EncryptRsaAsync(label, scheme, TestData.Bytes(length)).AsTask());
    }

    public static TheoryData<RsaEncryptionScheme, int> TamperPositions()
    {
        var data = new TheoryData<RsaEncryptionScheme, int>();
        foreach (var scheme in new[] { RsaEncryptionScheme.OaepSha1, RsaEncryptionScheme.OaepSha256 })
        {
            foreach (var index in new[] { 0, 1, 100, 255 })
            {
                data.Add(scheme, index);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(TamperPositions))]
    public async Task Tampered_ciphertext_is_AuthenticationFailed(RsaEncryptionScheme scheme, int index)
    {
        var (label, spki) = await Keys.GetAsync(_backend, HsmKeySpec.Rsa2048, HsmKeyUsage.EncryptDecrypt);
        using var rsa = RSA.Create();
        rsa.ImportSubjectPublicKeyInfo(spki, out _);
        var ciphertext = rsa.Encrypt(TestData.Bytes(32), Padding(scheme));
        ciphertext[index] ^= 0x01;

        var failure = await TestData.ThrowsHsm(HsmErrorKind.AuthenticationFailed,
            () => _backend.DecryptRsaAsync(label, scheme, ciphertext).AsTask());

        Assert.Equal("The ciphertext could not be decrypted with this key.", failure.Message);
    }

    [Theory]
    [InlineData(RsaEncryptionScheme.OaepSha1)]
    [InlineData(RsaEncryptionScheme.OaepSha256)]
    public async Task Malformed_ciphertext_is_AuthenticationFailed(RsaEncryptionScheme scheme)
    {
        var (label, spki) = await Keys.GetAsync(_backend, HsmKeySpec.Rsa2048, HsmKeyUsage.EncryptDecrypt);
        using var rsa = RSA.Create();
        rsa.ImportSubjectPublicKeyInfo(spki, out _);
        var other = scheme == RsaEncryptionScheme.OaepSha1 ? RSAEncryptionPadding.OaepSHA256 : RSAEncryptionPadding.OaepSHA1;

        foreach (var ciphertext in new[]
                 {
                     Array.Empty<byte>(), TestData.Bytes(255), TestData.Bytes(257), new byte[256],
                     Enumerable.Repeat((byte)0xFF, 256).ToArray(), TestData.Bytes(256),
                     rsa.Encrypt(TestData.Bytes(16), other), rsa.Encrypt(TestData.Bytes(16), RSAEncryptionPadding.Pkcs1),
                 })
        {
            await TestData.ThrowsHsm(HsmErrorKind.AuthenticationFailed, () => _backend.DecryptRsaAsync(label, scheme, ciphertext).AsTask());
        }
    }

    [Fact]
    public async Task A_signing_key_cannot_decrypt()
    {
        var (label, spki) = await Keys.GetAsync(_backend, HsmKeySpec.Rsa2048, HsmKeyUsage.SignVerify);
        using var rsa = RSA.Create();
        rsa.ImportSubjectPublicKeyInfo(spki, out _);

        await TestData.ThrowsHsm(HsmErrorKind.InvalidInput, () => _backend.DecryptRsaAsync(label, RsaEncryptionScheme.OaepSha1,
            rsa.Encrypt(TestData.Bytes(16), RSAEncryptionPadding.OaepSHA1)).AsTask());
        await TestData.ThrowsHsm(HsmErrorKind.InvalidInput, () => _backend.DecryptRsaAsync(label, RsaEncryptionScheme.OaepSha256,
            rsa.Encrypt(TestData.Bytes(16), RSAEncryptionPadding.OaepSHA256)).AsTask());
    }

    [Fact]
    public async Task An_EC_key_cannot_decrypt()
    {
        var (label, _) = await Keys.GetAsync(_backend, HsmKeySpec.EcP256, HsmKeyUsage.SignVerify);

        await TestData.ThrowsHsm(HsmErrorKind.InvalidInput,
            () => _backend.DecryptRsaAsync(label, RsaEncryptionScheme.OaepSha256, TestData.Bytes(256)).AsTask());
    }

    private static RSAEncryptionPadding Padding(RsaEncryptionScheme scheme) =>
        scheme == RsaEncryptionScheme.OaepSha1 ? RSAEncryptionPadding.OaepSHA1 : RSAEncryptionPadding.OaepSHA256;
}
