using System.Security.Cryptography;
using KmsEmulator.Hsm.Pkcs11;

namespace KmsEmulator.Hsm.Tests;

/// <summary>Importing wrapped AES and HMAC material with an import wrapping key pair (ImportKeyMaterial's HSM part).</summary>
[Collection(SoftHsmCollection.Name)]
public sealed class ImportTests(SoftHsmFixture fixture) : IDisposable
{
    private static readonly string TokenLabel = SoftHsmFixture.NewTokenLabel("import");
    private static readonly SemaphoreSlim WrappingKeyGate = new(1, 1);
    private static (string Label, byte[] Spki)? _wrappingKey;
    private readonly Pkcs11Backend _backend = fixture.Open(TokenLabel);

    public void Dispose() => _backend.Dispose();

    public static TheoryData<ImportWrappingAlgorithm> Algorithms =>
    [
        ImportWrappingAlgorithm.RsaOaepSha1,
        ImportWrappingAlgorithm.RsaOaepSha256,
        ImportWrappingAlgorithm.RsaAesKeyWrapSha1,
        ImportWrappingAlgorithm.RsaAesKeyWrapSha256,
    ];

    [Theory]
    [MemberData(nameof(Algorithms))]
    public async Task Imported_AES_material_decrypts_what_dotnet_encrypted_with_the_same_bytes(ImportWrappingAlgorithm algorithm)
    {
        var (wrappingLabel, spki) = await WrappingKeyAsync();
        var material = TestData.Bytes(32);
        var label = TestData.KeyLabel("imported-aes");

        await _backend.ImportSecretKeyAsync(wrappingLabel, algorithm, Wrap(spki, algorithm, material), HsmKeyDescription.Aes(label));

        var iv = TestData.Iv();
        var plaintext = TestData.Bytes(100);
        var ciphertext = new byte[plaintext.Length];
        var tag = new byte[16];
        using (var aes = new AesGcm(material, 16))
        {
            aes.Encrypt(iv, plaintext, ciphertext, tag);
        }

        Assert.Equal(plaintext, await _backend.DecryptAesGcmAsync(label, iv, ReadOnlyMemory<byte>.Empty, ciphertext.Concat(tag).ToArray()));
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public async Task Imported_HMAC_material_computes_the_MAC_dotnet_computes(ImportWrappingAlgorithm algorithm)
    {
        var (wrappingLabel, spki) = await WrappingKeyAsync();
        var material = TestData.Bytes(48);
        var label = TestData.KeyLabel("imported-hmac");

        await _backend.ImportSecretKeyAsync(wrappingLabel, algorithm, Wrap(spki, algorithm, material), HsmKeyDescription.Hmac(label, HsmKeySpec.Hmac384));

        var message = TestData.Bytes(77);
        Assert.Equal(HMACSHA384.HashData(material, message), await _backend.MacAsync(label, MacAlgorithm.HmacSha384, message));
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public async Task The_check_value_is_the_same_for_the_same_material_and_differs_for_other_material(ImportWrappingAlgorithm algorithm)
    {
        var (wrappingLabel, spki) = await WrappingKeyAsync();
        var material = TestData.Bytes(32);

        var first = await _backend.ImportSecretKeyAsync(wrappingLabel, algorithm, Wrap(spki, algorithm, material), HsmKeyDescription.Aes(TestData.KeyLabel("kcv")));
        var again = await _backend.ImportSecretKeyAsync(wrappingLabel, ImportWrappingAlgorithm.RsaOaepSha1,
            Wrap(spki, ImportWrappingAlgorithm.RsaOaepSha1, material), HsmKeyDescription.Aes(TestData.KeyLabel("kcv")));
        var other = await _backend.ImportSecretKeyAsync(wrappingLabel, algorithm, Wrap(spki, algorithm, TestData.Bytes(32)), HsmKeyDescription.Aes(TestData.KeyLabel("kcv")));

        Assert.Equal(32, first.Length);
        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public async Task A_corrupt_blob_is_AuthenticationFailed_and_leaves_no_object(ImportWrappingAlgorithm algorithm)
    {
        var (wrappingLabel, spki) = await WrappingKeyAsync();
        var blob = Wrap(spki, algorithm, TestData.Bytes(32));
        blob[^3] ^= 0x40;
        var label = TestData.KeyLabel("corrupt");

        await TestData.ThrowsHsm(HsmErrorKind.AuthenticationFailed,
            () => _backend.ImportSecretKeyAsync(wrappingLabel, algorithm, blob, HsmKeyDescription.Aes(label)).AsTask());

        Assert.False(await _backend.ExistsAsync(label));
    }

    [Theory]
    [InlineData(ImportWrappingAlgorithm.RsaOaepSha1, 16)]
    [InlineData(ImportWrappingAlgorithm.RsaOaepSha1, 24)]
    [InlineData(ImportWrappingAlgorithm.RsaOaepSha256, 16)]
    [InlineData(ImportWrappingAlgorithm.RsaAesKeyWrapSha1, 24)]
    [InlineData(ImportWrappingAlgorithm.RsaAesKeyWrapSha256, 48)]
    public async Task AES_material_of_another_length_than_32_bytes_is_InvalidInput(ImportWrappingAlgorithm algorithm, int length)
    {
        var (wrappingLabel, spki) = await WrappingKeyAsync();
        var label = TestData.KeyLabel("short");

        await TestData.ThrowsHsm(HsmErrorKind.InvalidInput,
            () => _backend.ImportSecretKeyAsync(wrappingLabel, algorithm, Wrap(spki, algorithm, TestData.Bytes(length)), HsmKeyDescription.Aes(label)).AsTask());

        Assert.False(await _backend.ExistsAsync(label));
    }

    [Fact]
    public async Task HMAC_material_shorter_than_the_key_spec_is_InvalidInput()
    {
        var (wrappingLabel, spki) = await WrappingKeyAsync();

        await TestData.ThrowsHsm(HsmErrorKind.InvalidInput, () => _backend.ImportSecretKeyAsync(wrappingLabel, ImportWrappingAlgorithm.RsaOaepSha1,
            Wrap(spki, ImportWrappingAlgorithm.RsaOaepSha1, TestData.Bytes(40)), HsmKeyDescription.Hmac(TestData.KeyLabel("short-hmac"), HsmKeySpec.Hmac512)).AsTask());
    }

    [Fact]
    public async Task Imported_objects_pass_the_start_up_index_as_imported_material()
    {
        var (wrappingLabel, spki) = await WrappingKeyAsync();
        var prefix = $"idx-{Guid.NewGuid():N}/";
        var aes = HsmKeyDescription.Aes(prefix + "aes") with { Imported = true };
        var hmac = HsmKeyDescription.Hmac(prefix + "hmac", HsmKeySpec.Hmac256) with { Imported = true };
        await _backend.ImportSecretKeyAsync(wrappingLabel, ImportWrappingAlgorithm.RsaAesKeyWrapSha256,
            Wrap(spki, ImportWrappingAlgorithm.RsaAesKeyWrapSha256, TestData.Bytes(32)), aes);
        await _backend.ImportSecretKeyAsync(wrappingLabel, ImportWrappingAlgorithm.RsaOaepSha256,
            Wrap(spki, ImportWrappingAlgorithm.RsaOaepSha256, TestData.Bytes(32)), hmac);

        using var reopened = fixture.Open(TokenLabel);
        var inventory = await reopened.IndexAsync(prefix, [aes, hmac]);

        Assert.Empty(inventory.Defective);
        Assert.Empty(inventory.Missing);
        Assert.Empty(inventory.Unexpected);

        // Described as generated keys instead, they are defective: they do not claim to have been made in the HSM.
        using var strict = fixture.Open(TokenLabel);
        var asGenerated = await strict.IndexAsync(prefix, [aes with { Imported = false }]);
        Assert.Single(asGenerated.Defective);
    }

    [Theory]
    [InlineData(ImportWrappingAlgorithm.RsaAesKeyWrapSha1, HsmKeyUsage.SignVerify)]
    [InlineData(ImportWrappingAlgorithm.RsaAesKeyWrapSha256, HsmKeyUsage.EncryptDecrypt)]
    public async Task An_imported_RSA_private_key_works_with_its_public_key_and_survives_the_index(ImportWrappingAlgorithm algorithm, HsmKeyUsage usage)
    {
        var (wrappingLabel, spki) = await WrappingKeyAsync();
        using var rsa = RSA.Create(2048);
        var prefix = $"rsa-{Guid.NewGuid():N}/";
        var target = new HsmKeyDescription(prefix + "key", HsmKeySpec.Rsa2048, usage);

        var publicKey = await _backend.ImportKeyPairAsync(wrappingLabel, algorithm, Wrap(spki, algorithm, rsa.ExportPkcs8PrivateKey()), target);

        Assert.Equal(rsa.ExportSubjectPublicKeyInfo(), publicKey);
        Assert.Equal(publicKey, await _backend.GetPublicKeyAsync(target.Label));
        if (usage == HsmKeyUsage.SignVerify)
        {
            var digest = SHA256.HashData(TestData.Bytes(50));
            var signature = await _backend.SignAsync(target.Label, SignatureScheme.RsaPssSha256, digest, inputIsDigest: true);
            Assert.True(rsa.VerifyHash(digest, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pss));
        }
        else
        {
            var plaintext = TestData.Bytes(40);
            Assert.Equal(plaintext, await _backend.DecryptRsaAsync(target.Label, RsaEncryptionScheme.OaepSha256, rsa.Encrypt(plaintext, RSAEncryptionPadding.OaepSHA256)));
        }

        using var reopened = fixture.Open(TokenLabel);
        var inventory = await reopened.IndexAsync(prefix, [target with { Imported = true }]);
        Assert.Empty(inventory.Defective);
        Assert.Empty(inventory.Missing);
    }

    [Theory]
    [InlineData(HsmKeySpec.EcP256, HsmKeyUsage.SignVerify, ImportWrappingAlgorithm.RsaAesKeyWrapSha1)]
    [InlineData(HsmKeySpec.EcP384, HsmKeyUsage.KeyAgreement, ImportWrappingAlgorithm.RsaAesKeyWrapSha256)]
    [InlineData(HsmKeySpec.EcP521, HsmKeyUsage.SignVerify, ImportWrappingAlgorithm.RsaAesKeyWrapSha256)]
    [InlineData(HsmKeySpec.EcSecp256k1, HsmKeyUsage.SignVerify, ImportWrappingAlgorithm.RsaAesKeyWrapSha1)]
    public async Task An_imported_EC_private_key_gets_its_public_key_and_works_with_it(HsmKeySpec spec, HsmKeyUsage usage, ImportWrappingAlgorithm algorithm)
    {
        var (wrappingLabel, spki) = await WrappingKeyAsync();
        var curve = spec switch
        {
            HsmKeySpec.EcP256 => ECCurve.NamedCurves.nistP256,
            HsmKeySpec.EcP384 => ECCurve.NamedCurves.nistP384,
            HsmKeySpec.EcP521 => ECCurve.NamedCurves.nistP521,
            _ => ECCurve.CreateFromFriendlyName("secP256k1"),
        };
        using var ec = ECDsa.Create(curve);
        var prefix = $"ec-{Guid.NewGuid():N}/";
        var target = new HsmKeyDescription(prefix + "key", spec, usage);

        var publicKey = await _backend.ImportKeyPairAsync(wrappingLabel, algorithm, Wrap(spki, algorithm, ec.ExportPkcs8PrivateKey()), target);

        Assert.Equal(ec.ExportSubjectPublicKeyInfo(), publicKey);
        Assert.Equal(publicKey, await _backend.GetPublicKeyAsync(target.Label));
        if (usage == HsmKeyUsage.SignVerify)
        {
            var digest = SHA256.HashData(TestData.Bytes(50));
            var signature = await _backend.SignAsync(target.Label, SignatureScheme.EcdsaSha256, digest, inputIsDigest: true);
            Assert.True(ec.VerifyHash(digest, signature, DSASignatureFormat.Rfc3279DerSequence));
        }
        else
        {
            using var mine = ECDiffieHellman.Create(ec.ExportParameters(includePrivateParameters: true));
            using var peer = ECDiffieHellman.Create(curve);
            Assert.Equal(mine.DeriveRawSecretAgreement(peer.PublicKey), await _backend.DeriveSharedSecretAsync(target.Label, peer.PublicKey.ExportSubjectPublicKeyInfo()));
        }

        using var reopened = fixture.Open(TokenLabel);
        var inventory = await reopened.IndexAsync(prefix, [target with { Imported = true }]);
        Assert.Empty(inventory.Defective);
        Assert.Empty(inventory.Missing);
    }

    [Fact]
    public async Task An_EC_key_on_another_curve_than_the_target_is_InvalidInput_and_leaves_nothing()
    {
        var (wrappingLabel, spki) = await WrappingKeyAsync();
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        var label = TestData.KeyLabel("ec-curve");

        await TestData.ThrowsHsm(HsmErrorKind.InvalidInput, () => _backend.ImportKeyPairAsync(wrappingLabel, ImportWrappingAlgorithm.RsaAesKeyWrapSha256,
            Wrap(spki, ImportWrappingAlgorithm.RsaAesKeyWrapSha256, ec.ExportPkcs8PrivateKey()), new HsmKeyDescription(label, HsmKeySpec.EcP256, HsmKeyUsage.SignVerify)).AsTask());

        Assert.False(await _backend.ExistsAsync(label));
    }

    [Fact]
    public async Task An_RSA_key_of_another_size_than_the_target_is_InvalidInput_and_leaves_nothing()
    {
        var (wrappingLabel, spki) = await WrappingKeyAsync();
        using var rsa = RSA.Create(3072);
        var label = TestData.KeyLabel("rsa-size");

        await TestData.ThrowsHsm(HsmErrorKind.InvalidInput, () => _backend.ImportKeyPairAsync(wrappingLabel, ImportWrappingAlgorithm.RsaAesKeyWrapSha256,
            Wrap(spki, ImportWrappingAlgorithm.RsaAesKeyWrapSha256, rsa.ExportPkcs8PrivateKey()), new HsmKeyDescription(label, HsmKeySpec.Rsa2048, HsmKeyUsage.SignVerify)).AsTask());

        Assert.False(await _backend.ExistsAsync(label));
    }

    [Theory]
    [InlineData(HsmKeySpec.Aes256, 32)]
    [InlineData(HsmKeySpec.Hmac224, 28)]
    [InlineData(HsmKeySpec.Hmac256, 40)]
    [InlineData(HsmKeySpec.Hmac384, 48)]
    [InlineData(HsmKeySpec.Hmac512, 128)]
    public async Task The_check_value_of_plaintext_material_is_that_of_the_same_material_imported(HsmKeySpec spec, int length)
    {
        var (wrappingLabel, spki) = await WrappingKeyAsync();
        var material = TestData.Bytes(length);
        var target = spec == HsmKeySpec.Aes256 ? HsmKeyDescription.Aes(TestData.KeyLabel("kcv-plain")) : HsmKeyDescription.Hmac(TestData.KeyLabel("kcv-plain"), spec);
        var imported = await _backend.ImportSecretKeyAsync(wrappingLabel, ImportWrappingAlgorithm.RsaAesKeyWrapSha256,
            Wrap(spki, ImportWrappingAlgorithm.RsaAesKeyWrapSha256, material), target);

        Assert.Equal(imported, await _backend.CheckValueOfSecretAsync(spec, material));
        Assert.NotEqual(imported, await _backend.CheckValueOfSecretAsync(spec, TestData.Bytes(length)));
        Assert.False(await _backend.ExistsAsync("kmsemu-check-value-probe"));
    }

    [Fact]
    public async Task The_check_value_of_plaintext_material_refuses_what_an_import_refuses()
    {
        await TestData.ThrowsHsm(HsmErrorKind.InvalidInput, () => _backend.CheckValueOfSecretAsync(HsmKeySpec.Aes256, TestData.Bytes(16)).AsTask());
        await TestData.ThrowsHsm(HsmErrorKind.InvalidInput, () => _backend.CheckValueOfSecretAsync(HsmKeySpec.Hmac512, TestData.Bytes(63)).AsTask());
        await TestData.ThrowsHsm(HsmErrorKind.Unsupported, () => _backend.CheckValueOfSecretAsync(HsmKeySpec.Rsa2048, TestData.Bytes(32)).AsTask());
    }

    [Theory]
    [InlineData(HsmKeySpec.Rsa2048)]
    [InlineData(HsmKeySpec.EcP256)]
    [InlineData(HsmKeySpec.EcP521)]
    [InlineData(HsmKeySpec.EcSecp256k1)]
    public async Task The_public_key_of_a_plaintext_PKCS8_key_is_the_one_its_import_returns(HsmKeySpec spec)
    {
        var (wrappingLabel, spki) = await WrappingKeyAsync();
        using AsymmetricAlgorithm key = spec == HsmKeySpec.Rsa2048 ? RSA.Create(2048) : ECDsa.Create(spec switch
        {
            HsmKeySpec.EcP256 => ECCurve.NamedCurves.nistP256,
            HsmKeySpec.EcP521 => ECCurve.NamedCurves.nistP521,
            _ => ECCurve.CreateFromFriendlyName("secP256k1"),
        });
        var pkcs8 = key.ExportPkcs8PrivateKey();

        var imported = await _backend.ImportKeyPairAsync(wrappingLabel, ImportWrappingAlgorithm.RsaAesKeyWrapSha256,
            Wrap(spki, ImportWrappingAlgorithm.RsaAesKeyWrapSha256, pkcs8), new HsmKeyDescription(TestData.KeyLabel("pkcs8"), spec, HsmKeyUsage.SignVerify));

        Assert.Equal(imported, KmsEmulator.Hsm.Crypto.Pkcs8PublicKey.Of(spec, pkcs8));
    }

    [Fact]
    public void A_plaintext_PKCS8_key_of_another_spec_or_no_key_at_all_is_InvalidInput()
    {
        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        using var rsa3072 = RSA.Create(3072);

        Assert.Equal(HsmErrorKind.InvalidInput, Assert.Throws<HsmException>(() => KmsEmulator.Hsm.Crypto.Pkcs8PublicKey.Of(HsmKeySpec.EcP256, p384.ExportPkcs8PrivateKey())).Kind);
        Assert.Equal(HsmErrorKind.InvalidInput, Assert.Throws<HsmException>(() => KmsEmulator.Hsm.Crypto.Pkcs8PublicKey.Of(HsmKeySpec.Rsa2048, rsa3072.ExportPkcs8PrivateKey())).Kind);
        Assert.Equal(HsmErrorKind.InvalidInput, Assert.Throws<HsmException>(() => KmsEmulator.Hsm.Crypto.Pkcs8PublicKey.Of(HsmKeySpec.Rsa2048, p384.ExportPkcs8PrivateKey())).Kind);
        Assert.Equal(HsmErrorKind.InvalidInput, Assert.Throws<HsmException>(() => KmsEmulator.Hsm.Crypto.Pkcs8PublicKey.Of(HsmKeySpec.EcP256, TestData.Bytes(100))).Kind);
        Assert.Equal(HsmErrorKind.Unsupported, Assert.Throws<HsmException>(() => KmsEmulator.Hsm.Crypto.Pkcs8PublicKey.Of(HsmKeySpec.Ed25519, TestData.Bytes(48))).Kind);
    }

    [Fact]
    public async Task The_wrapping_key_pair_may_only_unwrap_and_decrypt()
    {
        var (wrappingLabel, _) = await WrappingKeyAsync();

        await TestData.ThrowsHsm(HsmErrorKind.InvalidInput,
            () => _backend.SignAsync(wrappingLabel, SignatureScheme.RsaPssSha256, TestData.Bytes(32), inputIsDigest: true).AsTask());
    }

    [Fact]
    public async Task Parallel_imports_under_forced_garbage_collection_all_succeed_with_the_right_material()
    {
        var (wrappingLabel, spki) = await WrappingKeyAsync();
        using var stop = new CancellationTokenSource();
        var storm = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
                GC.WaitForPendingFinalizers();
            }
        }) { IsBackground = true };
        storm.Start();
        try
        {
            var algorithms = Enum.GetValues<ImportWrappingAlgorithm>();
            using var rsa = RSA.Create(2048);
            var rsaKeys = Enumerable.Range(0, 4).Select(i => Task.Run(async () =>
            {
                var algorithm = i % 2 == 0 ? ImportWrappingAlgorithm.RsaAesKeyWrapSha1 : ImportWrappingAlgorithm.RsaAesKeyWrapSha256;
                var label = TestData.KeyLabel("parallel-rsa");
                var publicKey = await _backend.ImportKeyPairAsync(wrappingLabel, algorithm, Wrap(spki, algorithm, rsa.ExportPkcs8PrivateKey()),
                    new HsmKeyDescription(label, HsmKeySpec.Rsa2048, HsmKeyUsage.SignVerify));
                Assert.Equal(rsa.ExportSubjectPublicKeyInfo(), publicKey);
                await _backend.DestroyAsync(label);
            }));
            await Task.WhenAll(rsaKeys.Concat(Enumerable.Range(0, 24).Select(i => Task.Run(async () =>
            {
                var algorithm = algorithms[i % algorithms.Length];
                var material = TestData.Bytes(64);
                var label = TestData.KeyLabel("parallel");
                await _backend.ImportSecretKeyAsync(wrappingLabel, algorithm, Wrap(spki, algorithm, material), HsmKeyDescription.Hmac(label, HsmKeySpec.Hmac512));
                var message = TestData.Bytes(20);
                Assert.Equal(HMACSHA512.HashData(material, message), await _backend.MacAsync(label, MacAlgorithm.HmacSha512, message));
                await _backend.DestroyAsync(label);
            }))));
        }
        finally
        {
            stop.Cancel();
            storm.Join();
        }
    }

    /// <summary>Wraps material as a KMS caller does with the wrapping public key, with .NET only.</summary>
    internal static byte[] Wrap(byte[] spki, ImportWrappingAlgorithm algorithm, byte[] material)
    {
        using var rsa = RSA.Create();
        rsa.ImportSubjectPublicKeyInfo(spki, out _);
        switch (algorithm)
        {
            case ImportWrappingAlgorithm.RsaOaepSha1:
                return rsa.Encrypt(material, RSAEncryptionPadding.OaepSHA1);
            case ImportWrappingAlgorithm.RsaOaepSha256:
                return rsa.Encrypt(material, RSAEncryptionPadding.OaepSHA256);
            default:
                using (var aes = Aes.Create())
                {
                    aes.KeySize = 256;
                    var padding = algorithm == ImportWrappingAlgorithm.RsaAesKeyWrapSha1 ? RSAEncryptionPadding.OaepSHA1 : RSAEncryptionPadding.OaepSHA256;
                    return [.. rsa.Encrypt(aes.Key, padding), .. aes.EncryptKeyWrapPadded(material)];
                }
        }
    }

    private async Task<(string Label, byte[] Spki)> WrappingKeyAsync()
    {
        await WrappingKeyGate.WaitAsync();
        try
        {
            if (_wrappingKey is null)
            {
                var label = TestData.KeyLabel("wrapping");
                _wrappingKey = (label, await _backend.CreateKeyPairAsync(label, HsmKeySpec.Rsa3072, HsmKeyUsage.ImportWrapping));
            }

            return _wrappingKey.Value;
        }
        finally
        {
            WrappingKeyGate.Release();
        }
    }
}
