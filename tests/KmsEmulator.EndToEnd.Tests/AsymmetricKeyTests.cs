using System.Security.Cryptography;
using System.Text;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using KmsEmulator.Api.Keys;
using KmsEmulator.Hsm;
using Microsoft.Extensions.DependencyInjection;

#pragma warning disable CS0618 // AWS still returns the deprecated CustomerMasterKeySpec, and so must the emulator.

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>CreateKey, DescribeKey and GetPublicKey for asymmetric, HMAC and key-agreement keys.</summary>
public sealed class AsymmetricKeyTests(HostFixture fixture) : IClassFixture<HostFixture>
{
    private readonly AmazonKeyManagementServiceClient _kms = fixture.Kms;

    [Theory]
    [InlineData("RSA_2048", "ENCRYPT_DECRYPT", "RSAES_OAEP_SHA_1,RSAES_OAEP_SHA_256", "", "", "")]
    [InlineData("RSA_2048", "SIGN_VERIFY", "",
        "RSASSA_PSS_SHA_256,RSASSA_PSS_SHA_384,RSASSA_PSS_SHA_512,RSASSA_PKCS1_V1_5_SHA_256,RSASSA_PKCS1_V1_5_SHA_384,RSASSA_PKCS1_V1_5_SHA_512", "", "")]
    [InlineData("ECC_NIST_P256", "SIGN_VERIFY", "", "ECDSA_SHA_256", "", "")]
    [InlineData("ECC_NIST_P256", "KEY_AGREEMENT", "", "", "", "ECDH")]
    [InlineData("ECC_NIST_P384", "KEY_AGREEMENT", "", "", "", "ECDH")]
    [InlineData("ECC_NIST_P521", "SIGN_VERIFY", "", "ECDSA_SHA_512", "", "")]
    [InlineData("ECC_SECG_P256K1", "SIGN_VERIFY", "", "ECDSA_SHA_256", "", "")]
    [InlineData("ECC_NIST_EDWARDS25519", "SIGN_VERIFY", "", "ED25519_SHA_512,ED25519_PH_SHA_512", "", "")]
    [InlineData("HMAC_224", "GENERATE_VERIFY_MAC", "", "", "HMAC_SHA_224", "")]
    [InlineData("HMAC_256", "GENERATE_VERIFY_MAC", "", "", "HMAC_SHA_256", "")]
    [InlineData("HMAC_384", "GENERATE_VERIFY_MAC", "", "", "HMAC_SHA_384", "")]
    [InlineData("HMAC_512", "GENERATE_VERIFY_MAC", "", "", "HMAC_SHA_512", "")]
    public async Task CreateKey_and_DescribeKey_list_the_algorithms_AWS_lists_for_the_spec_and_usage(
        string spec, string usage, string encryption, string signing, string mac, string agreement)
    {
        var created = await _kms.NewKeyAsync(spec, usage);
        var described = await _kms.DescribeAsync(created.KeyId);

        foreach (var key in new[] { created, described })
        {
            Assert.Equal(spec, key.KeySpec.Value);
            Assert.Equal(spec == "ECC_NIST_EDWARDS25519" ? null : spec, key.CustomerMasterKeySpec?.Value);
            Assert.Equal(usage, key.KeyUsage.Value);
            Assert.Equal(KeyState.Enabled, key.KeyState);
            Assert.True(key.Enabled);
            Assert.Equal(OriginType.AWS_KMS, key.Origin);
            Assert.Equal(Split(encryption), Names(key.EncryptionAlgorithms));
            Assert.Equal(Split(signing), Names(key.SigningAlgorithms));
            Assert.Equal(Split(mac), Names(key.MacAlgorithms));
            Assert.Equal(Split(agreement), Names(key.KeyAgreementAlgorithms));

            // AWS reports key material ids for symmetric encryption keys only (recorded: an HMAC_256 key has none).
            Assert.Null(key.CurrentKeyMaterialId);
        }
    }

    [Fact]
    public async Task CreateKey_accepts_the_deprecated_CustomerMasterKeySpec()
    {
        var key = (await _kms.CreateKeyAsync(new CreateKeyRequest { CustomerMasterKeySpec = CustomerMasterKeySpec.ECC_NIST_P256, KeyUsage = KeyUsageType.SIGN_VERIFY })).KeyMetadata;

        Assert.Equal(KeySpec.ECC_NIST_P256, key.KeySpec);
        Assert.Equal(CustomerMasterKeySpec.ECC_NIST_P256, key.CustomerMasterKeySpec);
    }

    [Fact]
    public async Task An_EXTERNAL_asymmetric_key_waits_for_its_material_in_PendingImport_as_in_AWS()
    {
        var key = (await _kms.CreateKeyAsync(new CreateKeyRequest { KeySpec = KeySpec.RSA_4096, KeyUsage = KeyUsageType.ENCRYPT_DECRYPT, Origin = OriginType.EXTERNAL })).KeyMetadata;

        Assert.Equal(KeyState.PendingImport, key.KeyState);
        Assert.False(key.Enabled);
        Assert.Equal(OriginType.EXTERNAL, key.Origin);
        Assert.Equal(["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"], Names(key.EncryptionAlgorithms));
        await KmsAssert.ErrorAsync<KMSInvalidStateException>(
            () => _kms.GetPublicKeyAsync(new GetPublicKeyRequest { KeyId = key.KeyId }), $"{key.Arn} is pending import.");
    }

    [Theory]
    [InlineData("HMAC_256")]
    [InlineData("RSA_2048")]
    [InlineData("ECC_NIST_P256")]
    [InlineData("ML_DSA_44")]
    public async Task CreateKey_of_a_non_symmetric_spec_without_KeyUsage_returns_ValidationException(string spec)
    {
        await KmsAssert.ValidationAsync(
            () => _kms.CreateKeyAsync(new CreateKeyRequest { KeySpec = new KeySpec(spec) }),
            "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.");
    }

    [Theory]
    [InlineData("RSA_2048", "KEY_AGREEMENT")]
    [InlineData("RSA_4096", "GENERATE_VERIFY_MAC")]
    [InlineData("ECC_NIST_P256", "ENCRYPT_DECRYPT")]
    [InlineData("ECC_SECG_P256K1", "KEY_AGREEMENT")]
    [InlineData("ECC_NIST_EDWARDS25519", "KEY_AGREEMENT")]
    [InlineData("HMAC_256", "SIGN_VERIFY")]
    [InlineData("SYMMETRIC_DEFAULT", "SIGN_VERIFY")]
    public async Task CreateKey_with_a_KeyUsage_the_spec_cannot_have_returns_ValidationException(string spec, string usage)
    {
        using var kms = fixture.Host.CreateClient(accessKeyId: Accounts.NewAccountId());

        await KmsAssert.ValidationAsync(() => kms.NewKeyAsync(spec, usage), $"KeyUsage {usage} is not compatible with KeySpec {spec}");

        Assert.Empty(await kms.AllKeysAsync());
    }

    [Theory]
    [InlineData("ML_DSA_44", "SIGN_VERIFY")]
    [InlineData("ML_DSA_65", "SIGN_VERIFY")]
    [InlineData("ML_DSA_87", "SIGN_VERIFY")]
    [InlineData("SM2", "SIGN_VERIFY")]
    [InlineData("SM2", "ENCRYPT_DECRYPT")]
    public async Task CreateKey_of_a_spec_the_HSM_cannot_hold_returns_UnsupportedOperationException(string spec, string usage)
    {
        using var kms = fixture.Host.CreateClient(accessKeyId: Accounts.NewAccountId());

        var error = await KmsAssert.ErrorAsync<UnsupportedOperationException>(() => kms.NewKeyAsync(spec, usage));

        Assert.StartsWith($"KmsEmulator does not support KeySpec {spec}: ", error.Message, StringComparison.Ordinal);
        Assert.Empty(await kms.AllKeysAsync());
    }

    [Theory]
    [InlineData("RSA_2048", "ENCRYPT_DECRYPT")]
    [InlineData("RSA_2048", "SIGN_VERIFY")]
    [InlineData("ECC_NIST_P256", "KEY_AGREEMENT")]
    [InlineData("ECC_NIST_P384", "SIGN_VERIFY")]
    [InlineData("ECC_NIST_P521", "KEY_AGREEMENT")]
    [InlineData("ECC_SECG_P256K1", "SIGN_VERIFY")]
    [InlineData("ECC_NIST_EDWARDS25519", "SIGN_VERIFY")]
    public async Task GetPublicKey_returns_the_DER_public_key_with_the_keys_spec_usage_and_algorithms(string spec, string usage)
    {
        var key = await _kms.NewKeyAsync(spec, usage);
        var alias = await _kms.NewAliasAsync(key.KeyId);

        var response = await _kms.GetPublicKeyAsync(new GetPublicKeyRequest { KeyId = alias });
        var publicKey = response.PublicKey.ToArray();

        Assert.Equal(key.Arn, response.KeyId);
        Assert.Equal(spec, response.KeySpec.Value);
        Assert.Equal(key.CustomerMasterKeySpec?.Value, response.CustomerMasterKeySpec?.Value);
        Assert.Equal(usage, response.KeyUsage.Value);
        Assert.Equal(Names(key.EncryptionAlgorithms), Names(response.EncryptionAlgorithms));
        Assert.Equal(Names(key.SigningAlgorithms), Names(response.SigningAlgorithms));
        Assert.Equal(Names(key.KeyAgreementAlgorithms), Names(response.KeyAgreementAlgorithms));
        Assert.Equal(publicKey, (await _kms.GetPublicKeyAsync(new GetPublicKeyRequest { KeyId = key.Arn })).PublicKey.ToArray());
        switch (spec)
        {
            case "RSA_2048":
                using (var rsa = RSA.Create())
                {
                    rsa.ImportSubjectPublicKeyInfo(publicKey, out var read);
                    Assert.Equal(publicKey.Length, read);
                    Assert.Equal(2048, rsa.KeySize);
                    Assert.Equal([1, 0, 1], rsa.ExportParameters(false).Exponent);
                }

                break;
            case "ECC_NIST_EDWARDS25519":
                Assert.Equal("1.3.101.112", Signatures.AlgorithmOid(publicKey));
                Assert.Equal(44, publicKey.Length);
                break;
            default:
                using (var ecdsa = ECDsa.Create())
                {
                    ecdsa.ImportSubjectPublicKeyInfo(publicKey, out var read);
                    Assert.Equal(publicKey.Length, read);
                    Assert.Equal(spec switch { "ECC_NIST_P256" or "ECC_SECG_P256K1" => 256, "ECC_NIST_P384" => 384, _ => 521 }, ecdsa.KeySize);
                }

                break;
        }
    }

    [Fact]
    public async Task GetPublicKey_of_a_symmetric_or_HMAC_key_returns_UnsupportedOperationException()
    {
        var symmetric = await _kms.NewKeyAsync();
        var hmac = await _kms.NewKeyAsync("HMAC_256", "GENERATE_VERIFY_MAC");

        var error = await KmsAssert.ErrorAsync<UnsupportedOperationException>(() => _kms.GetPublicKeyAsync(new GetPublicKeyRequest { KeyId = symmetric.KeyId }));
        Assert.StartsWith($"{symmetric.Arn} has key spec SYMMETRIC_DEFAULT", error.Message, StringComparison.Ordinal);
        await KmsAssert.ErrorAsync<UnsupportedOperationException>(() => _kms.GetPublicKeyAsync(new GetPublicKeyRequest { KeyId = hmac.KeyId }));
    }

    [Fact]
    public async Task GetPublicKey_of_a_disabled_or_deleted_key_returns_its_state_error()
    {
        var key = await _kms.NewKeyAsync("ECC_NIST_P256", "SIGN_VERIFY");

        await _kms.DisableKeyAsync(new DisableKeyRequest { KeyId = key.KeyId });
        await KmsAssert.DisabledAsync(() => _kms.GetPublicKeyAsync(new GetPublicKeyRequest { KeyId = key.KeyId }), key.Arn);
        await _kms.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = key.KeyId, PendingWindowInDays = 7 });
        await KmsAssert.PendingDeletionAsync(() => _kms.GetPublicKeyAsync(new GetPublicKeyRequest { KeyId = key.KeyId }), key.Arn);
    }

    [Fact]
    public async Task UpdateAlias_does_not_move_an_alias_between_keys_of_different_usage()
    {
        var signing = await _kms.NewKeyAsync("ECC_NIST_P256", "SIGN_VERIFY");
        var agreement = await _kms.NewKeyAsync("ECC_NIST_P256", "KEY_AGREEMENT");
        var otherSigning = await _kms.NewKeyAsync("ECC_SECG_P256K1", "SIGN_VERIFY");
        var alias = await _kms.NewAliasAsync(signing.KeyId);

        await KmsAssert.ErrorAsync(() => _kms.UpdateAliasAsync(new UpdateAliasRequest { AliasName = alias, TargetKeyId = agreement.KeyId }), "ValidationException");
        await _kms.UpdateAliasAsync(new UpdateAliasRequest { AliasName = alias, TargetKeyId = otherSigning.KeyId });

        Assert.Equal(otherSigning.KeyId, (await _kms.DescribeAsync(alias)).KeyId);
    }

    [Fact]
    public async Task Asymmetric_and_HMAC_keys_keep_their_material_across_a_restart_and_lose_it_when_deleted()
    {
        var host = await EmulatorHost.StartNewAsync();
        try
        {
            var message = Encoding.UTF8.GetBytes("before and after");
            KeyMetadata signing, hmac;
            byte[] publicKey, signature, mac;
            using (var kms = host.CreateClient())
            {
                signing = await kms.NewKeyAsync("ECC_NIST_P384", "SIGN_VERIFY");
                hmac = await kms.NewKeyAsync("HMAC_512", "GENERATE_VERIFY_MAC");
                publicKey = (await kms.GetPublicKeyAsync(new GetPublicKeyRequest { KeyId = signing.KeyId })).PublicKey.ToArray();
                signature = (await kms.SignAsync(new SignRequest { KeyId = signing.KeyId, Message = Blob.Of(message), SigningAlgorithm = SigningAlgorithmSpec.ECDSA_SHA_384 })).Signature.ToArray();
                mac = (await kms.GenerateMacAsync(new GenerateMacRequest { KeyId = hmac.KeyId, Message = Blob.Of(message), MacAlgorithm = MacAlgorithmSpec.HMAC_SHA_512 })).Mac.ToArray();
            }

            host = await host.RestartAsync();
            var labels = new[] { signing, hmac }.Select(k => MaterialLabel(host, k.KeyId)).ToList();
            using (var kms = host.CreateClient())
            {
                Assert.Equal(publicKey, (await kms.GetPublicKeyAsync(new GetPublicKeyRequest { KeyId = signing.KeyId })).PublicKey.ToArray());
                Assert.True((await kms.VerifyAsync(new VerifyRequest
                {
                    KeyId = signing.KeyId,
                    Message = Blob.Of(message),
                    Signature = Blob.Of(signature),
                    SigningAlgorithm = SigningAlgorithmSpec.ECDSA_SHA_384,
                })).SignatureValid);
                Assert.Equal(mac, (await kms.GenerateMacAsync(new GenerateMacRequest { KeyId = hmac.KeyId, Message = Blob.Of(message), MacAlgorithm = MacAlgorithmSpec.HMAC_SHA_512 })).Mac.ToArray());

                await kms.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = signing.KeyId, PendingWindowInDays = 7 });
                await kms.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = hmac.KeyId, PendingWindowInDays = 7 });
            }

            host.Clock.Advance(TimeSpan.FromDays(7) + TimeSpan.FromMinutes(1));
            await host.Services.GetRequiredService<KeyLifecycleService>().DeleteExpiredKeysAsync(CancellationToken.None);

            var hsm = host.Services.GetRequiredService<IKeyMaterialBackend>();
            foreach (var label in labels)
            {
                Assert.False(await hsm.ExistsAsync(label), $"{label} is still on the token.");
            }
        }
        finally
        {
            await host.DisposeAsync();
        }
    }

    private static string MaterialLabel(EmulatorHost host, string keyId) =>
        host.Services.GetRequiredService<KeyCatalog>().FindKey(new KeyScope(Accounts.Default, Accounts.DefaultRegion), keyId)!.CurrentMaterial!.HsmLabel;

    private static List<string> Split(string names) => names.Length == 0 ? [] : [.. names.Split(',')];

    private static List<string> Names(List<string>? values) => values ?? [];
}
