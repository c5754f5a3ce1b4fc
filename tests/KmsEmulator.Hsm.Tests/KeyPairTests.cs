using System.Security.Cryptography;
using System.Text;
using Net.Pkcs11Interop.Common;

namespace KmsEmulator.Hsm.Tests;

[Collection(SoftHsmCollection.Name)]
public sealed class KeyPairTests : IDisposable
{
    private static readonly string TokenLabel = SoftHsmFixture.NewTokenLabel("pairs");
    private readonly SoftHsmFixture _fixture;
    private readonly Pkcs11.Pkcs11Backend _backend;

    public KeyPairTests(SoftHsmFixture fixture)
    {
        _fixture = fixture;
        _backend = fixture.Open(TokenLabel);
    }

    public void Dispose() => _backend.Dispose();

    public static TheoryData<HsmKeySpec, HsmKeyUsage, CKA> PairKinds => new()
    {
        // spec, usage, and the private attribute that holds the secret
        { HsmKeySpec.Rsa2048, HsmKeyUsage.SignVerify, CKA.CKA_PRIVATE_EXPONENT },
        { HsmKeySpec.Rsa2048, HsmKeyUsage.EncryptDecrypt, CKA.CKA_PRIVATE_EXPONENT },
        { HsmKeySpec.EcP256, HsmKeyUsage.SignVerify, CKA.CKA_VALUE },
        { HsmKeySpec.EcP384, HsmKeyUsage.KeyAgreement, CKA.CKA_VALUE },
        { HsmKeySpec.EcP521, HsmKeyUsage.SignVerify, CKA.CKA_VALUE },
        { HsmKeySpec.EcSecp256k1, HsmKeyUsage.SignVerify, CKA.CKA_VALUE },
        { HsmKeySpec.Ed25519, HsmKeyUsage.SignVerify, CKA.CKA_VALUE },
    };

    [Theory]
    [MemberData(nameof(PairKinds))]
    public async Task Private_keys_are_private_sensitive_never_extractable_token_objects_with_only_their_usage(
        HsmKeySpec spec, HsmKeyUsage usage, CKA secret)
    {
        var label = TestData.KeyLabel();
        await _backend.CreateKeyPairAsync(label, spec, usage);

        var flags = await HsmObjects.ReadFlagsAsync(_backend, label, CKO.CKO_PRIVATE_KEY,
            CKA.CKA_TOKEN, CKA.CKA_PRIVATE, CKA.CKA_SENSITIVE, CKA.CKA_ALWAYS_SENSITIVE, CKA.CKA_EXTRACTABLE,
            CKA.CKA_NEVER_EXTRACTABLE, CKA.CKA_SIGN, CKA.CKA_DECRYPT, CKA.CKA_DERIVE, CKA.CKA_UNWRAP, CKA.CKA_SIGN_RECOVER);
        var secretValue = (await HsmObjects.ReadAsync(_backend, label, CKO.CKO_PRIVATE_KEY, secret)).Single();

        Assert.Equal(
            new Dictionary<CKA, bool>
            {
                [CKA.CKA_TOKEN] = true, [CKA.CKA_PRIVATE] = true, [CKA.CKA_SENSITIVE] = true, [CKA.CKA_ALWAYS_SENSITIVE] = true,
                [CKA.CKA_EXTRACTABLE] = false, [CKA.CKA_NEVER_EXTRACTABLE] = true,
                [CKA.CKA_SIGN] = usage == HsmKeyUsage.SignVerify, [CKA.CKA_DECRYPT] = usage == HsmKeyUsage.EncryptDecrypt,
                [CKA.CKA_DERIVE] = usage == HsmKeyUsage.KeyAgreement, [CKA.CKA_UNWRAP] = false, [CKA.CKA_SIGN_RECOVER] = false,
            },
            flags);
        Assert.True(secretValue.CannotBeRead);
    }

    [Theory]
    [MemberData(nameof(PairKinds))]
    public async Task The_public_key_is_a_token_object_with_the_same_label_and_id_and_matches_the_returned_spki(
        HsmKeySpec spec, HsmKeyUsage usage, CKA secret)
    {
        _ = secret;
        var label = TestData.KeyLabel();
        var spki = await _backend.CreateKeyPairAsync(label, spec, usage);

        var publicId = (await HsmObjects.ReadAsync(_backend, label, CKO.CKO_PUBLIC_KEY, CKA.CKA_ID)).Single().GetValueAsByteArray();
        var privateId = (await HsmObjects.ReadAsync(_backend, label, CKO.CKO_PRIVATE_KEY, CKA.CKA_ID)).Single().GetValueAsByteArray();
        var flags = await HsmObjects.ReadFlagsAsync(_backend, label, CKO.CKO_PUBLIC_KEY,
            CKA.CKA_TOKEN, CKA.CKA_PRIVATE, CKA.CKA_VERIFY, CKA.CKA_ENCRYPT, CKA.CKA_WRAP);

        Assert.StartsWith(label + "@", Encoding.UTF8.GetString(publicId), StringComparison.Ordinal);
        Assert.Equal(publicId, privateId);
        Assert.Equal(
            new Dictionary<CKA, bool>
            {
                [CKA.CKA_TOKEN] = true, [CKA.CKA_PRIVATE] = true, [CKA.CKA_VERIFY] = usage == HsmKeyUsage.SignVerify,
                [CKA.CKA_ENCRYPT] = usage == HsmKeyUsage.EncryptDecrypt, [CKA.CKA_WRAP] = false,
            },
            flags);
        Assert.Equal(spki, await _backend.GetPublicKeyAsync(label));
        Assert.Equal(2, await HsmObjects.CountLabelledAsync(_backend, label));
    }

    [Theory]
    [InlineData(HsmKeySpec.EcP256, "1.2.840.10045.3.1.7", 256)]
    [InlineData(HsmKeySpec.EcP384, "1.3.132.0.34", 384)]
    [InlineData(HsmKeySpec.EcP521, "1.3.132.0.35", 521)]
    [InlineData(HsmKeySpec.EcSecp256k1, "1.3.132.0.10", 256)]
    public async Task EC_public_keys_load_in_dotnet_on_the_right_curve(HsmKeySpec spec, string curveOid, int keySize)
    {
        var spki = await _backend.CreateKeyPairAsync(TestData.KeyLabel(), spec, HsmKeyUsage.SignVerify);

        using var key = ECDsa.Create();
        key.ImportSubjectPublicKeyInfo(spki, out var read);
        var parameters = key.ExportParameters(includePrivateParameters: false);

        Assert.Equal(spki.Length, read);
        Assert.Equal(keySize, key.KeySize);
        Assert.Equal(curveOid, parameters.Curve.Oid.Value);
    }

    [Fact]
    public async Task An_Ed25519_public_key_is_an_id_Ed25519_spki()
    {
        var spki = await _backend.CreateKeyPairAsync(TestData.KeyLabel(), HsmKeySpec.Ed25519, HsmKeyUsage.SignVerify);

        // SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING (32 bytes) } — RFC 8410.
        Assert.Equal(44, spki.Length);
        Assert.Equal(Convert.FromHexString("302a300506032b6570032100"), spki[..12]);
    }

    [Fact]
    public async Task RSA_3072_and_4096_key_pairs_have_the_right_size_and_sign()
    {
        foreach (var (spec, bits) in new[] { (HsmKeySpec.Rsa3072, 3072), (HsmKeySpec.Rsa4096, 4096) })
        {
            var label = TestData.KeyLabel();
            var spki = await _backend.CreateKeyPairAsync(label, spec, HsmKeyUsage.SignVerify);
            var message = TestData.Bytes(100);

            var signature = await _backend.SignAsync(label, SignatureScheme.RsaPssSha512, message, inputIsDigest: false);

            using var rsa = RSA.Create();
            rsa.ImportSubjectPublicKeyInfo(spki, out _);
            Assert.Equal(bits, rsa.KeySize);
            Assert.Equal(65537, (int)new System.Numerics.BigInteger(rsa.ExportParameters(false).Exponent, true, true));
            Assert.Equal(bits / 8, signature.Length);
            Assert.True(rsa.VerifyData(message, signature, HashAlgorithmName.SHA512, RSASignaturePadding.Pss));
            await _backend.DestroyAsync(label);
        }
    }

    [Theory]
    [InlineData(HsmKeySpec.Rsa2048, HsmKeyUsage.KeyAgreement)]
    [InlineData(HsmKeySpec.Rsa2048, HsmKeyUsage.GenerateVerifyMac)]
    [InlineData(HsmKeySpec.EcP256, HsmKeyUsage.EncryptDecrypt)]
    [InlineData(HsmKeySpec.Ed25519, HsmKeyUsage.EncryptDecrypt)]
    [InlineData(HsmKeySpec.Ed25519, HsmKeyUsage.KeyAgreement)]
    [InlineData(HsmKeySpec.Hmac256, HsmKeyUsage.SignVerify)]
    [InlineData(HsmKeySpec.Hmac256, HsmKeyUsage.GenerateVerifyMac)]
    public async Task A_usage_the_spec_cannot_have_is_InvalidInput_and_creates_nothing(HsmKeySpec spec, HsmKeyUsage usage)
    {
        var label = TestData.KeyLabel();

        await TestData.ThrowsHsm(HsmErrorKind.InvalidInput, () => _backend.CreateKeyPairAsync(label, spec, usage).AsTask());

        Assert.False(await _backend.ExistsAsync(label));
    }

    [Fact]
    public async Task Destroy_removes_the_private_and_the_public_key()
    {
        var label = TestData.KeyLabel();
        await _backend.CreateKeyPairAsync(label, HsmKeySpec.EcP256, HsmKeyUsage.SignVerify);
        var signature = await _backend.SignAsync(label, SignatureScheme.EcdsaSha256, TestData.Bytes(10), inputIsDigest: false);
        Assert.NotEmpty(signature);

        await _backend.DestroyAsync(label);

        Assert.Equal(0, await HsmObjects.CountLabelledAsync(_backend, label));
        Assert.False(await _backend.ExistsAsync(label));
        await TestData.ThrowsHsm(HsmErrorKind.KeyNotFound, () => _backend.GetPublicKeyAsync(label).AsTask());
        await TestData.ThrowsHsm(HsmErrorKind.KeyNotFound,
            () => _backend.SignAsync(label, SignatureScheme.EcdsaSha256, TestData.Bytes(10), false).AsTask());
        await TestData.ThrowsHsm(HsmErrorKind.KeyNotFound,
            () => _backend.VerifyAsync(label, SignatureScheme.EcdsaSha256, TestData.Bytes(10), false, signature).AsTask());
    }

    [Fact]
    public async Task A_key_pair_replaced_by_someone_else_is_found_again()
    {
        var label = TestData.KeyLabel();
        await _backend.CreateKeyPairAsync(label, HsmKeySpec.EcP256, HsmKeyUsage.SignVerify);
        await _backend.SignAsync(label, SignatureScheme.EcdsaSha256, TestData.Bytes(10), false);
        Assert.NotEmpty(await _backend.GetPublicKeyAsync(label));
        byte[] replacement;
        using (var other = _fixture.Open(TokenLabel))
        {
            await other.DestroyAsync(label);
            replacement = await other.CreateKeyPairAsync(label, HsmKeySpec.EcP256, HsmKeyUsage.SignVerify);
        }

        var message = TestData.Bytes(10);
        var signature = await _backend.SignAsync(label, SignatureScheme.EcdsaSha256, message, false);

        Assert.Equal(replacement, await _backend.GetPublicKeyAsync(label));
        using var key = ECDsa.Create();
        key.ImportSubjectPublicKeyInfo(replacement, out _);
        Assert.True(key.VerifyData(message, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));
    }

    [Fact]
    public async Task A_key_pair_is_listed_once()
    {
        var prefix = $"pair-list-{Guid.NewGuid():N}/";
        await _backend.CreateKeyPairAsync(prefix + "a", HsmKeySpec.EcP256, HsmKeyUsage.SignVerify);

        Assert.Equal([prefix + "a"], (await _backend.IndexAsync(prefix, [])).Unexpected);
    }

    [Fact]
    public async Task The_public_key_of_a_missing_label_is_KeyNotFound()
    {
        await TestData.ThrowsHsm(HsmErrorKind.KeyNotFound, () => _backend.GetPublicKeyAsync(TestData.KeyLabel("missing")).AsTask());
    }

    [Fact]
    public async Task An_AES_key_has_no_public_key()
    {
        var label = TestData.KeyLabel();
        await _backend.CreateAesKeyAsync(label);

        await TestData.ThrowsHsm(HsmErrorKind.KeyNotFound, () => _backend.GetPublicKeyAsync(label).AsTask());
    }

    [Fact]
    public async Task The_token_files_do_not_contain_a_key_pair_label_in_plaintext()
    {
        var label = TestData.KeyLabel("pair-secret");
        await _backend.CreateKeyPairAsync(label, HsmKeySpec.EcP256, HsmKeyUsage.SignVerify);

        var needle = Encoding.UTF8.GetBytes(label);
        Assert.DoesNotContain(Directory.EnumerateFiles(_fixture.TokenDirectory, "*", SearchOption.AllDirectories),
            file => File.ReadAllBytes(file).AsSpan().IndexOf(needle) >= 0);
    }
}
