using System.Text;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>One SIGN_VERIFY key of every key spec the emulator signs with.</summary>
public sealed class SigningKeysFixture : KeySetFixture
{
    public static readonly string[] Specs =
        ["RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519"];

    protected override IEnumerable<(string Spec, string Usage)> KeyTypes => Specs.Select(spec => (spec, "SIGN_VERIFY"));
}

/// <summary>Sign and Verify for every key spec and algorithm, checked against .NET (and OpenSSL for Ed25519).</summary>
public sealed class SignVerifyTests(SigningKeysFixture fixture) : IClassFixture<SigningKeysFixture>
{
    private readonly AmazonKeyManagementServiceClient _kms = fixture.Kms;

    private static readonly string[] RsaAlgorithms =
    [
        "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
        "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
    ];

    /// <summary>Every (key spec, signing algorithm) pair AWS offers that the HSM can compute over a digest.</summary>
    public static TheoryData<string, string> DigestPairs
    {
        get
        {
            var data = new TheoryData<string, string>();
            foreach (var spec in new[] { "RSA_2048", "RSA_3072", "RSA_4096" })
            {
                foreach (var algorithm in RsaAlgorithms)
                {
                    data.Add(spec, algorithm);
                }
            }

            data.Add("ECC_NIST_P256", "ECDSA_SHA_256");
            data.Add("ECC_NIST_P384", "ECDSA_SHA_384");
            data.Add("ECC_NIST_P521", "ECDSA_SHA_512");
            data.Add("ECC_SECG_P256K1", "ECDSA_SHA_256");
            return data;
        }
    }

    /// <summary>Every pair the emulator signs RAW messages with: the digest pairs and pure Ed25519.</summary>
    public static TheoryData<string, string> RawPairs
    {
        get
        {
            var data = DigestPairs;
            data.Add("ECC_NIST_EDWARDS25519", "ED25519_SHA_512");
            return data;
        }
    }

    [Theory]
    [MemberData(nameof(RawPairs))]
    public async Task Sign_of_a_RAW_message_is_accepted_by_Verify_and_by_an_independent_verifier(string spec, string algorithm)
    {
        var key = fixture.Key(spec);
        var message = AsymmetricKeys.Random(300);

        // MessageType is left out: RAW is the default.
        var signed = await _kms.SignAsync(new SignRequest { KeyId = key.KeyId, Message = Blob.Of(message), SigningAlgorithm = new SigningAlgorithmSpec(algorithm) });
        var signature = signed.Signature.ToArray();
        var verified = await _kms.VerifyAsync(new VerifyRequest
        {
            KeyId = key.KeyId,
            Message = Blob.Of(message),
            MessageType = MessageType.RAW,
            Signature = Blob.Of(signature),
            SigningAlgorithm = new SigningAlgorithmSpec(algorithm),
        });

        Assert.Equal(key.Arn, signed.KeyId);
        Assert.Equal(algorithm, signed.SigningAlgorithm.Value);
        Assert.True(verified.SignatureValid);
        Assert.Equal(key.Arn, verified.KeyId);
        Assert.Equal(algorithm, verified.SigningAlgorithm.Value);
        var publicKey = await fixture.PublicKeyAsync(key);
        if (spec == "ECC_NIST_EDWARDS25519")
        {
            Assert.Equal(64, signature.Length);
            return;
        }

        if (spec.StartsWith("RSA", StringComparison.Ordinal))
        {
            Assert.Equal(int.Parse(spec[4..], System.Globalization.CultureInfo.InvariantCulture) / 8, signature.Length);
        }
        else
        {
            Signatures.AssertDerEcdsa(signature);
        }

        Assert.True(Signatures.VerifyLocally(publicKey, algorithm, message, inputIsDigest: false, signature));
    }

    [Theory]
    [MemberData(nameof(DigestPairs))]
    public async Task Sign_of_a_DIGEST_verifies_as_the_digest_and_as_the_message_it_digests(string spec, string algorithm)
    {
        var key = fixture.Key(spec);
        var message = AsymmetricKeys.Random(1000);
        var digest = Signatures.Digest(algorithm, message);

        var signature = (await _kms.SignAsync(new SignRequest
        {
            KeyId = key.KeyId,
            Message = Blob.Of(digest),
            MessageType = MessageType.DIGEST,
            SigningAlgorithm = new SigningAlgorithmSpec(algorithm),
        })).Signature.ToArray();

        Assert.True((await VerifyAsync(key.KeyId, algorithm, digest, MessageType.DIGEST, signature)).SignatureValid);
        Assert.True((await VerifyAsync(key.KeyId, algorithm, message, MessageType.RAW, signature)).SignatureValid);
        var publicKey = await fixture.PublicKeyAsync(key);
        Assert.True(Signatures.VerifyLocally(publicKey, algorithm, digest, inputIsDigest: true, signature));
        Assert.True(Signatures.VerifyLocally(publicKey, algorithm, message, inputIsDigest: false, signature));
        if (algorithm.StartsWith("RSASSA_PKCS1", StringComparison.Ordinal))
        {
            // PKCS#1 v1.5 signatures are deterministic: signing the message gives the same bytes.
            var raw = await _kms.SignAsync(new SignRequest { KeyId = key.KeyId, Message = Blob.Of(message), SigningAlgorithm = new SigningAlgorithmSpec(algorithm) });
            Assert.Equal(signature, raw.Signature.ToArray());
        }
    }

    [SkippableFact]
    public async Task Ed25519_signatures_verify_with_OpenSSL()
    {
        Skip.IfNot(OpenSslCli.IsAvailable, "The openssl command-line tool is not installed.");
        var key = fixture.Key("ECC_NIST_EDWARDS25519");
        var message = Encoding.UTF8.GetBytes("Ed25519 signs the message itself, without a pre-hash.");

        var signature = (await SignAsync(key.KeyId, "ED25519_SHA_512", message, MessageType.RAW)).Signature.ToArray();
        var publicKey = await fixture.PublicKeyAsync(key);

        Assert.Equal("1.3.101.112", Signatures.AlgorithmOid(publicKey));
        Assert.True(OpenSslCli.VerifyEd25519(publicKey, message, signature));
        Assert.False(OpenSslCli.VerifyEd25519(publicKey, AsymmetricKeys.Flipped(message), signature));
    }

    [Theory]
    [InlineData("RSA_2048", "RSASSA_PSS_SHA_256")]
    [InlineData("RSA_3072", "RSASSA_PKCS1_V1_5_SHA_384")]
    [InlineData("ECC_NIST_P256", "ECDSA_SHA_256")]
    [InlineData("ECC_NIST_P521", "ECDSA_SHA_512")]
    [InlineData("ECC_SECG_P256K1", "ECDSA_SHA_256")]
    [InlineData("ECC_NIST_EDWARDS25519", "ED25519_SHA_512")]
    public async Task Verify_of_a_changed_message_or_signature_returns_KMSInvalidSignatureException_without_a_message(string spec, string algorithm)
    {
        var key = fixture.Key(spec);
        var message = Encoding.UTF8.GetBytes("signed and then tampered with");
        var signature = (await SignAsync(key.KeyId, algorithm, message, MessageType.RAW)).Signature.ToArray();

        (byte[] Message, byte[] Signature)[] tampered =
        [
            (AsymmetricKeys.Flipped(message), signature),
            (message, AsymmetricKeys.Flipped(signature, signature.Length - 1)),
            (message, AsymmetricKeys.Flipped(signature, signature.Length / 2)),
            (message, signature[..^1]),
            (message, [.. signature, 0x00]),
            (message, [0x30, 0x00]),
        ];
        foreach (var (candidateMessage, candidateSignature) in tampered)
        {
            var error = await KmsAssert.ErrorAsync<KMSInvalidSignatureException>(() => VerifyAsync(key.KeyId, algorithm, candidateMessage, MessageType.RAW, candidateSignature));
            AsymmetricKeys.HasNoMessage(error);
        }

        Assert.True((await VerifyAsync(key.KeyId, algorithm, message, MessageType.RAW, signature)).SignatureValid);
    }

    [Fact]
    public async Task Verify_with_a_signature_of_another_key_of_the_same_spec_returns_KMSInvalidSignatureException()
    {
        var key = fixture.Key("ECC_NIST_P256");
        var other = await _kms.NewKeyAsync("ECC_NIST_P256", "SIGN_VERIFY");
        var message = Encoding.UTF8.GetBytes("whose signature is it?");
        var signature = (await SignAsync(other.KeyId, "ECDSA_SHA_256", message, MessageType.RAW)).Signature.ToArray();

        await KmsAssert.ErrorAsync<KMSInvalidSignatureException>(() => VerifyAsync(key.KeyId, "ECDSA_SHA_256", message, MessageType.RAW, signature));
        Assert.True((await VerifyAsync(other.Arn, "ECDSA_SHA_256", message, MessageType.RAW, signature)).SignatureValid);
    }

    [Theory]
    [InlineData("RSA_2048", "RSASSA_PSS_SHA_256", 31)]
    [InlineData("RSA_2048", "RSASSA_PSS_SHA_384", 32)]
    [InlineData("RSA_4096", "RSASSA_PKCS1_V1_5_SHA_512", 48)]
    [InlineData("ECC_NIST_P256", "ECDSA_SHA_256", 33)]
    [InlineData("ECC_NIST_P384", "ECDSA_SHA_384", 64)]
    [InlineData("ECC_SECG_P256K1", "ECDSA_SHA_256", 28)]
    public async Task A_DIGEST_of_the_wrong_length_returns_ValidationException_for_Sign_and_Verify(string spec, string algorithm, int length)
    {
        var key = fixture.Key(spec);
        var digest = AsymmetricKeys.Random(length);
        var message = $"Digest is invalid length for algorithm {algorithm}.";

        await KmsAssert.ValidationAsync(() => SignAsync(key.KeyId, algorithm, digest, MessageType.DIGEST), message);
        await KmsAssert.ValidationAsync(() => VerifyAsync(key.KeyId, algorithm, digest, MessageType.DIGEST, AsymmetricKeys.Random(64)), message);
    }

    [Theory]
    [InlineData("ECC_NIST_P256", "ECDSA_SHA_384")]
    [InlineData("ECC_NIST_P384", "ECDSA_SHA_256")]
    [InlineData("ECC_SECG_P256K1", "ECDSA_SHA_512")]
    [InlineData("ECC_NIST_P256", "RSASSA_PSS_SHA_256")]
    [InlineData("RSA_2048", "ECDSA_SHA_256")]
    [InlineData("RSA_3072", "ED25519_SHA_512")]
    [InlineData("ECC_NIST_EDWARDS25519", "ECDSA_SHA_512")]
    [InlineData("ECC_NIST_EDWARDS25519", "RSASSA_PKCS1_V1_5_SHA_512")]
    [InlineData("RSA_4096", "ML_DSA_SHAKE_256")]
    [InlineData("ECC_NIST_P256", "SM2DSA")]
    public async Task An_algorithm_the_key_spec_does_not_offer_returns_InvalidKeyUsageException(string spec, string algorithm)
    {
        var key = fixture.Key(spec);
        var expected = $"Algorithm {algorithm} is incompatible with key spec {spec}.";

        await KmsAssert.ErrorAsync<InvalidKeyUsageException>(() => SignAsync(key.KeyId, algorithm, [1, 2, 3], MessageType.RAW), expected);
        await KmsAssert.ErrorAsync<InvalidKeyUsageException>(() => VerifyAsync(key.KeyId, algorithm, [1, 2, 3], MessageType.RAW, AsymmetricKeys.Random(64)), expected);
        await KmsAssert.ErrorAsync<InvalidKeyUsageException>(
            () => _kms.SignAsync(new SignRequest { KeyId = key.KeyId, Message = Blob.Of([1]), SigningAlgorithm = new SigningAlgorithmSpec(algorithm), DryRun = true }),
            expected);
    }

    [Fact]
    public async Task ED25519_SHA_512_takes_only_RAW_messages()
    {
        var key = fixture.Key("ECC_NIST_EDWARDS25519");
        const string expected = "The ED25519_SHA_512 signing algorithm requires MessageType RAW.";

        await KmsAssert.ValidationAsync(() => SignAsync(key.KeyId, "ED25519_SHA_512", AsymmetricKeys.Random(64), MessageType.DIGEST), expected);
        await KmsAssert.ValidationAsync(() => VerifyAsync(key.KeyId, "ED25519_SHA_512", AsymmetricKeys.Random(64), MessageType.DIGEST, AsymmetricKeys.Random(64)), expected);
    }

    [Fact]
    public async Task ED25519_PH_SHA_512_takes_only_64_byte_DIGEST_messages_and_then_answers_UnsupportedOperationException()
    {
        var key = fixture.Key("ECC_NIST_EDWARDS25519");
        var message = Encoding.UTF8.GetBytes("pre-hashed Ed25519");

        await KmsAssert.ValidationAsync(
            () => SignAsync(key.KeyId, "ED25519_PH_SHA_512", message, MessageType.RAW),
            "The ED25519_PH_SHA_512 signing algorithm requires MessageType DIGEST.");
        await KmsAssert.ValidationAsync(
            () => SignAsync(key.KeyId, "ED25519_PH_SHA_512", AsymmetricKeys.Random(32), MessageType.DIGEST),
            "Digest is invalid length for algorithm ED25519_PH_SHA_512.");
        var digest = Signatures.Digest("SHA_512", message);
        var signError = await KmsAssert.ErrorAsync(() => SignAsync(key.KeyId, "ED25519_PH_SHA_512", digest, MessageType.DIGEST), "UnsupportedOperationException");
        var verifyError = await KmsAssert.ErrorAsync(
            () => VerifyAsync(key.KeyId, "ED25519_PH_SHA_512", digest, MessageType.DIGEST, AsymmetricKeys.Random(64)), "UnsupportedOperationException");
        Assert.Contains("ED25519_PH_SHA_512", signError.Message, StringComparison.Ordinal);
        Assert.Equal(signError.Message, verifyError.Message);
    }

    [Theory]
    [InlineData("RSA_2048", "RSASSA_PSS_SHA_256")]
    [InlineData("ECC_NIST_P256", "ECDSA_SHA_256")]
    [InlineData("ECC_NIST_EDWARDS25519", "ED25519_SHA_512")]
    public async Task MessageType_EXTERNAL_MU_is_only_for_ML_DSA_and_returns_ValidationException(string spec, string algorithm)
    {
        var key = fixture.Key(spec);

        await KmsAssert.ValidationAsync(
            () => SignAsync(key.KeyId, algorithm, AsymmetricKeys.Random(64), MessageType.EXTERNAL_MU),
            "MessageType EXTERNAL_MU is valid only with the ML_DSA_SHAKE_256 signing algorithm.");
    }

    [Fact]
    public async Task Sign_takes_a_message_of_up_to_4096_bytes()
    {
        var key = fixture.Key("ECC_NIST_P384");
        var largest = AsymmetricKeys.Random(4096);

        var signature = (await SignAsync(key.KeyId, "ECDSA_SHA_384", largest, MessageType.RAW)).Signature.ToArray();

        Assert.True(Signatures.VerifyLocally(await fixture.PublicKeyAsync(key), "ECDSA_SHA_384", largest, inputIsDigest: false, signature));
        await KmsAssert.ValidationAsync(
            () => SignAsync(key.KeyId, "ECDSA_SHA_384", AsymmetricKeys.Random(4097), MessageType.RAW),
            "1 validation error detected: Value at 'message' failed to satisfy constraint: Member must have length less than or equal to 4096");
    }

    [Fact]
    public async Task Sign_and_Verify_accept_an_alias_and_answer_with_the_key_ARN()
    {
        var key = fixture.Key("ECC_NIST_P256");
        var alias = await _kms.NewAliasAsync(key.KeyId);
        var message = Encoding.UTF8.GetBytes("by alias");

        var signed = await SignAsync(alias, "ECDSA_SHA_256", message, MessageType.RAW);
        var verified = await VerifyAsync(Accounts.AliasArn(alias), "ECDSA_SHA_256", message, MessageType.RAW, signed.Signature.ToArray());

        Assert.Equal(key.Arn, signed.KeyId);
        Assert.Equal(key.Arn, verified.KeyId);
    }

    [Fact]
    public async Task Sign_and_Verify_with_a_key_of_another_usage_return_InvalidKeyUsageException()
    {
        var symmetric = await _kms.NewKeyAsync();
        var hmac = await _kms.NewKeyAsync("HMAC_224", "GENERATE_VERIFY_MAC");
        var agreement = await _kms.NewKeyAsync("ECC_NIST_P256", "KEY_AGREEMENT");
        var rsaEncryption = await _kms.NewKeyAsync("RSA_2048", "ENCRYPT_DECRYPT");

        await KmsAssert.ErrorAsync<InvalidKeyUsageException>(
            () => SignAsync(hmac.KeyId, "RSASSA_PSS_SHA_256", [1], MessageType.RAW), $"{hmac.Arn} key usage is GENERATE_VERIFY_MAC which is not valid for Sign.");
        await KmsAssert.ErrorAsync<InvalidKeyUsageException>(
            () => SignAsync(agreement.KeyId, "ECDSA_SHA_256", [1], MessageType.RAW), $"{agreement.Arn} key usage is KEY_AGREEMENT which is not valid for Sign.");
        await KmsAssert.ErrorAsync<InvalidKeyUsageException>(
            () => SignAsync(rsaEncryption.KeyId, "RSASSA_PSS_SHA_256", [1], MessageType.RAW), $"{rsaEncryption.Arn} key usage is ENCRYPT_DECRYPT which is not valid for Sign.");
        await KmsAssert.ErrorAsync<InvalidKeyUsageException>(
            () => VerifyAsync(symmetric.KeyId, "ECDSA_SHA_256", [1], MessageType.RAW, [1, 2, 3]), $"{symmetric.Arn} key usage is ENCRYPT_DECRYPT which is not valid for Verify.");
    }

    [Fact]
    public async Task Sign_and_Verify_with_a_disabled_or_deleted_key_return_its_state_error()
    {
        var key = await _kms.NewKeyAsync("ECC_NIST_P256", "SIGN_VERIFY");
        var message = Encoding.UTF8.GetBytes("before it was disabled");
        var signature = (await SignAsync(key.KeyId, "ECDSA_SHA_256", message, MessageType.RAW)).Signature.ToArray();

        await _kms.DisableKeyAsync(new DisableKeyRequest { KeyId = key.KeyId });
        await KmsAssert.DisabledAsync(() => SignAsync(key.KeyId, "ECDSA_SHA_256", message, MessageType.RAW), key.Arn);
        await KmsAssert.DisabledAsync(() => VerifyAsync(key.KeyId, "ECDSA_SHA_256", message, MessageType.RAW, signature), key.Arn);

        await _kms.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = key.KeyId, PendingWindowInDays = 7 });
        await KmsAssert.PendingDeletionAsync(() => SignAsync(key.KeyId, "ECDSA_SHA_256", message, MessageType.RAW), key.Arn);
        await KmsAssert.PendingDeletionAsync(() => VerifyAsync(key.KeyId, "ECDSA_SHA_256", message, MessageType.RAW, signature), key.Arn);
    }

    [Fact]
    public async Task Sign_and_Verify_with_DryRun_return_DryRunOperationException()
    {
        var key = fixture.Key("RSA_2048");
        var message = Encoding.UTF8.GetBytes("dry");

        await KmsAssert.ErrorAsync<DryRunOperationException>(
            () => _kms.SignAsync(new SignRequest { KeyId = key.KeyId, Message = Blob.Of(message), SigningAlgorithm = SigningAlgorithmSpec.RSASSA_PSS_SHA_256, DryRun = true }),
            KmsAssert.DryRunMessage);
        await KmsAssert.ErrorAsync<DryRunOperationException>(
            () => _kms.VerifyAsync(new VerifyRequest
            {
                KeyId = key.KeyId,
                Message = Blob.Of(message),
                Signature = Blob.Of(AsymmetricKeys.Random(256)),
                SigningAlgorithm = SigningAlgorithmSpec.RSASSA_PSS_SHA_256,
                DryRun = true,
            }),
            KmsAssert.DryRunMessage);
    }

    private Task<SignResponse> SignAsync(string keyId, string algorithm, byte[] message, MessageType messageType) =>
        _kms.SignAsync(new SignRequest { KeyId = keyId, Message = Blob.Of(message), MessageType = messageType, SigningAlgorithm = new SigningAlgorithmSpec(algorithm) });

    private Task<VerifyResponse> VerifyAsync(string keyId, string algorithm, byte[] message, MessageType messageType, byte[] signature) =>
        _kms.VerifyAsync(new VerifyRequest
        {
            KeyId = keyId,
            Message = Blob.Of(message),
            MessageType = messageType,
            Signature = Blob.Of(signature),
            SigningAlgorithm = new SigningAlgorithmSpec(algorithm),
        });
}
