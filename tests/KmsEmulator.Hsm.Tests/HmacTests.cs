using System.Security.Cryptography;
using System.Text;
using KmsEmulator.Hsm.Pkcs11;
using Net.Pkcs11Interop.Common;

namespace KmsEmulator.Hsm.Tests;

[Collection(SoftHsmCollection.Name)]
public sealed class HmacTests(SoftHsmFixture fixture) : IDisposable
{
    private static readonly string TokenLabel = SoftHsmFixture.NewTokenLabel("hmac");
    private static readonly SharedKeys Keys = new();
    private readonly Pkcs11Backend _backend = fixture.Open(TokenLabel);

    public void Dispose() => _backend.Dispose();

    [Theory]
    [InlineData(HsmKeySpec.Hmac224, MacAlgorithm.HmacSha224, 28)]
    [InlineData(HsmKeySpec.Hmac256, MacAlgorithm.HmacSha256, 32)]
    [InlineData(HsmKeySpec.Hmac384, MacAlgorithm.HmacSha384, 48)]
    [InlineData(HsmKeySpec.Hmac512, MacAlgorithm.HmacSha512, 64)]
    public async Task MACs_have_the_hash_length_are_deterministic_and_verify(HsmKeySpec spec, MacAlgorithm algorithm, int length)
    {
        var (label, _) = await Keys.GetAsync(_backend, spec, HsmKeyUsage.GenerateVerifyMac);
        var message = TestData.Bytes(100);

        var mac = await _backend.MacAsync(label, algorithm, message);

        Assert.Equal(length, mac.Length);
        Assert.Equal(mac, await _backend.MacAsync(label, algorithm, message));
        Assert.NotEqual(mac, await _backend.MacAsync(label, algorithm, TestData.Bytes(100)));
        Assert.True(await _backend.VerifyMacAsync(label, algorithm, message, mac));
        Assert.False(await _backend.VerifyMacAsync(label, algorithm, Changed(message), mac));
        Assert.False(await _backend.VerifyMacAsync(label, algorithm, message, Changed(mac)));
        Assert.False(await _backend.VerifyMacAsync(label, algorithm, message, mac[..^1]));
        Assert.False(await _backend.VerifyMacAsync(label, algorithm, message, (byte[])[.. mac, 0]));
        Assert.False(await _backend.VerifyMacAsync(label, algorithm, message, ReadOnlyMemory<byte>.Empty));
    }

    [Theory]
    [InlineData(HsmKeySpec.Hmac256, MacAlgorithm.HmacSha256)]
    [InlineData(HsmKeySpec.Hmac384, MacAlgorithm.HmacSha384)]
    [InlineData(HsmKeySpec.Hmac512, MacAlgorithm.HmacSha512)]
    public async Task MACs_equal_dotnet_HMAC_with_the_same_key(HsmKeySpec spec, MacAlgorithm algorithm)
    {
        // The HSM key cannot be read, so import a known key value with the same kind of template and compare.
        var key = TestData.Bytes(spec switch { HsmKeySpec.Hmac256 => 32, HsmKeySpec.Hmac384 => 48, _ => 64 });
        var label = TestData.KeyLabel("imported");
        await HsmObjects.CreateAsync(_backend,
            new(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY), new(CKA.CKA_KEY_TYPE, CKK.CKK_GENERIC_SECRET), new(CKA.CKA_TOKEN, true),
            new(CKA.CKA_PRIVATE, true), new(CKA.CKA_SENSITIVE, true), new(CKA.CKA_EXTRACTABLE, false), new(CKA.CKA_SIGN, true),
            new(CKA.CKA_VERIFY, true), new(CKA.CKA_VALUE, key), new(CKA.CKA_LABEL, label));
        try
        {
            foreach (var message in new[] { Array.Empty<byte>(), Encoding.UTF8.GetBytes("The quick brown fox"), TestData.Bytes(4096) })
            {
                byte[] expected = algorithm switch
                {
                    MacAlgorithm.HmacSha256 => HMACSHA256.HashData(key, message),
                    MacAlgorithm.HmacSha384 => HMACSHA384.HashData(key, message),
                    _ => HMACSHA512.HashData(key, message),
                };
                Assert.Equal(expected, await _backend.MacAsync(label, algorithm, message));
                Assert.True(await _backend.VerifyMacAsync(label, algorithm, message, expected));
            }
        }
        finally
        {
            await _backend.DestroyAsync(label);
        }
    }

    [Theory]
    [InlineData(HsmKeySpec.Hmac224, 28UL)]
    [InlineData(HsmKeySpec.Hmac512, 64UL)]
    public async Task HMAC_keys_are_private_sensitive_never_extractable_token_objects_that_only_sign_and_verify(HsmKeySpec spec, ulong length)
    {
        var label = TestData.KeyLabel();
        await _backend.CreateHmacKeyAsync(label, spec);

        var flags = await HsmObjects.ReadFlagsAsync(_backend, label, CKO.CKO_SECRET_KEY,
            CKA.CKA_TOKEN, CKA.CKA_PRIVATE, CKA.CKA_SENSITIVE, CKA.CKA_ALWAYS_SENSITIVE, CKA.CKA_EXTRACTABLE,
            CKA.CKA_NEVER_EXTRACTABLE, CKA.CKA_SIGN, CKA.CKA_VERIFY, CKA.CKA_ENCRYPT, CKA.CKA_DECRYPT, CKA.CKA_WRAP,
            CKA.CKA_UNWRAP, CKA.CKA_DERIVE);
        var values = await HsmObjects.ReadAsync(_backend, label, CKO.CKO_SECRET_KEY, CKA.CKA_VALUE, CKA.CKA_VALUE_LEN, CKA.CKA_KEY_TYPE);

        Assert.Equal(
            new Dictionary<CKA, bool>
            {
                [CKA.CKA_TOKEN] = true, [CKA.CKA_PRIVATE] = true, [CKA.CKA_SENSITIVE] = true, [CKA.CKA_ALWAYS_SENSITIVE] = true,
                [CKA.CKA_EXTRACTABLE] = false, [CKA.CKA_NEVER_EXTRACTABLE] = true, [CKA.CKA_SIGN] = true, [CKA.CKA_VERIFY] = true,
                [CKA.CKA_ENCRYPT] = false, [CKA.CKA_DECRYPT] = false, [CKA.CKA_WRAP] = false, [CKA.CKA_UNWRAP] = false,
                [CKA.CKA_DERIVE] = false,
            },
            flags);
        Assert.True(values[0].CannotBeRead);
        Assert.Equal(length, values[1].GetValueAsUlong());
        Assert.Equal((ulong)CKK.CKK_GENERIC_SECRET, values[2].GetValueAsUlong());
    }

    [Fact]
    public async Task A_MAC_algorithm_that_does_not_match_the_key_size_is_InvalidInput()
    {
        var (label, _) = await Keys.GetAsync(_backend, HsmKeySpec.Hmac256, HsmKeyUsage.GenerateVerifyMac);

        await TestData.ThrowsHsm(HsmErrorKind.InvalidInput, () => _backend.MacAsync(label, MacAlgorithm.HmacSha512, TestData.Bytes(8)).AsTask());
        await TestData.ThrowsHsm(HsmErrorKind.InvalidInput,
            () => _backend.VerifyMacAsync(label, MacAlgorithm.HmacSha224, TestData.Bytes(8), TestData.Bytes(28)).AsTask());
    }

    [Fact]
    public async Task AES_and_HMAC_keys_do_not_stand_in_for_each_other()
    {
        var (hmacKey, _) = await Keys.GetAsync(_backend, HsmKeySpec.Hmac256, HsmKeyUsage.GenerateVerifyMac);
        var aesKey = TestData.KeyLabel("aes");
        await _backend.CreateAesKeyAsync(aesKey);

        await TestData.ThrowsHsm(HsmErrorKind.InvalidInput, () => _backend.MacAsync(aesKey, MacAlgorithm.HmacSha256, TestData.Bytes(8)).AsTask());
        await TestData.ThrowsHsm(HsmErrorKind.InvalidInput,
            () => _backend.EncryptAesGcmAsync(hmacKey, TestData.Iv(), default, TestData.Bytes(8)).AsTask());
    }

    [Theory]
    [InlineData(HsmKeySpec.Rsa2048)]
    [InlineData(HsmKeySpec.EcP256)]
    public async Task Creating_an_HMAC_key_of_a_key_pair_spec_is_InvalidInput(HsmKeySpec spec)
    {
        await TestData.ThrowsHsm(HsmErrorKind.InvalidInput, () => _backend.CreateHmacKeyAsync(TestData.KeyLabel(), spec).AsTask());
    }

    [Fact]
    public async Task A_MAC_with_a_missing_key_is_KeyNotFound()
    {
        await TestData.ThrowsHsm(HsmErrorKind.KeyNotFound,
            () => _backend.MacAsync(TestData.KeyLabel("missing"), MacAlgorithm.HmacSha256, TestData.Bytes(8)).AsTask());
    }

    private static byte[] Changed(byte[] value)
    {
        var copy = value.ToArray();
        copy[^1] ^= 0x80;
        return copy;
    }
}
