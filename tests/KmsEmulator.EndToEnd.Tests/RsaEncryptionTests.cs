using System.Security.Cryptography;
using System.Text;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>One ENCRYPT_DECRYPT key of every RSA size, and a symmetric key.</summary>
public sealed class RsaKeysFixture : KeySetFixture
{
    protected override IEnumerable<(string Spec, string Usage)> KeyTypes =>
    [
        ("RSA_2048", "ENCRYPT_DECRYPT"), ("RSA_3072", "ENCRYPT_DECRYPT"), ("RSA_4096", "ENCRYPT_DECRYPT"), ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
    ];
}

/// <summary>Encrypt, Decrypt and ReEncrypt with RSA keys: RSAES-OAEP with SHA-1 and SHA-256, raw ciphertexts, AWS's limits and errors.</summary>
public sealed class RsaEncryptionTests(RsaKeysFixture fixture) : IClassFixture<RsaKeysFixture>
{
    private readonly AmazonKeyManagementServiceClient _kms = fixture.Kms;

    public static TheoryData<string, string, int> SpecsAlgorithmsAndLimits => new()
    {
        // The largest plaintexts AWS accepts (modulus − 2·hash − 2 bytes), as its error messages state them.
        { "RSA_2048", "RSAES_OAEP_SHA_1", 214 },
        { "RSA_2048", "RSAES_OAEP_SHA_256", 190 },
        { "RSA_3072", "RSAES_OAEP_SHA_1", 342 },
        { "RSA_3072", "RSAES_OAEP_SHA_256", 318 },
        { "RSA_4096", "RSAES_OAEP_SHA_1", 470 },
        { "RSA_4096", "RSAES_OAEP_SHA_256", 446 },
    };

    [Theory]
    [MemberData(nameof(SpecsAlgorithmsAndLimits))]
    public async Task Encrypt_makes_a_raw_RSA_ciphertext_that_Decrypt_opens_with_the_KeyId_and_algorithm(string spec, string algorithm, int limit)
    {
        var key = fixture.Key(spec);
        var plaintext = AsymmetricKeys.Random(limit);

        var encrypted = await EncryptAsync(key.KeyId, algorithm, plaintext);
        var decrypted = await DecryptAsync(key.KeyId, algorithm, encrypted.CiphertextBlob.ToArray());

        Assert.Equal(key.Arn, encrypted.KeyId);
        Assert.Equal(algorithm, encrypted.EncryptionAlgorithm.Value);
        Assert.Equal(int.Parse(spec[4..], System.Globalization.CultureInfo.InvariantCulture) / 8, encrypted.CiphertextBlob.Length);
        Assert.Equal(plaintext, decrypted.Plaintext.ToArray());
        Assert.Equal(key.Arn, decrypted.KeyId);
        Assert.Equal(algorithm, decrypted.EncryptionAlgorithm.Value);
        Assert.Null(decrypted.KeyMaterialId);
    }

    [Theory]
    [MemberData(nameof(SpecsAlgorithmsAndLimits))]
    public async Task A_ciphertext_made_locally_with_the_public_key_decrypts_in_KMS(string spec, string algorithm, int limit)
    {
        var key = fixture.Key(spec);
        using var rsa = RSA.Create();
        rsa.ImportSubjectPublicKeyInfo(await fixture.PublicKeyAsync(key), out _);
        var padding = algorithm == "RSAES_OAEP_SHA_1" ? RSAEncryptionPadding.OaepSHA1 : RSAEncryptionPadding.OaepSHA256;
        var plaintext = AsymmetricKeys.Random(limit / 2);

        var decrypted = await DecryptAsync(key.KeyId, algorithm, rsa.Encrypt(plaintext, padding));

        Assert.Equal(plaintext, decrypted.Plaintext.ToArray());
    }

    [Theory]
    [MemberData(nameof(SpecsAlgorithmsAndLimits))]
    public async Task Encrypt_of_more_than_the_OAEP_limit_returns_AWSs_ValidationException(string spec, string algorithm, int limit)
    {
        var key = fixture.Key(spec);

        await KmsAssert.ValidationAsync(
            () => EncryptAsync(key.KeyId, algorithm, AsymmetricKeys.Random(limit + 1)),
            $"Algorithm {algorithm} and key spec {spec} cannot encrypt data larger than {limit} bytes.");
    }

    [Fact]
    public async Task Encrypt_and_Decrypt_without_EncryptionAlgorithm_report_SYMMETRIC_DEFAULT_as_incompatible()
    {
        var key = fixture.Key("RSA_2048");
        var ciphertext = (await EncryptAsync(key.KeyId, "RSAES_OAEP_SHA_256", [1, 2, 3])).CiphertextBlob.ToArray();
        const string expected = "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048.";

        await KmsAssert.ErrorAsync<InvalidKeyUsageException>(() => _kms.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = Blob.Of([1]) }), expected);
        await KmsAssert.ErrorAsync<InvalidKeyUsageException>(
            () => _kms.DecryptAsync(new DecryptRequest { KeyId = key.KeyId, CiphertextBlob = Blob.Of(ciphertext) }), expected);
        await KmsAssert.ErrorAsync<InvalidKeyUsageException>(
            () => EncryptAsync(key.KeyId, "SYMMETRIC_DEFAULT", [1]), expected);
    }

    [Fact]
    public async Task An_RSA_algorithm_with_a_symmetric_key_returns_InvalidKeyUsageException()
    {
        var key = fixture.Key("SYMMETRIC_DEFAULT");

        await KmsAssert.ErrorAsync<InvalidKeyUsageException>(
            () => EncryptAsync(key.KeyId, "RSAES_OAEP_SHA_256", [1]),
            "Algorithm RSAES_OAEP_SHA_256 is incompatible with key spec SYMMETRIC_DEFAULT.");
    }

    [Fact]
    public async Task Decrypt_with_the_other_OAEP_hash_or_another_key_returns_InvalidCiphertextException()
    {
        var key = fixture.Key("RSA_2048");
        var other = await _kms.NewKeyAsync("RSA_2048", "ENCRYPT_DECRYPT");
        var ciphertext = (await EncryptAsync(key.KeyId, "RSAES_OAEP_SHA_256", Encoding.UTF8.GetBytes("for one key and hash"))).CiphertextBlob.ToArray();

        AsymmetricKeys.HasNoMessage(await KmsAssert.InvalidCiphertextAsync(() => DecryptAsync(key.KeyId, "RSAES_OAEP_SHA_1", ciphertext)));
        await KmsAssert.InvalidCiphertextAsync(() => DecryptAsync(other.KeyId, "RSAES_OAEP_SHA_256", ciphertext));
        Assert.Equal("for one key and hash", Encoding.UTF8.GetString((await DecryptAsync(key.KeyId, "RSAES_OAEP_SHA_256", ciphertext)).Plaintext.ToArray()));
    }

    [Fact]
    public async Task A_tampered_truncated_or_symmetric_ciphertext_given_to_an_RSA_key_returns_InvalidCiphertextException()
    {
        var key = fixture.Key("RSA_3072");
        var ciphertext = (await EncryptAsync(key.KeyId, "RSAES_OAEP_SHA_1", [7, 7, 7])).CiphertextBlob.ToArray();
        var symmetric = (await _kms.EncryptTextAsync(fixture.Key("SYMMETRIC_DEFAULT").KeyId, "symmetric")).CiphertextBlob.ToArray();

        foreach (var candidate in new[] { AsymmetricKeys.Flipped(ciphertext, 100), AsymmetricKeys.Flipped(ciphertext, ciphertext.Length - 1), ciphertext[..^1], [.. ciphertext, 0], symmetric })
        {
            await KmsAssert.InvalidCiphertextAsync(() => DecryptAsync(key.KeyId, "RSAES_OAEP_SHA_1", candidate));
        }
    }

    [Fact]
    public async Task Decrypt_of_an_RSA_ciphertext_without_a_KeyId_returns_InvalidCiphertextException()
    {
        var key = fixture.Key("RSA_2048");
        var ciphertext = await NotLikeSymmetricAsync(key.KeyId);

        await KmsAssert.InvalidCiphertextAsync(() => _kms.DecryptAsync(new DecryptRequest
        {
            CiphertextBlob = Blob.Of(ciphertext),
            EncryptionAlgorithm = EncryptionAlgorithmSpec.RSAES_OAEP_SHA_256,
        }));
    }

    [Fact]
    public async Task Decrypt_of_an_RSA_ciphertext_with_a_symmetric_KeyId_returns_InvalidCiphertextException()
    {
        var ciphertext = await NotLikeSymmetricAsync(fixture.Key("RSA_2048").KeyId);

        await KmsAssert.InvalidCiphertextAsync(() => _kms.DecryptAsync(new DecryptRequest { CiphertextBlob = Blob.Of(ciphertext), KeyId = fixture.Key("SYMMETRIC_DEFAULT").KeyId }));
    }

    [Fact]
    public async Task An_encryption_context_with_an_RSA_key_returns_ValidationException()
    {
        var key = fixture.Key("RSA_2048");
        var ciphertext = (await EncryptAsync(key.KeyId, "RSAES_OAEP_SHA_256", [1, 2, 3])).CiphertextBlob.ToArray();
        const string expected = "EncryptionContext is supported only with symmetric encryption KMS keys; a KMS key with key spec RSA_2048 takes none.";

        await KmsAssert.ValidationAsync(
            () => _kms.EncryptAsync(new EncryptRequest
            {
                KeyId = key.KeyId,
                Plaintext = Blob.Of([1]),
                EncryptionAlgorithm = EncryptionAlgorithmSpec.RSAES_OAEP_SHA_256,
                EncryptionContext = Blob.Context(("purpose", "test")),
            }),
            expected);
        await KmsAssert.ValidationAsync(
            () => _kms.DecryptAsync(new DecryptRequest
            {
                KeyId = key.KeyId,
                CiphertextBlob = Blob.Of(ciphertext),
                EncryptionAlgorithm = EncryptionAlgorithmSpec.RSAES_OAEP_SHA_256,
                EncryptionContext = Blob.Context(("purpose", "test")),
            }),
            expected);
    }

    [Fact]
    public async Task ReEncrypt_moves_ciphertexts_between_symmetric_and_RSA_keys_and_reports_material_ids_only_for_symmetric_keys()
    {
        var symmetric = fixture.Key("SYMMETRIC_DEFAULT");
        var rsa2048 = fixture.Key("RSA_2048");
        var rsa4096 = fixture.Key("RSA_4096");
        var context = Blob.Context(("stage", "symmetric"));
        var original = await _kms.EncryptTextAsync(symmetric.KeyId, "travelling", context);

        var toRsa = await _kms.ReEncryptAsync(new ReEncryptRequest
        {
            CiphertextBlob = Blob.Copy(original.CiphertextBlob),
            SourceEncryptionContext = context,
            DestinationKeyId = rsa2048.KeyId,
            DestinationEncryptionAlgorithm = EncryptionAlgorithmSpec.RSAES_OAEP_SHA_1,
        });
        var betweenRsa = await _kms.ReEncryptAsync(new ReEncryptRequest
        {
            CiphertextBlob = Blob.Copy(toRsa.CiphertextBlob),
            SourceKeyId = rsa2048.Arn,
            SourceEncryptionAlgorithm = EncryptionAlgorithmSpec.RSAES_OAEP_SHA_1,
            DestinationKeyId = rsa4096.KeyId,
            DestinationEncryptionAlgorithm = EncryptionAlgorithmSpec.RSAES_OAEP_SHA_256,
        });
        var backToSymmetric = await _kms.ReEncryptAsync(new ReEncryptRequest
        {
            CiphertextBlob = Blob.Copy(betweenRsa.CiphertextBlob),
            SourceKeyId = rsa4096.KeyId,
            SourceEncryptionAlgorithm = EncryptionAlgorithmSpec.RSAES_OAEP_SHA_256,
            DestinationKeyId = symmetric.KeyId,
        });

        Assert.Equal(symmetric.CurrentKeyMaterialId, toRsa.SourceKeyMaterialId);
        Assert.Null(toRsa.DestinationKeyMaterialId);
        Assert.Equal(256, toRsa.CiphertextBlob.Length);
        Assert.Equal(rsa2048.Arn, betweenRsa.SourceKeyId);
        Assert.Equal(rsa4096.Arn, betweenRsa.KeyId);
        Assert.Equal(EncryptionAlgorithmSpec.RSAES_OAEP_SHA_1, betweenRsa.SourceEncryptionAlgorithm);
        Assert.Equal(EncryptionAlgorithmSpec.RSAES_OAEP_SHA_256, betweenRsa.DestinationEncryptionAlgorithm);
        Assert.Null(betweenRsa.SourceKeyMaterialId);
        Assert.Null(betweenRsa.DestinationKeyMaterialId);
        Assert.Equal(symmetric.CurrentKeyMaterialId, backToSymmetric.DestinationKeyMaterialId);
        Assert.Equal("travelling", Blob.Text((await _kms.DecryptBlobAsync(backToSymmetric.CiphertextBlob)).Plaintext));
    }

    [Fact]
    public async Task ReEncrypt_of_an_RSA_ciphertext_without_a_SourceKeyId_returns_InvalidCiphertextException()
    {
        var ciphertext = await NotLikeSymmetricAsync(fixture.Key("RSA_2048").KeyId);

        await KmsAssert.InvalidCiphertextAsync(() => _kms.ReEncryptAsync(new ReEncryptRequest
        {
            CiphertextBlob = Blob.Of(ciphertext),
            SourceEncryptionAlgorithm = EncryptionAlgorithmSpec.RSAES_OAEP_SHA_256,
            DestinationKeyId = fixture.Key("SYMMETRIC_DEFAULT").KeyId,
        }));
    }

    [Fact]
    public async Task ReEncrypt_to_an_RSA_key_of_a_plaintext_above_its_limit_returns_ValidationException()
    {
        var symmetric = fixture.Key("SYMMETRIC_DEFAULT");
        var original = await _kms.EncryptAsync(new EncryptRequest { KeyId = symmetric.KeyId, Plaintext = Blob.Of(AsymmetricKeys.Random(191)) });

        await KmsAssert.ValidationAsync(
            () => _kms.ReEncryptAsync(new ReEncryptRequest
            {
                CiphertextBlob = Blob.Copy(original.CiphertextBlob),
                DestinationKeyId = fixture.Key("RSA_2048").KeyId,
                DestinationEncryptionAlgorithm = EncryptionAlgorithmSpec.RSAES_OAEP_SHA_256,
            }),
            "Algorithm RSAES_OAEP_SHA_256 and key spec RSA_2048 cannot encrypt data larger than 190 bytes.");
    }

    [Fact]
    public async Task Encrypt_and_Decrypt_with_an_RSA_signing_key_return_InvalidKeyUsageException()
    {
        var signing = await _kms.NewKeyAsync("RSA_2048", "SIGN_VERIFY");

        await KmsAssert.ErrorAsync<InvalidKeyUsageException>(
            () => EncryptAsync(signing.KeyId, "RSAES_OAEP_SHA_256", [1]), $"{signing.Arn} key usage is SIGN_VERIFY which is not valid for Encrypt.");
        await KmsAssert.ErrorAsync<InvalidKeyUsageException>(
            () => DecryptAsync(signing.KeyId, "RSAES_OAEP_SHA_256", AsymmetricKeys.Random(256)), $"{signing.Arn} key usage is SIGN_VERIFY which is not valid for Decrypt.");
    }

    [Fact]
    public async Task A_symmetric_ciphertext_given_to_an_HMAC_key_returns_IncorrectKeyException_as_in_AWS()
    {
        var hmac = await _kms.NewKeyAsync("HMAC_224", "GENERATE_VERIFY_MAC");
        var encrypted = await _kms.EncryptTextAsync(fixture.Key("SYMMETRIC_DEFAULT").KeyId, "not yours");

        await KmsAssert.ErrorAsync<IncorrectKeyException>(() => _kms.DecryptBlobAsync(encrypted.CiphertextBlob, keyId: hmac.KeyId), KmsAssert.IncorrectKeyMessage);
    }

    [Fact]
    public async Task GenerateDataKey_with_an_RSA_key_returns_InvalidKeyUsageException()
    {
        var key = fixture.Key("RSA_2048");
        const string expected = "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048.";

        await KmsAssert.ErrorAsync<InvalidKeyUsageException>(
            () => _kms.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = key.KeyId, KeySpec = DataKeySpec.AES_256 }), expected);
        await KmsAssert.ErrorAsync<InvalidKeyUsageException>(
            () => _kms.GenerateDataKeyWithoutPlaintextAsync(new GenerateDataKeyWithoutPlaintextRequest { KeyId = key.KeyId, NumberOfBytes = 16, DryRun = true }), expected);
    }

    [Fact]
    public async Task Encrypt_and_Decrypt_with_DryRun_and_a_disabled_RSA_key_return_AWSs_errors()
    {
        var key = await _kms.NewKeyAsync("RSA_2048", "ENCRYPT_DECRYPT");
        var ciphertext = (await EncryptAsync(key.KeyId, "RSAES_OAEP_SHA_1", [1])).CiphertextBlob.ToArray();

        await KmsAssert.ErrorAsync<DryRunOperationException>(
            () => _kms.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = Blob.Of([1]), EncryptionAlgorithm = EncryptionAlgorithmSpec.RSAES_OAEP_SHA_1, DryRun = true }),
            KmsAssert.DryRunMessage);
        await KmsAssert.ErrorAsync<DryRunOperationException>(
            () => _kms.DecryptAsync(new DecryptRequest { KeyId = key.KeyId, CiphertextBlob = Blob.Of(ciphertext), EncryptionAlgorithm = EncryptionAlgorithmSpec.RSAES_OAEP_SHA_1, DryRun = true }),
            KmsAssert.DryRunMessage);
        await KmsAssert.ValidationAsync(
            () => _kms.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = Blob.Of(new byte[215]), EncryptionAlgorithm = EncryptionAlgorithmSpec.RSAES_OAEP_SHA_1, DryRun = true }),
            "Algorithm RSAES_OAEP_SHA_1 and key spec RSA_2048 cannot encrypt data larger than 214 bytes.");

        await _kms.DisableKeyAsync(new DisableKeyRequest { KeyId = key.KeyId });
        await KmsAssert.DisabledAsync(() => EncryptAsync(key.KeyId, "RSAES_OAEP_SHA_1", [1]), key.Arn);
        await KmsAssert.DisabledAsync(() => DecryptAsync(key.KeyId, "RSAES_OAEP_SHA_1", ciphertext), key.Arn);
    }

    /// <summary>
    /// An RSA ciphertext whose first byte is not the symmetric format's version byte (an RSA output starts with it once
    /// in 256 times), so that what the test checks does not depend on chance.
    /// </summary>
    private async Task<byte[]> NotLikeSymmetricAsync(string keyId)
    {
        while (true)
        {
            var ciphertext = (await EncryptAsync(keyId, "RSAES_OAEP_SHA_256", [1, 2, 3])).CiphertextBlob.ToArray();
            if (ciphertext[0] != 0x01)
            {
                return ciphertext;
            }
        }
    }

    private Task<EncryptResponse> EncryptAsync(string keyId, string algorithm, byte[] plaintext) =>
        _kms.EncryptAsync(new EncryptRequest { KeyId = keyId, Plaintext = Blob.Of(plaintext), EncryptionAlgorithm = new EncryptionAlgorithmSpec(algorithm) });

    private Task<DecryptResponse> DecryptAsync(string keyId, string algorithm, byte[] ciphertext) =>
        _kms.DecryptAsync(new DecryptRequest { KeyId = keyId, CiphertextBlob = Blob.Of(ciphertext), EncryptionAlgorithm = new EncryptionAlgorithmSpec(algorithm) });
}
