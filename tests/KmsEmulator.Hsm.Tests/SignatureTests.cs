using System.Security.Cryptography;
using KmsEmulator.Hsm.Pkcs11;
using Net.Pkcs11Interop.Common;

namespace KmsEmulator.Hsm.Tests;

[Collection(SoftHsmCollection.Name)]
public sealed class SignatureTests(SoftHsmFixture fixture) : IDisposable
{
    private static readonly string TokenLabel = SoftHsmFixture.NewTokenLabel("sign");
    private static readonly SharedKeys Keys = new();
    private readonly Pkcs11Backend _backend = fixture.Open(TokenLabel);

    public void Dispose() => _backend.Dispose();

    public static TheoryData<SignatureScheme, bool> RsaSchemes()
    {
        var data = new TheoryData<SignatureScheme, bool>();
        foreach (var scheme in new[] { SignatureScheme.RsaPssSha256, SignatureScheme.RsaPssSha384, SignatureScheme.RsaPssSha512,
                     SignatureScheme.RsaPkcs1Sha256, SignatureScheme.RsaPkcs1Sha384, SignatureScheme.RsaPkcs1Sha512 })
        {
            data.Add(scheme, false);
            data.Add(scheme, true);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(RsaSchemes))]
    public async Task RSA_signatures_verify_in_dotnet_and_in_the_HSM(SignatureScheme scheme, bool inputIsDigest)
    {
        var (label, spki) = await Keys.GetAsync(_backend, HsmKeySpec.Rsa2048, HsmKeyUsage.SignVerify);
        var hash = Hashes.Of(scheme);
        var message = TestData.Bytes(300);
        var digest = CryptographicOperations.HashData(hash, message);
        var padding = scheme is SignatureScheme.RsaPssSha256 or SignatureScheme.RsaPssSha384 or SignatureScheme.RsaPssSha512
            ? RSASignaturePadding.Pss : RSASignaturePadding.Pkcs1;
        var input = inputIsDigest ? digest : message;

        var signature = await _backend.SignAsync(label, scheme, input, inputIsDigest);

        using var rsa = RSA.Create();
        rsa.ImportSubjectPublicKeyInfo(spki, out _);
        Assert.Equal(256, signature.Length);
        Assert.True(rsa.VerifyHash(digest, signature, hash, padding));
        Assert.True(await _backend.VerifyAsync(label, scheme, input, inputIsDigest, signature));
        Assert.False(await _backend.VerifyAsync(label, scheme, input, inputIsDigest, Tampered(signature, 17)));
        Assert.False(await _backend.VerifyAsync(label, scheme, Tampered(input, 0), inputIsDigest, signature));
    }

    [Fact]
    public async Task RSA_PSS_signatures_are_randomised_and_PKCS1_signatures_are_not()
    {
        var (label, _) = await Keys.GetAsync(_backend, HsmKeySpec.Rsa2048, HsmKeyUsage.SignVerify);
        var message = TestData.Bytes(20);

        Assert.NotEqual(await _backend.SignAsync(label, SignatureScheme.RsaPssSha256, message, false),
            await _backend.SignAsync(label, SignatureScheme.RsaPssSha256, message, false));
        Assert.Equal(await _backend.SignAsync(label, SignatureScheme.RsaPkcs1Sha256, message, false),
            await _backend.SignAsync(label, SignatureScheme.RsaPkcs1Sha256, message, false));
    }

    public static TheoryData<HsmKeySpec, SignatureScheme, bool> EcdsaCases()
    {
        var data = new TheoryData<HsmKeySpec, SignatureScheme, bool>();
        foreach (var (spec, scheme) in new[]
                 {
                     (HsmKeySpec.EcP256, SignatureScheme.EcdsaSha256), (HsmKeySpec.EcP384, SignatureScheme.EcdsaSha384),
                     (HsmKeySpec.EcP521, SignatureScheme.EcdsaSha512), (HsmKeySpec.EcSecp256k1, SignatureScheme.EcdsaSha256),
                 })
        {
            data.Add(spec, scheme, false);
            data.Add(spec, scheme, true);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(EcdsaCases))]
    public async Task ECDSA_signatures_are_DER_and_verify_in_dotnet_and_in_the_HSM(HsmKeySpec spec, SignatureScheme scheme, bool inputIsDigest)
    {
        var (label, spki) = await Keys.GetAsync(_backend, spec, HsmKeyUsage.SignVerify);
        var hash = Hashes.Of(scheme);
        var message = TestData.Bytes(1000);
        var digest = CryptographicOperations.HashData(hash, message);
        var input = inputIsDigest ? digest : message;

        var signature = await _backend.SignAsync(label, scheme, input, inputIsDigest);

        using var key = ECDsa.Create();
        key.ImportSubjectPublicKeyInfo(spki, out _);
        Assert.Equal(0x30, signature[0]);
        Assert.True(key.VerifyHash(digest, signature, DSASignatureFormat.Rfc3279DerSequence));
        Assert.True(await _backend.VerifyAsync(label, scheme, input, inputIsDigest, signature));
        Assert.False(await _backend.VerifyAsync(label, scheme, input, inputIsDigest, Tampered(signature, signature.Length - 1)));
        Assert.False(await _backend.VerifyAsync(label, scheme, Tampered(input, 1), inputIsDigest, signature));
    }

    [Fact]
    public async Task The_HSM_verifies_ECDSA_signatures_made_by_dotnet()
    {
        // Checks the DER to r‖s conversion on signatures whose integers have various lengths.
        var (label, spki) = await Keys.GetAsync(_backend, HsmKeySpec.EcP521, HsmKeyUsage.SignVerify);
        using var verifier = ECDsa.Create();
        verifier.ImportSubjectPublicKeyInfo(spki, out _);
        for (var i = 0; i < 20; i++)
        {
            var message = TestData.Bytes(32);
            var signature = await _backend.SignAsync(label, SignatureScheme.EcdsaSha512, message, false);
            Assert.True(verifier.VerifyData(message, signature, HashAlgorithmName.SHA512, DSASignatureFormat.Rfc3279DerSequence));
            Assert.True(await _backend.VerifyAsync(label, SignatureScheme.EcdsaSha512, message, false, signature));
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("3000")]
    [InlineData("300602010102010100")] // trailing byte
    [InlineData("3006020181020101")] // negative r
    [InlineData("308106020101020101")] // non-minimal length
    [InlineData("0102030405")]
    [InlineData("3006020100020100")] // r = s = 0
    [InlineData("3046022100ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff022100ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff")] // r, s >= n
    [InlineData("304602210100000000000000000000000000000000000000000000000000000000000000000221010000000000000000000000000000000000000000000000000000000000000000")] // r, s wider than the field
    public async Task A_malformed_ECDSA_signature_is_false(string hex)
    {
        var (label, _) = await Keys.GetAsync(_backend, HsmKeySpec.EcP256, HsmKeyUsage.SignVerify);

        Assert.False(await _backend.VerifyAsync(label, SignatureScheme.EcdsaSha256, TestData.Bytes(10), false, Convert.FromHexString(hex)));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(255)]
    [InlineData(257)]
    public async Task An_RSA_signature_of_the_wrong_length_is_false(int length)
    {
        var (label, _) = await Keys.GetAsync(_backend, HsmKeySpec.Rsa2048, HsmKeyUsage.SignVerify);

        Assert.False(await _backend.VerifyAsync(label, SignatureScheme.RsaPssSha256, TestData.Bytes(10), false, TestData.Bytes(length)));
        Assert.False(await _backend.VerifyAsync(label, SignatureScheme.RsaPkcs1Sha256, TestData.Bytes(10), false, new byte[length]));
    }

    [Fact]
    public async Task An_RSA_signature_not_below_the_modulus_is_false()
    {
        var (label, _) = await Keys.GetAsync(_backend, HsmKeySpec.Rsa2048, HsmKeyUsage.SignVerify);
        var ones = Enumerable.Repeat((byte)0xFF, 256).ToArray();

        Assert.False(await _backend.VerifyAsync(label, SignatureScheme.RsaPssSha256, TestData.Bytes(10), false, ones));
        Assert.False(await _backend.VerifyAsync(label, SignatureScheme.RsaPkcs1Sha512, TestData.Bytes(10), false, ones));
    }

    [Fact]
    public async Task Ed25519_signs_the_message_deterministically_and_the_HSM_verifies_it()
    {
        var (label, spki) = await Keys.GetAsync(_backend, HsmKeySpec.Ed25519, HsmKeyUsage.SignVerify);
        var message = TestData.Bytes(500);

        var signature = await _backend.SignAsync(label, SignatureScheme.Ed25519, message, inputIsDigest: false);

        Assert.Equal(64, signature.Length);
        Assert.Equal(signature, await _backend.SignAsync(label, SignatureScheme.Ed25519, message, false));
        Assert.Equal(44, spki.Length);
        Assert.True(await _backend.VerifyAsync(label, SignatureScheme.Ed25519, message, false, signature));
        Assert.False(await _backend.VerifyAsync(label, SignatureScheme.Ed25519, message, false, Tampered(signature, 40)));
        Assert.False(await _backend.VerifyAsync(label, SignatureScheme.Ed25519, Tampered(message, 3), false, signature));
        Assert.False(await _backend.VerifyAsync(label, SignatureScheme.Ed25519, message, false, signature[..63]));
        Assert.False(await _backend.VerifyAsync(label, SignatureScheme.Ed25519, message, false, TestData.Bytes(64)));
    }

    [SkippableFact]
    public async Task Ed25519_signatures_verify_with_OpenSSL()
    {
        Skip.IfNot(OpenSslCli.IsAvailable, "The openssl command-line tool is not installed.");
        var (label, spki) = await Keys.GetAsync(_backend, HsmKeySpec.Ed25519, HsmKeyUsage.SignVerify);
        var message = TestData.Bytes(77);

        var signature = await _backend.SignAsync(label, SignatureScheme.Ed25519, message, false);

        Assert.True(OpenSslCli.VerifyEd25519(spki, message, signature));
        Assert.False(OpenSslCli.VerifyEd25519(spki, Tampered(message, 0), signature));
    }

    [Fact]
    public async Task Ed25519_matches_the_RFC_8032_test_vector()
    {
        // RFC 8032 §7.1, TEST 1: the empty message. The key is imported into the token for the test only.
        var seed = Convert.FromHexString("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        var publicKey = Convert.FromHexString("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
        var expected = Convert.FromHexString(
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
        var label = TestData.KeyLabel("rfc8032");
        byte[] curve = [0x06, 0x03, 0x2b, 0x65, 0x70];
        await HsmObjects.CreateAsync(_backend,
            new(CKA.CKA_CLASS, CKO.CKO_PRIVATE_KEY), new(CKA.CKA_KEY_TYPE, (CKK)0x40), new(CKA.CKA_TOKEN, true),
            new(CKA.CKA_PRIVATE, true), new(CKA.CKA_SENSITIVE, true), new(CKA.CKA_EXTRACTABLE, false), new(CKA.CKA_SIGN, true),
            new(CKA.CKA_EC_PARAMS, curve), new(CKA.CKA_VALUE, seed), new(CKA.CKA_LABEL, label));
        await HsmObjects.CreateAsync(_backend,
            new(CKA.CKA_CLASS, CKO.CKO_PUBLIC_KEY), new(CKA.CKA_KEY_TYPE, (CKK)0x40), new(CKA.CKA_TOKEN, true),
            new(CKA.CKA_PRIVATE, true), new(CKA.CKA_VERIFY, true), new(CKA.CKA_EC_PARAMS, curve),
            new(CKA.CKA_EC_POINT, (byte[])[0x04, 0x20, .. publicKey]), new(CKA.CKA_LABEL, label));
        try
        {
            Assert.Equal(expected, await _backend.SignAsync(label, SignatureScheme.Ed25519, Array.Empty<byte>(), false));
            Assert.True(await _backend.VerifyAsync(label, SignatureScheme.Ed25519, Array.Empty<byte>(), false, expected));
            Assert.Equal(publicKey, (await _backend.GetPublicKeyAsync(label))[12..]);
        }
        finally
        {
            await _backend.DestroyAsync(label);
        }
    }

    [Fact]
    public async Task Ed25519_over_a_digest_is_InvalidInput()
    {
        var (label, _) = await Keys.GetAsync(_backend, HsmKeySpec.Ed25519, HsmKeyUsage.SignVerify);

        await TestData.ThrowsHsm(HsmErrorKind.InvalidInput,
            () => _backend.SignAsync(label, SignatureScheme.Ed25519, TestData.Bytes(64), inputIsDigest: true).AsTask());
    }

    [Fact]
    public async Task Ed25519ph_is_Unsupported()
    {
        var (label, _) = await Keys.GetAsync(_backend, HsmKeySpec.Ed25519, HsmKeyUsage.SignVerify);

        await TestData.ThrowsHsm(HsmErrorKind.Unsupported,
            () => _backend.SignAsync(label, SignatureScheme.Ed25519Ph, TestData.Bytes(64), inputIsDigest: true).AsTask());
        await TestData.ThrowsHsm(HsmErrorKind.Unsupported,
            () => _backend.VerifyAsync(label, SignatureScheme.Ed25519Ph, TestData.Bytes(64), true, TestData.Bytes(64)).AsTask());
    }

    [Theory]
    [InlineData(SignatureScheme.RsaPssSha256, 31)]
    [InlineData(SignatureScheme.RsaPkcs1Sha384, 32)]
    [InlineData(SignatureScheme.RsaPssSha512, 0)]
    public async Task A_digest_of_the_wrong_length_is_InvalidInput(SignatureScheme scheme, int length)
    {
        var (label, _) = await Keys.GetAsync(_backend, HsmKeySpec.Rsa2048, HsmKeyUsage.SignVerify);

        await TestData.ThrowsHsm(HsmErrorKind.InvalidInput, () => _backend.SignAsync(label, scheme, TestData.Bytes(length), true).AsTask());
        await TestData.ThrowsHsm(HsmErrorKind.InvalidInput,
            () => _backend.VerifyAsync(label, scheme, TestData.Bytes(length), true, TestData.Bytes(256)).AsTask());
    }

    [Theory]
    [InlineData(HsmKeySpec.Rsa2048, SignatureScheme.EcdsaSha256)]
    [InlineData(HsmKeySpec.EcP256, SignatureScheme.RsaPssSha256)]
    [InlineData(HsmKeySpec.EcP256, SignatureScheme.Ed25519)]
    [InlineData(HsmKeySpec.Ed25519, SignatureScheme.EcdsaSha256)]
    public async Task A_scheme_that_does_not_fit_the_key_is_InvalidInput(HsmKeySpec spec, SignatureScheme scheme)
    {
        var (label, _) = await Keys.GetAsync(_backend, spec, HsmKeyUsage.SignVerify);

        await TestData.ThrowsHsm(HsmErrorKind.InvalidInput, () => _backend.SignAsync(label, scheme, TestData.Bytes(10), false).AsTask());
        await TestData.ThrowsHsm(HsmErrorKind.InvalidInput,
            () => _backend.VerifyAsync(label, scheme, TestData.Bytes(10), false, TestData.Bytes(64)).AsTask());
    }

    [Fact]
    public async Task Keys_without_the_sign_usage_cannot_sign()
    {
        var (encryptionKey, _) = await Keys.GetAsync(_backend, HsmKeySpec.Rsa2048, HsmKeyUsage.EncryptDecrypt);
        var (agreementKey, _) = await Keys.GetAsync(_backend, HsmKeySpec.EcP256, HsmKeyUsage.KeyAgreement);

        await TestData.ThrowsHsm(HsmErrorKind.InvalidInput,
            () => _backend.SignAsync(encryptionKey, SignatureScheme.RsaPssSha256, TestData.Bytes(10), false).AsTask());
        await TestData.ThrowsHsm(HsmErrorKind.InvalidInput,
            () => _backend.SignAsync(agreementKey, SignatureScheme.EcdsaSha256, TestData.Bytes(10), false).AsTask());
        await TestData.ThrowsHsm(HsmErrorKind.InvalidInput,
            () => _backend.VerifyAsync(encryptionKey, SignatureScheme.RsaPssSha256, TestData.Bytes(10), false, TestData.Bytes(256)).AsTask());
    }

    [Fact]
    public async Task Signing_with_a_missing_key_is_KeyNotFound()
    {
        await TestData.ThrowsHsm(HsmErrorKind.KeyNotFound,
            () => _backend.SignAsync(TestData.KeyLabel("missing"), SignatureScheme.EcdsaSha256, TestData.Bytes(10), false).AsTask());
    }

    private static byte[] Tampered(byte[] value, int index)
    {
        var copy = value.ToArray();
        copy[index] ^= 0x01;
        return copy;
    }
}
