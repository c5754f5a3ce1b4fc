using System.Formats.Asn1;
using System.Security.Cryptography;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>A symmetric key to encrypt data key pairs under, and an RSA encryption key that cannot.</summary>
public sealed class DataKeyPairFixture : KeySetFixture
{
    protected override IEnumerable<(string Spec, string Usage)> KeyTypes => [("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"), ("RSA_2048", "ENCRYPT_DECRYPT")];
}

/// <summary>GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext for every KeyPairSpec the HSM can generate.</summary>
public sealed class DataKeyPairTests(DataKeyPairFixture fixture) : IClassFixture<DataKeyPairFixture>
{
    private static readonly Dictionary<string, string> Context = Blob.Context(("purpose", "data key pair"), ("tenant", "acme"));

    private readonly AmazonKeyManagementServiceClient _kms = fixture.Kms;

    public static TheoryData<string> KeyPairSpecs =>
        ["RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519"];

    [Theory]
    [MemberData(nameof(KeyPairSpecs))]
    public async Task GenerateDataKeyPair_returns_a_matching_key_pair_whose_encrypted_private_key_Decrypt_returns_under_the_context(string spec)
    {
        var key = fixture.Key("SYMMETRIC_DEFAULT");

        var pair = await _kms.GenerateDataKeyPairAsync(new GenerateDataKeyPairRequest { KeyId = key.KeyId, KeyPairSpec = new DataKeyPairSpec(spec), EncryptionContext = Context });
        var privateKey = pair.PrivateKeyPlaintext.ToArray();
        var publicKey = pair.PublicKey.ToArray();

        Assert.Equal(key.Arn, pair.KeyId);
        Assert.Equal(spec, pair.KeyPairSpec.Value);
        Assert.Equal(key.CurrentKeyMaterialId, pair.KeyMaterialId);
        AssertKeyPair(spec, privateKey, publicKey);
        var decrypted = await _kms.DecryptBlobAsync(pair.PrivateKeyCiphertextBlob, Context);
        Assert.Equal(privateKey, decrypted.Plaintext.ToArray());
        Assert.Equal(key.Arn, decrypted.KeyId);
        await KmsAssert.InvalidCiphertextAsync(() => _kms.DecryptBlobAsync(pair.PrivateKeyCiphertextBlob));
    }

    [Theory]
    [InlineData("RSA_2048")]
    [InlineData("ECC_NIST_P384")]
    [InlineData("ECC_SECG_P256K1")]
    public async Task GenerateDataKeyPairWithoutPlaintext_returns_the_public_key_and_the_encrypted_private_key_only(string spec)
    {
        var key = fixture.Key("SYMMETRIC_DEFAULT");

        var pair = await _kms.GenerateDataKeyPairWithoutPlaintextAsync(new GenerateDataKeyPairWithoutPlaintextRequest
        {
            KeyId = key.Arn,
            KeyPairSpec = new DataKeyPairSpec(spec),
            EncryptionContext = Context,
        });
        var privateKey = (await _kms.DecryptBlobAsync(pair.PrivateKeyCiphertextBlob, Context)).Plaintext.ToArray();

        Assert.Equal(key.Arn, pair.KeyId);
        Assert.Equal(spec, pair.KeyPairSpec.Value);
        Assert.Equal(key.CurrentKeyMaterialId, pair.KeyMaterialId);
        AssertKeyPair(spec, privateKey, pair.PublicKey.ToArray());
    }

    [SkippableFact]
    public async Task An_Ed25519_data_key_pair_is_consistent_according_to_OpenSSL()
    {
        Skip.IfNot(OpenSslCli.IsAvailable, "The openssl command-line tool is not installed.");

        var pair = await _kms.GenerateDataKeyPairAsync(new GenerateDataKeyPairRequest
        {
            KeyId = fixture.Key("SYMMETRIC_DEFAULT").KeyId,
            KeyPairSpec = DataKeyPairSpec.ECC_NIST_EDWARDS25519,
        });

        Assert.Equal(pair.PublicKey.ToArray(), OpenSslCli.PublicKeyOf(pair.PrivateKeyPlaintext.ToArray()));
    }

    [Fact]
    public async Task Two_data_key_pairs_differ()
    {
        var key = fixture.Key("SYMMETRIC_DEFAULT");

        var first = await _kms.GenerateDataKeyPairAsync(new GenerateDataKeyPairRequest { KeyId = key.KeyId, KeyPairSpec = DataKeyPairSpec.ECC_NIST_P256 });
        var second = await _kms.GenerateDataKeyPairAsync(new GenerateDataKeyPairRequest { KeyId = key.KeyId, KeyPairSpec = DataKeyPairSpec.ECC_NIST_P256 });

        Assert.NotEqual(first.PublicKey.ToArray(), second.PublicKey.ToArray());
        Assert.NotEqual(first.PrivateKeyPlaintext.ToArray(), second.PrivateKeyPlaintext.ToArray());
    }

    [Fact]
    public async Task An_SM2_key_pair_returns_UnsupportedOperationException()
    {
        var key = fixture.Key("SYMMETRIC_DEFAULT");

        var error = await KmsAssert.ErrorAsync<UnsupportedOperationException>(
            () => _kms.GenerateDataKeyPairAsync(new GenerateDataKeyPairRequest { KeyId = key.KeyId, KeyPairSpec = DataKeyPairSpec.SM2 }));
        await KmsAssert.ErrorAsync<UnsupportedOperationException>(
            () => _kms.GenerateDataKeyPairWithoutPlaintextAsync(new GenerateDataKeyPairWithoutPlaintextRequest { KeyId = key.KeyId, KeyPairSpec = DataKeyPairSpec.SM2, DryRun = true }),
            error.Message);

        Assert.Contains("SM2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_KeyPairSpec_returns_the_enum_ValidationException()
    {
        var error = await KmsAssert.ErrorAsync(
            () => _kms.GenerateDataKeyPairAsync(new GenerateDataKeyPairRequest { KeyId = fixture.Key("SYMMETRIC_DEFAULT").KeyId, KeyPairSpec = new DataKeyPairSpec("RSA_1024") }),
            "ValidationException");

        Assert.StartsWith(
            "1 validation error detected: Value 'RSA_1024' at 'keyPairSpec' failed to satisfy constraint: Member must satisfy enum value set: [",
            error.Message,
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_data_key_pair_under_an_asymmetric_or_signing_key_returns_InvalidKeyUsageException()
    {
        var rsa = fixture.Key("RSA_2048");
        var signing = await _kms.NewKeyAsync("ECC_NIST_P256", "SIGN_VERIFY");

        await KmsAssert.ErrorAsync<InvalidKeyUsageException>(
            () => _kms.GenerateDataKeyPairAsync(new GenerateDataKeyPairRequest { KeyId = rsa.KeyId, KeyPairSpec = DataKeyPairSpec.ECC_NIST_P256 }),
            "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048.");
        await KmsAssert.ErrorAsync<InvalidKeyUsageException>(
            () => _kms.GenerateDataKeyPairWithoutPlaintextAsync(new GenerateDataKeyPairWithoutPlaintextRequest { KeyId = signing.KeyId, KeyPairSpec = DataKeyPairSpec.ECC_NIST_P256 }),
            $"{signing.Arn} key usage is SIGN_VERIFY which is not valid for GenerateDataKeyPairWithoutPlaintext.");
    }

    [Fact]
    public async Task GenerateDataKeyPair_with_DryRun_Recipient_or_a_disabled_key_returns_AWSs_errors()
    {
        var key = await _kms.NewKeyAsync();

        await KmsAssert.ErrorAsync<DryRunOperationException>(
            () => _kms.GenerateDataKeyPairAsync(new GenerateDataKeyPairRequest { KeyId = key.KeyId, KeyPairSpec = DataKeyPairSpec.RSA_2048, DryRun = true }),
            KmsAssert.DryRunMessage);
        await KmsAssert.ErrorAsync<DryRunOperationException>(
            () => _kms.GenerateDataKeyPairWithoutPlaintextAsync(new GenerateDataKeyPairWithoutPlaintextRequest { KeyId = key.KeyId, KeyPairSpec = DataKeyPairSpec.RSA_2048, DryRun = true }),
            KmsAssert.DryRunMessage);
        await KmsAssert.ErrorAsync<UnsupportedOperationException>(
            () => _kms.GenerateDataKeyPairAsync(new GenerateDataKeyPairRequest
            {
                KeyId = key.KeyId,
                KeyPairSpec = DataKeyPairSpec.ECC_NIST_P256,
                Recipient = new RecipientInfo { AttestationDocument = Blob.Of([1, 2, 3]), KeyEncryptionAlgorithm = KeyEncryptionMechanism.RSAES_OAEP_SHA_256 },
            }));

        await _kms.DisableKeyAsync(new DisableKeyRequest { KeyId = key.KeyId });
        await KmsAssert.DisabledAsync(
            () => _kms.GenerateDataKeyPairAsync(new GenerateDataKeyPairRequest { KeyId = key.KeyId, KeyPairSpec = DataKeyPairSpec.ECC_NIST_P256 }), key.Arn);
        await KmsAssert.DisabledAsync(
            () => _kms.GenerateDataKeyPairWithoutPlaintextAsync(new GenerateDataKeyPairWithoutPlaintextRequest { KeyId = key.KeyId, KeyPairSpec = DataKeyPairSpec.ECC_NIST_P256 }), key.Arn);
    }

    /// <summary>The PKCS#8 private key imports in .NET (Ed25519: parses as PKCS#8 with the Ed25519 OID) and belongs to the public key.</summary>
    private static void AssertKeyPair(string spec, byte[] pkcs8, byte[] spki)
    {
        if (spec.StartsWith("RSA", StringComparison.Ordinal))
        {
            using var rsa = RSA.Create();
            rsa.ImportPkcs8PrivateKey(pkcs8, out var read);
            Assert.Equal(pkcs8.Length, read);
            Assert.Equal(int.Parse(spec[4..], System.Globalization.CultureInfo.InvariantCulture), rsa.KeySize);
            Assert.Equal(spki, rsa.ExportSubjectPublicKeyInfo());
            var signature = rsa.SignData([1, 2, 3], HashAlgorithmName.SHA256, RSASignaturePadding.Pss);
            Assert.True(Signatures.VerifyLocally(spki, "RSASSA_PSS_SHA_256", [1, 2, 3], inputIsDigest: false, signature));
        }
        else if (spec == "ECC_NIST_EDWARDS25519")
        {
            var reader = new AsnReader(pkcs8, AsnEncodingRules.DER).ReadSequence();
            Assert.Equal(0, (int)reader.ReadInteger());
            Assert.Equal("1.3.101.112", reader.ReadSequence().ReadObjectIdentifier());
            Assert.Equal("1.3.101.112", Signatures.AlgorithmOid(spki));
            Assert.Equal(44, spki.Length);
        }
        else
        {
            using var ecdsa = ECDsa.Create();
            ecdsa.ImportPkcs8PrivateKey(pkcs8, out var read);
            Assert.Equal(pkcs8.Length, read);
            Assert.Equal(spki, ecdsa.ExportSubjectPublicKeyInfo());
            var signature = ecdsa.SignData([1, 2, 3], HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
            Assert.True(Signatures.VerifyLocally(spki, "ECDSA_SHA_256", [1, 2, 3], inputIsDigest: false, signature));
        }
    }
}
