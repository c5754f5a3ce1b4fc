using System.Security.Cryptography;
using System.Text;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using KmsEmulator.Api.Keys;
using KmsEmulator.Hsm;
using KmsEmulator.Hsm.Pkcs11;
using Microsoft.Extensions.DependencyInjection;
using Net.Pkcs11Interop.Common;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>One GENERATE_VERIFY_MAC key of every HMAC size.</summary>
public sealed class HmacKeysFixture : KeySetFixture
{
    protected override IEnumerable<(string Spec, string Usage)> KeyTypes =>
        new[] { "HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512" }.Select(spec => (spec, "GENERATE_VERIFY_MAC"));
}

/// <summary>GenerateMac and VerifyMac with HMAC keys inside the HSM.</summary>
public sealed class MacTests(HmacKeysFixture fixture) : IClassFixture<HmacKeysFixture>
{
    private readonly AmazonKeyManagementServiceClient _kms = fixture.Kms;

    public static TheoryData<string, string, int> SpecsAlgorithmsAndLengths => new()
    {
        { "HMAC_224", "HMAC_SHA_224", 28 },
        { "HMAC_256", "HMAC_SHA_256", 32 },
        { "HMAC_384", "HMAC_SHA_384", 48 },
        { "HMAC_512", "HMAC_SHA_512", 64 },
    };

    [Theory]
    [MemberData(nameof(SpecsAlgorithmsAndLengths))]
    public async Task GenerateMac_gives_a_deterministic_MAC_of_the_hash_length_that_VerifyMac_accepts(string spec, string algorithm, int length)
    {
        var key = fixture.Key(spec);
        var message = Encoding.UTF8.GetBytes("some important message");

        var generated = await GenerateMacAsync(key.KeyId, algorithm, message);
        var verified = await VerifyMacAsync(key.KeyId, algorithm, message, generated.Mac.ToArray());

        Assert.Equal(length, generated.Mac.Length);
        Assert.Equal(key.Arn, generated.KeyId);
        Assert.Equal(algorithm, generated.MacAlgorithm.Value);
        Assert.Equal(generated.Mac.ToArray(), (await GenerateMacAsync(key.Arn, algorithm, message)).Mac.ToArray());
        Assert.NotEqual(generated.Mac.ToArray(), (await GenerateMacAsync(key.KeyId, algorithm, AsymmetricKeys.Flipped(message))).Mac.ToArray());
        Assert.True(verified.MacValid);
        Assert.Equal(key.Arn, verified.KeyId);
        Assert.Equal(algorithm, verified.MacAlgorithm.Value);
    }

    [SkippableTheory]
    [MemberData(nameof(SpecsAlgorithmsAndLengths))]
    public async Task GenerateMac_equals_HMAC_computed_by_dotnet_or_OpenSSL_with_the_same_secret(string spec, string algorithm, int length)
    {
        Skip.If(algorithm == "HMAC_SHA_224" && !OpenSslCli.IsAvailable, ".NET has no SHA-224 and the openssl command-line tool is not installed.");
        var key = await _kms.NewKeyAsync(spec, "GENERATE_VERIFY_MAC");
        var secret = await ReplaceSecretAsync(key.KeyId, length);

        foreach (var message in new[] { [0x00], Encoding.UTF8.GetBytes("The quick brown fox jumps over the lazy dog"), AsymmetricKeys.Random(4096) })
        {
            byte[] expected = algorithm switch
            {
                "HMAC_SHA_224" => OpenSslCli.HmacSha224(secret, message),
                "HMAC_SHA_256" => HMACSHA256.HashData(secret, message),
                "HMAC_SHA_384" => HMACSHA384.HashData(secret, message),
                _ => HMACSHA512.HashData(secret, message),
            };
            Assert.Equal(expected, (await GenerateMacAsync(key.KeyId, algorithm, message)).Mac.ToArray());
            Assert.True((await VerifyMacAsync(key.KeyId, algorithm, message, expected)).MacValid);
        }
    }

    [Theory]
    [InlineData("HMAC_224", "HMAC_SHA_256")]
    [InlineData("HMAC_256", "HMAC_SHA_512")]
    [InlineData("HMAC_384", "HMAC_SHA_224")]
    [InlineData("HMAC_512", "HMAC_SHA_384")]
    public async Task An_algorithm_of_another_size_returns_InvalidKeyUsageException(string spec, string algorithm)
    {
        var key = fixture.Key(spec);
        var expected = $"Algorithm {algorithm} is incompatible with key spec {spec}.";

        await KmsAssert.ErrorAsync<InvalidKeyUsageException>(() => GenerateMacAsync(key.KeyId, algorithm, [1]), expected);
        await KmsAssert.ErrorAsync<InvalidKeyUsageException>(() => VerifyMacAsync(key.KeyId, algorithm, [1], AsymmetricKeys.Random(32)), expected);
        await KmsAssert.ErrorAsync<InvalidKeyUsageException>(
            () => _kms.GenerateMacAsync(new GenerateMacRequest { KeyId = key.KeyId, Message = Blob.Of([1]), MacAlgorithm = new MacAlgorithmSpec(algorithm), DryRun = true }),
            expected);
    }

    [Fact]
    public async Task VerifyMac_of_a_changed_message_or_MAC_returns_KMSInvalidMacException_without_a_message()
    {
        var key = fixture.Key("HMAC_256");
        var other = fixture.Key("HMAC_512");
        var message = Encoding.UTF8.GetBytes("some important message");
        var mac = (await GenerateMacAsync(key.KeyId, "HMAC_SHA_256", message)).Mac.ToArray();
        var otherKeysMac = (await GenerateMacAsync(other.KeyId, "HMAC_SHA_512", message)).Mac.ToArray();

        (byte[] Message, byte[] Mac)[] wrong =
        [
            (Encoding.UTF8.GetBytes("some different important message"), mac),
            (message, AsymmetricKeys.Flipped(mac, 31)),
            (message, mac[..^1]),
            (message, [.. mac, 0x00]),
            (message, otherKeysMac[..32]),
        ];
        foreach (var (candidateMessage, candidateMac) in wrong)
        {
            var error = await KmsAssert.ErrorAsync<KMSInvalidMacException>(() => VerifyMacAsync(key.KeyId, "HMAC_SHA_256", candidateMessage, candidateMac));
            AsymmetricKeys.HasNoMessage(error);
        }
    }

    [Fact]
    public async Task GenerateMac_and_VerifyMac_with_a_key_of_another_usage_return_InvalidKeyUsageException()
    {
        var symmetric = await _kms.NewKeyAsync();
        var signing = await _kms.NewKeyAsync("ECC_NIST_P256", "SIGN_VERIFY");

        await KmsAssert.ErrorAsync<InvalidKeyUsageException>(
            () => GenerateMacAsync(symmetric.KeyId, "HMAC_SHA_224", [1]), $"{symmetric.Arn} key usage is ENCRYPT_DECRYPT which is not valid for GenerateMac.");
        await KmsAssert.ErrorAsync<InvalidKeyUsageException>(
            () => VerifyMacAsync(signing.KeyId, "HMAC_SHA_256", [1], AsymmetricKeys.Random(32)), $"{signing.Arn} key usage is SIGN_VERIFY which is not valid for VerifyMac.");
    }

    [Fact]
    public async Task GenerateMac_and_VerifyMac_with_a_malformed_key_id_return_NotFoundException()
    {
        await KmsAssert.InvalidKeyIdAsync(() => GenerateMacAsync("key_id", "HMAC_SHA_256", [1]), "key_id");
        await KmsAssert.InvalidKeyIdAsync(() => VerifyMacAsync("key_id", "HMAC_SHA_256", [1], AsymmetricKeys.Random(32)), "key_id");
    }

    [Fact]
    public async Task An_unknown_MacAlgorithm_returns_the_enum_ValidationException()
    {
        var error = await KmsAssert.ErrorAsync(() => GenerateMacAsync(fixture.Key("HMAC_256").KeyId, "INVALID", [1]), "ValidationException");

        Assert.StartsWith(
            "1 validation error detected: Value 'INVALID' at 'macAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [",
            error.Message,
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task GenerateMac_takes_messages_of_up_to_4096_bytes_and_an_alias()
    {
        var key = fixture.Key("HMAC_384");
        var alias = await _kms.NewAliasAsync(key.KeyId);

        var generated = await GenerateMacAsync(alias, "HMAC_SHA_384", AsymmetricKeys.Random(4096));

        Assert.Equal(key.Arn, generated.KeyId);
        await KmsAssert.ValidationAsync(
            () => GenerateMacAsync(key.KeyId, "HMAC_SHA_384", AsymmetricKeys.Random(4097)),
            "1 validation error detected: Value at 'message' failed to satisfy constraint: Member must have length less than or equal to 4096");
    }

    [Fact]
    public async Task GenerateMac_and_VerifyMac_with_DryRun_or_a_disabled_key_return_AWSs_errors()
    {
        var key = await _kms.NewKeyAsync("HMAC_256", "GENERATE_VERIFY_MAC");
        var mac = (await GenerateMacAsync(key.KeyId, "HMAC_SHA_256", [1])).Mac.ToArray();

        await KmsAssert.ErrorAsync<DryRunOperationException>(
            () => _kms.GenerateMacAsync(new GenerateMacRequest { KeyId = key.KeyId, Message = Blob.Of([1]), MacAlgorithm = MacAlgorithmSpec.HMAC_SHA_256, DryRun = true }),
            KmsAssert.DryRunMessage);
        await KmsAssert.ErrorAsync<DryRunOperationException>(
            () => _kms.VerifyMacAsync(new VerifyMacRequest { KeyId = key.KeyId, Message = Blob.Of([1]), Mac = Blob.Of(mac), MacAlgorithm = MacAlgorithmSpec.HMAC_SHA_256, DryRun = true }),
            KmsAssert.DryRunMessage);

        await _kms.DisableKeyAsync(new DisableKeyRequest { KeyId = key.KeyId });
        await KmsAssert.DisabledAsync(() => GenerateMacAsync(key.KeyId, "HMAC_SHA_256", [1]), key.Arn);
        await KmsAssert.DisabledAsync(() => VerifyMacAsync(key.KeyId, "HMAC_SHA_256", [1], mac), key.Arn);
    }

    /// <summary>
    /// Replaces the HMAC secret of a KMS key in the HSM with a known one (as an import would), so that its MACs can be
    /// compared with other implementations. The HSM's own secret cannot be read.
    /// </summary>
    private async Task<byte[]> ReplaceSecretAsync(string keyId, int length)
    {
        var services = fixture.Host.Services;
        var label = services.GetRequiredService<KeyCatalog>().FindKey(new KeyScope(Accounts.Default, Accounts.DefaultRegion), keyId)!.CurrentMaterial!.HsmLabel;
        var backend = (Pkcs11Backend)services.GetRequiredService<IKeyMaterialBackend>();
        var secret = AsymmetricKeys.Random(length);
        await backend.DestroyAsync(label);
        await backend.RunAsync("put a known HMAC secret", session =>
        {
            using var template = Pkcs11Template.From(session,
            [
                new(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY), new(CKA.CKA_KEY_TYPE, CKK.CKK_GENERIC_SECRET), new(CKA.CKA_TOKEN, true),
                new(CKA.CKA_PRIVATE, true), new(CKA.CKA_SENSITIVE, true), new(CKA.CKA_EXTRACTABLE, false), new(CKA.CKA_SIGN, true),
                new(CKA.CKA_VERIFY, true), new(CKA.CKA_VALUE, secret), new(CKA.CKA_LABEL, label),
            ]);
            return session.CreateObject(template.Attributes);
        }, CancellationToken.None);
        return secret;
    }

    private Task<GenerateMacResponse> GenerateMacAsync(string keyId, string algorithm, byte[] message) =>
        _kms.GenerateMacAsync(new GenerateMacRequest { KeyId = keyId, Message = Blob.Of(message), MacAlgorithm = new MacAlgorithmSpec(algorithm) });

    private Task<VerifyMacResponse> VerifyMacAsync(string keyId, string algorithm, byte[] message, byte[] mac) =>
        _kms.VerifyMacAsync(new VerifyMacRequest { KeyId = keyId, Message = Blob.Of(message), Mac = Blob.Of(mac), MacAlgorithm = new MacAlgorithmSpec(algorithm) });
}
