using System.Security.Cryptography;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>One KEY_AGREEMENT key on every NIST curve.</summary>
public sealed class AgreementKeysFixture : KeySetFixture
{
    protected override IEnumerable<(string Spec, string Usage)> KeyTypes =>
        new[] { "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521" }.Select(spec => (spec, "KEY_AGREEMENT"));
}

/// <summary>DeriveSharedSecret (ECDH) with KEY_AGREEMENT keys, checked against .NET.</summary>
public sealed class KeyAgreementTests(AgreementKeysFixture fixture) : IClassFixture<AgreementKeysFixture>
{
    private readonly AmazonKeyManagementServiceClient _kms = fixture.Kms;

    public static TheoryData<string, int> Curves => new() { { "ECC_NIST_P256", 32 }, { "ECC_NIST_P384", 48 }, { "ECC_NIST_P521", 66 } };

    [Theory]
    [MemberData(nameof(Curves))]
    public async Task DeriveSharedSecret_equals_the_raw_ECDH_secret_dotnet_derives_from_the_other_side(string spec, int length)
    {
        var key = fixture.Key(spec);
        using var peer = ECDiffieHellman.Create(CurveOf(spec));
        using var kmsSide = ECDiffieHellman.Create();
        kmsSide.ImportSubjectPublicKeyInfo(await fixture.PublicKeyAsync(key), out _);

        var derived = await DeriveAsync(key.KeyId, peer.ExportSubjectPublicKeyInfo());

        Assert.Equal(peer.DeriveRawSecretAgreement(kmsSide.PublicKey), derived.SharedSecret.ToArray());
        Assert.Equal(length, derived.SharedSecret.Length);
        Assert.Equal(key.Arn, derived.KeyId);
        Assert.Equal(KeyAgreementAlgorithmSpec.ECDH, derived.KeyAgreementAlgorithm);
        Assert.Equal(OriginType.AWS_KMS, derived.KeyOrigin);
    }

    [Fact]
    public async Task Two_KMS_keys_derive_the_same_secret_from_each_others_public_keys()
    {
        var first = fixture.Key("ECC_NIST_P256");
        var second = await _kms.NewKeyAsync("ECC_NIST_P256", "KEY_AGREEMENT");
        var secondPublicKey = (await _kms.GetPublicKeyAsync(new GetPublicKeyRequest { KeyId = second.KeyId })).PublicKey.ToArray();

        var one = await DeriveAsync(first.KeyId, secondPublicKey);
        var other = await DeriveAsync(second.Arn, await fixture.PublicKeyAsync(first));

        Assert.Equal(one.SharedSecret.ToArray(), other.SharedSecret.ToArray());
    }

    [Fact]
    public async Task A_peer_key_that_is_malformed_or_on_another_curve_returns_ValidationException_without_a_message()
    {
        var key = fixture.Key("ECC_NIST_P256");
        using var p384 = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP384);
        using var secp256k1 = ECDiffieHellman.Create(ECCurve.CreateFromFriendlyName("secP256k1"));
        using var rsa = RSA.Create(2048);
        using var p256 = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
        var valid = p256.ExportSubjectPublicKeyInfo();

        foreach (var peer in new[]
        {
            "InvalidPublicKey"u8.ToArray(),
            p384.ExportSubjectPublicKeyInfo(),
            secp256k1.ExportSubjectPublicKeyInfo(),
            rsa.ExportSubjectPublicKeyInfo(),
            valid[..^1],
            AsymmetricKeys.Flipped(valid, valid.Length - 1),
        })
        {
            var error = await KmsAssert.ErrorAsync(() => DeriveAsync(key.KeyId, peer), "ValidationException");
            AsymmetricKeys.HasNoMessage(error);
        }
    }

    [Fact]
    public async Task DeriveSharedSecret_with_a_key_of_another_usage_returns_InvalidKeyUsageException()
    {
        var signing = await _kms.NewKeyAsync("ECC_NIST_P256", "SIGN_VERIFY");
        var symmetric = await _kms.NewKeyAsync();
        var peer = await fixture.PublicKeyAsync(fixture.Key("ECC_NIST_P256"));

        await KmsAssert.ErrorAsync<InvalidKeyUsageException>(
            () => DeriveAsync(signing.KeyId, peer), $"{signing.Arn} key usage is SIGN_VERIFY which is not valid for DeriveSharedSecret.");
        await KmsAssert.ErrorAsync<InvalidKeyUsageException>(
            () => DeriveAsync(symmetric.KeyId, peer), $"{symmetric.Arn} key usage is ENCRYPT_DECRYPT which is not valid for DeriveSharedSecret.");
    }

    [Fact]
    public async Task An_unknown_KeyAgreementAlgorithm_returns_the_enum_ValidationException()
    {
        var key = fixture.Key("ECC_NIST_P384");

        await KmsAssert.ValidationAsync(
            () => _kms.DeriveSharedSecretAsync(new DeriveSharedSecretRequest
            {
                KeyId = key.KeyId,
                KeyAgreementAlgorithm = new KeyAgreementAlgorithmSpec("INVALID"),
                PublicKey = Blob.Of(AsymmetricKeys.Random(10)),
            }),
            "1 validation error detected: Value 'INVALID' at 'keyAgreementAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [ECDH]");
    }

    [Fact]
    public async Task DeriveSharedSecret_with_DryRun_Recipient_or_a_disabled_key_returns_AWSs_errors()
    {
        var key = await _kms.NewKeyAsync("ECC_NIST_P256", "KEY_AGREEMENT");
        var peer = await fixture.PublicKeyAsync(fixture.Key("ECC_NIST_P256"));

        await KmsAssert.ErrorAsync<DryRunOperationException>(
            () => _kms.DeriveSharedSecretAsync(new DeriveSharedSecretRequest
            {
                KeyId = key.KeyId,
                KeyAgreementAlgorithm = KeyAgreementAlgorithmSpec.ECDH,
                PublicKey = Blob.Of(peer),
                DryRun = true,
            }),
            KmsAssert.DryRunMessage);
        var recipient = await KmsAssert.ErrorAsync(
            () => _kms.DeriveSharedSecretAsync(new DeriveSharedSecretRequest
            {
                KeyId = key.KeyId,
                KeyAgreementAlgorithm = KeyAgreementAlgorithmSpec.ECDH,
                PublicKey = Blob.Of(peer),
                Recipient = new RecipientInfo { AttestationDocument = Blob.Of([1, 2, 3]), KeyEncryptionAlgorithm = KeyEncryptionMechanism.RSAES_OAEP_SHA_256 },
            }),
            "UnsupportedOperationException");
        Assert.Contains("Recipient", recipient.Message, StringComparison.Ordinal);

        await _kms.DisableKeyAsync(new DisableKeyRequest { KeyId = key.KeyId });
        await KmsAssert.DisabledAsync(() => DeriveAsync(key.KeyId, peer), key.Arn);
    }

    private static ECCurve CurveOf(string spec) => spec switch
    {
        "ECC_NIST_P256" => ECCurve.NamedCurves.nistP256,
        "ECC_NIST_P384" => ECCurve.NamedCurves.nistP384,
        _ => ECCurve.NamedCurves.nistP521,
    };

    private Task<DeriveSharedSecretResponse> DeriveAsync(string keyId, byte[] peerPublicKey) =>
        _kms.DeriveSharedSecretAsync(new DeriveSharedSecretRequest
        {
            KeyId = keyId,
            KeyAgreementAlgorithm = KeyAgreementAlgorithmSpec.ECDH,
            PublicKey = Blob.Of(peerPublicKey),
        });
}
