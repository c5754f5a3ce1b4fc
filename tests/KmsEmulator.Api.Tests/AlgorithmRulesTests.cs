using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Hsm;

namespace KmsEmulator.Api.Tests;

public sealed class AlgorithmRulesTests
{
    [Fact]
    public void Every_key_spec_the_emulator_supports_names_its_HSM_material_and_every_other_spec_says_why_not()
    {
        foreach (var spec in Enum.GetValues<KeySpec>())
        {
            var capability = KeySpecCapabilities.For(spec);
            if (capability.SupportedByEmulator)
            {
                Assert.True(spec == KeySpec.SYMMETRIC_DEFAULT || capability.Material is not null, $"{spec} has no HSM material type.");
            }
            else
            {
                Assert.False(string.IsNullOrWhiteSpace(capability.UnsupportedReason), $"{spec} does not say why it is unsupported.");
            }
        }

        Assert.Equal(
            [KeySpec.SM2, KeySpec.ML_DSA_44, KeySpec.ML_DSA_65, KeySpec.ML_DSA_87],
            Enum.GetValues<KeySpec>().Where(s => !KeySpecCapabilities.For(s).SupportedByEmulator).Order());
    }

    [Fact]
    public void Every_signing_algorithm_a_supported_spec_offers_has_an_HSM_scheme_except_Ed25519ph()
    {
        var offered = Enum.GetValues<KeySpec>()
            .Select(KeySpecCapabilities.For)
            .Where(c => c.SupportedByEmulator)
            .SelectMany(c => c.SigningAlgorithms)
            .Distinct();

        Assert.Equal(
            [SigningAlgorithmSpec.ED25519_PH_SHA_512],
            offered.Where(a => AlgorithmCapabilities.For(a).Scheme is null));
    }

    [Theory]
    [InlineData(KeySpec.RSA_2048, "RSAES_OAEP_SHA_1", 214)]
    [InlineData(KeySpec.RSA_2048, "RSAES_OAEP_SHA_256", 190)]
    [InlineData(KeySpec.RSA_3072, "RSAES_OAEP_SHA_1", 342)]
    [InlineData(KeySpec.RSA_3072, "RSAES_OAEP_SHA_256", 318)]
    [InlineData(KeySpec.RSA_4096, "RSAES_OAEP_SHA_1", 470)]
    [InlineData(KeySpec.RSA_4096, "RSAES_OAEP_SHA_256", 446)]
    public void RSA_plaintext_limits_are_AWSs(KeySpec spec, string algorithm, int limit)
    {
        var key = Key(spec, KeyUsageType.ENCRYPT_DECRYPT);

        var plan = AlgorithmRules.Encryption(key, algorithm, null, limit);
        var error = Assert.Throws<KmsException>(() => AlgorithmRules.Encryption(key, algorithm, null, limit + 1));

        Assert.Equal(algorithm, plan.Algorithm.ToWire());
        Assert.False(plan.IsSymmetric);
        Assert.Equal("ValidationException", error.Code);
        Assert.Equal($"Algorithm {algorithm} and key spec {spec.ToWire()} cannot encrypt data larger than {limit} bytes.", error.WireMessage);
    }

    [Fact]
    public void An_absent_encryption_algorithm_is_SYMMETRIC_DEFAULT_which_an_RSA_key_does_not_offer()
    {
        Assert.True(AlgorithmRules.Encryption(Key(KeySpec.SYMMETRIC_DEFAULT, KeyUsageType.ENCRYPT_DECRYPT), null, null).IsSymmetric);

        var error = Assert.Throws<KmsException>(() => AlgorithmRules.Encryption(Key(KeySpec.RSA_3072, KeyUsageType.ENCRYPT_DECRYPT), null, null));

        Assert.Equal("InvalidKeyUsageException", error.Code);
        Assert.Equal("Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_3072.", error.WireMessage);
    }

    [Fact]
    public void An_encryption_context_is_refused_for_RSA_keys_only()
    {
        var context = new Dictionary<string, string> { ["a"] = "b" };

        AlgorithmRules.Encryption(Key(KeySpec.SYMMETRIC_DEFAULT, KeyUsageType.ENCRYPT_DECRYPT), null, context);
        AlgorithmRules.Encryption(Key(KeySpec.RSA_2048, KeyUsageType.ENCRYPT_DECRYPT), "RSAES_OAEP_SHA_1", new Dictionary<string, string>());
        var error = Assert.Throws<KmsException>(() => AlgorithmRules.Encryption(Key(KeySpec.RSA_2048, KeyUsageType.ENCRYPT_DECRYPT), "RSAES_OAEP_SHA_1", context));

        Assert.Equal("ValidationException", error.Code);
    }

    [Theory]
    [InlineData(KeySpec.RSA_2048, "RSASSA_PSS_SHA_384", "DIGEST", 48, SignatureScheme.RsaPssSha384, true)]
    [InlineData(KeySpec.ECC_NIST_P521, "ECDSA_SHA_512", null, 4096, SignatureScheme.EcdsaSha512, false)]
    [InlineData(KeySpec.ECC_SECG_P256K1, "ECDSA_SHA_256", "DIGEST", 32, SignatureScheme.EcdsaSha256, true)]
    [InlineData(KeySpec.ECC_NIST_EDWARDS25519, "ED25519_SHA_512", "RAW", 1, SignatureScheme.Ed25519, false)]
    public void A_valid_signing_request_gives_the_HSM_scheme(KeySpec spec, string algorithm, string? messageType, int length, SignatureScheme scheme, bool isDigest)
    {
        var plan = AlgorithmRules.Signing(Key(spec, KeyUsageType.SIGN_VERIFY), algorithm, messageType, length);

        Assert.Equal(scheme, plan.Scheme);
        Assert.Equal(isDigest, plan.IsDigest);
    }

    [Theory]
    [InlineData(KeySpec.ECC_NIST_P256, "ECDSA_SHA_384", "RAW", 10, "InvalidKeyUsageException", "Algorithm ECDSA_SHA_384 is incompatible with key spec ECC_NIST_P256.")]
    [InlineData(KeySpec.ECC_NIST_P256, "ECDSA_SHA_256", "DIGEST", 31, "ValidationException", "Digest is invalid length for algorithm ECDSA_SHA_256.")]
    [InlineData(KeySpec.RSA_4096, "RSASSA_PKCS1_V1_5_SHA_512", "DIGEST", 48, "ValidationException", "Digest is invalid length for algorithm RSASSA_PKCS1_V1_5_SHA_512.")]
    [InlineData(KeySpec.ECC_NIST_EDWARDS25519, "ED25519_SHA_512", "DIGEST", 64, "ValidationException", "The ED25519_SHA_512 signing algorithm requires MessageType RAW.")]
    [InlineData(KeySpec.ECC_NIST_EDWARDS25519, "ED25519_PH_SHA_512", "RAW", 64, "ValidationException", "The ED25519_PH_SHA_512 signing algorithm requires MessageType DIGEST.")]
    [InlineData(KeySpec.RSA_2048, "RSASSA_PSS_SHA_256", "EXTERNAL_MU", 64, "ValidationException", "MessageType EXTERNAL_MU is valid only with the ML_DSA_SHAKE_256 signing algorithm.")]
    public void An_invalid_signing_request_gets_AWSs_error(KeySpec spec, string algorithm, string messageType, int length, string code, string message)
    {
        var error = Assert.Throws<KmsException>(() => AlgorithmRules.Signing(Key(spec, KeyUsageType.SIGN_VERIFY), algorithm, messageType, length));

        Assert.Equal(code, error.Code);
        Assert.Equal(message, error.WireMessage);
    }

    [Fact]
    public void Ed25519ph_passes_the_checks_and_then_is_unsupported()
    {
        var error = Assert.Throws<KmsException>(() => AlgorithmRules.Signing(Key(KeySpec.ECC_NIST_EDWARDS25519, KeyUsageType.SIGN_VERIFY), "ED25519_PH_SHA_512", "DIGEST", 64));

        Assert.Equal("UnsupportedOperationException", error.Code);
    }

    [Theory]
    [InlineData(KeySpec.HMAC_224, "HMAC_SHA_224", null)]
    [InlineData(KeySpec.HMAC_224, "HMAC_SHA_256", "Algorithm HMAC_SHA_256 is incompatible with key spec HMAC_224.")]
    [InlineData(KeySpec.HMAC_512, "HMAC_SHA_512", null)]
    [InlineData(KeySpec.HMAC_256, "HMAC_SHA_512", "Algorithm HMAC_SHA_512 is incompatible with key spec HMAC_256.")]
    public void A_MAC_algorithm_must_have_the_size_of_the_HMAC_key(KeySpec spec, string algorithm, string? error)
    {
        var key = Key(spec, KeyUsageType.GENERATE_VERIFY_MAC);

        if (error is null)
        {
            Assert.Equal(algorithm, AlgorithmRules.Mac(key, algorithm).Algorithm.ToWire());
        }
        else
        {
            Assert.Equal(error, Assert.Throws<KmsException>(() => AlgorithmRules.Mac(key, algorithm)).WireMessage);
        }
    }

    [Fact]
    public void Data_key_pairs_of_every_spec_but_SM2_come_from_the_HSM()
    {
        foreach (var spec in Enum.GetValues<DataKeyPairSpec>().Where(s => s != DataKeyPairSpec.SM2))
        {
            AlgorithmRules.DataKeyPair(spec.ToWire());
        }

        Assert.Equal("UnsupportedOperationException", Assert.Throws<KmsException>(() => AlgorithmRules.DataKeyPair("SM2")).Code);
    }

    [Fact]
    public void Only_RSA_keys_have_raw_ciphertexts_and_only_symmetric_keys_report_material_ids()
    {
        var raw = Enum.GetValues<KeySpec>().Where(s => KeySpecCapabilities.For(s).HasRawCiphertexts).Order();
        var materialIds = Enum.GetValues<KeySpec>().Where(s => KeySpecCapabilities.For(s).HasKeyMaterialIds);

        Assert.Equal([KeySpec.RSA_2048, KeySpec.RSA_3072, KeySpec.RSA_4096, KeySpec.SM2], raw);
        Assert.Equal([KeySpec.SYMMETRIC_DEFAULT], materialIds);
    }

    private static KeyRecord Key(KeySpec spec, KeyUsageType usage) => TestKeys.Create(spec: spec, usage: usage);
}
