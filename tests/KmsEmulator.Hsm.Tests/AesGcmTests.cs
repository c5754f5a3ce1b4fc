using KmsEmulator.Hsm.Pkcs11;

namespace KmsEmulator.Hsm.Tests;

[Collection(SoftHsmCollection.Name)]
public sealed class AesGcmTests : IAsyncLifetime
{
    private static readonly string TokenLabel = SoftHsmFixture.NewTokenLabel("gcm");
    private readonly Pkcs11Backend _backend;
    private readonly string _key = TestData.KeyLabel();
    private readonly byte[] _iv = TestData.Iv();
    private readonly byte[] _aad = TestData.Bytes(32);

    public AesGcmTests(SoftHsmFixture fixture) => _backend = fixture.Open(TokenLabel);

    public async Task InitializeAsync() => await _backend.CreateAesKeyAsync(_key);

    public async Task DisposeAsync()
    {
        await _backend.DestroyAsync(_key);
        _backend.Dispose();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(4096)]
    public async Task Plaintext_round_trips_and_grows_by_a_16_byte_tag(int length)
    {
        var plaintext = TestData.Bytes(length);

        var ciphertext = await _backend.EncryptAesGcmAsync(_key, _iv, _aad, plaintext);
        var decrypted = await _backend.DecryptAesGcmAsync(_key, _iv, _aad, ciphertext);

        Assert.Equal(length + 16, ciphertext.Length);
        Assert.Equal(plaintext, decrypted);
    }

    [Fact]
    public async Task Empty_aad_round_trips()
    {
        var plaintext = TestData.Bytes(20);

        var ciphertext = await _backend.EncryptAesGcmAsync(_key, _iv, ReadOnlyMemory<byte>.Empty, plaintext);

        Assert.Equal(plaintext, await _backend.DecryptAesGcmAsync(_key, _iv, ReadOnlyMemory<byte>.Empty, ciphertext));
    }

    [Fact]
    public async Task The_caller_supplied_iv_makes_encryption_deterministic()
    {
        var plaintext = TestData.Bytes(20);

        var first = await _backend.EncryptAesGcmAsync(_key, _iv, _aad, plaintext);
        var second = await _backend.EncryptAesGcmAsync(_key, _iv, _aad, plaintext);
        var otherIv = await _backend.EncryptAesGcmAsync(_key, TestData.Iv(), _aad, plaintext);

        Assert.Equal(first, second);
        Assert.NotEqual(first, otherIv);
    }

    [Fact]
    public async Task Tampered_ciphertext_fails_authentication()
    {
        var ciphertext = await EncryptSample();
        ciphertext[0] ^= 1;

        await TestData.ThrowsHsm(HsmErrorKind.AuthenticationFailed,
            () => _backend.DecryptAesGcmAsync(_key, _iv, _aad, ciphertext).AsTask());
    }

    [Fact]
    public async Task Tampered_tag_fails_authentication()
    {
        var ciphertext = await EncryptSample();
        ciphertext[^1] ^= 0x80;

        await TestData.ThrowsHsm(HsmErrorKind.AuthenticationFailed,
            () => _backend.DecryptAesGcmAsync(_key, _iv, _aad, ciphertext).AsTask());
    }

    [Fact]
    public async Task Truncated_ciphertext_fails_authentication()
    {
        var ciphertext = await EncryptSample();

        await TestData.ThrowsHsm(HsmErrorKind.AuthenticationFailed,
            () => _backend.DecryptAesGcmAsync(_key, _iv, _aad, ciphertext[..10]).AsTask());
    }

    [Fact]
    public async Task Wrong_aad_fails_authentication()
    {
        var ciphertext = await EncryptSample();

        await TestData.ThrowsHsm(HsmErrorKind.AuthenticationFailed,
            () => _backend.DecryptAesGcmAsync(_key, _iv, TestData.Bytes(32), ciphertext).AsTask());
    }

    [Fact]
    public async Task Wrong_iv_fails_authentication()
    {
        var ciphertext = await EncryptSample();

        await TestData.ThrowsHsm(HsmErrorKind.AuthenticationFailed,
            () => _backend.DecryptAesGcmAsync(_key, TestData.Iv(), _aad, ciphertext).AsTask());
    }

    [Fact]
    public async Task A_different_key_fails_authentication()
    {
        var ciphertext = await EncryptSample();
        var otherKey = TestData.KeyLabel();
        await _backend.CreateAesKeyAsync(otherKey);
        try
        {
            await TestData.ThrowsHsm(HsmErrorKind.AuthenticationFailed,
                () => _backend.DecryptAesGcmAsync(otherKey, _iv, _aad, ciphertext).AsTask());
        }
        finally
        {
            await _backend.DestroyAsync(otherKey);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(16)]
    public async Task An_iv_that_is_not_12_bytes_is_InvalidInput(int ivLength)
    {
        await TestData.ThrowsHsm(HsmErrorKind.InvalidInput,
            () => _backend.EncryptAesGcmAsync(_key, new byte[ivLength], _aad, TestData.Bytes(8)).AsTask());
    }

    [Fact]
    public async Task Encrypting_under_an_unknown_label_is_KeyNotFound()
    {
        await TestData.ThrowsHsm(HsmErrorKind.KeyNotFound,
            () => _backend.EncryptAesGcmAsync(TestData.KeyLabel("missing"), _iv, _aad, TestData.Bytes(8)).AsTask());
    }

    private async Task<byte[]> EncryptSample() => await _backend.EncryptAesGcmAsync(_key, _iv, _aad, TestData.Bytes(48));
}
