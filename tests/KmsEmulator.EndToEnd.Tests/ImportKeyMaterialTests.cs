using System.Security.Cryptography;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using KmsEmulator.Api.Hosting;
using KmsEmulator.Api.Keys;
using KmsEmulator.Hsm;
using Microsoft.Extensions.DependencyInjection;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>
/// Imported key material (Origin EXTERNAL) through the official SDK, wrapped in the test with .NET's RSA and AES key
/// wrap exactly as a user wraps it for AWS: every wrapping algorithm, HMAC material proven by its MACs, the token and
/// material errors, re-import, DeleteImportedKeyMaterial, expiry on the clock and restarts in the middle of the flow.
/// </summary>
public sealed class ImportKeyMaterialTests : IAsyncLifetime
{
    private EmulatorHost _host = null!;
    private AmazonKeyManagementServiceClient _kms = null!;

    public async Task InitializeAsync()
    {
        _host = await EmulatorHost.StartNewAsync();
        _kms = _host.CreateClient();
    }

    public async Task DisposeAsync()
    {
        _kms.Dispose();
        await _host.DisposeAsync();
    }

    public static TheoryData<string> WrappingAlgorithms =>
        ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"];

    [Theory]
    [MemberData(nameof(WrappingAlgorithms))]
    public async Task Symmetric_material_imported_with_each_wrapping_algorithm_encrypts_and_decrypts(string algorithm)
    {
        var key = await NewExternalKeyAsync();
        Assert.Equal(KeyState.PendingImport, key.KeyState);
        Assert.Equal(OriginType.EXTERNAL, key.Origin);
        Assert.False(key.Enabled);
        Assert.Null(key.CurrentKeyMaterialId);
        Assert.Null(key.ExpirationModel);
        await PendingImportAsync(() => _kms.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = Blob.Of("x") }), key.Arn);

        var parameters = await ParametersAsync(key.KeyId, algorithm, WrappingKeySpec.RSA_3072);
        Assert.Equal(key.Arn, parameters.KeyId);
        var spki = parameters.PublicKey.ToArray();
        using (var rsa = RSA.Create())
        {
            rsa.ImportSubjectPublicKeyInfo(spki, out _);
            Assert.Equal(3072, rsa.KeySize);
        }

        var clock = _host.Services.GetRequiredService<EmulatorClock>();
        var expectedValidTo = clock.GetUtcNow().AddHours(24).ToUnixTimeSeconds();
        Assert.InRange(new DateTimeOffset(parameters.ParametersValidTo!.Value.ToUniversalTime()).ToUnixTimeSeconds(), expectedValidTo - 2, expectedValidTo + 2);

        var imported = await ImportAsync(key.KeyId, parameters, algorithm, RandomNumberGenerator.GetBytes(32));

        Assert.Equal(key.Arn, imported.KeyId);
        Assert.Matches("^[0-9a-f]{64}$", imported.KeyMaterialId);
        var described = await _kms.DescribeAsync(key.KeyId);
        Assert.Equal(KeyState.Enabled, described.KeyState);
        Assert.True(described.Enabled);
        Assert.Equal(ExpirationModelType.KEY_MATERIAL_DOES_NOT_EXPIRE, described.ExpirationModel);
        Assert.Null(described.ValidTo);
        Assert.Equal(imported.KeyMaterialId, described.CurrentKeyMaterialId);
        Assert.Equal(OriginType.EXTERNAL, described.Origin);

        var encrypted = await _kms.EncryptTextAsync(key.KeyId, "bring your own key");
        var decrypted = await _kms.DecryptBlobAsync(encrypted.CiphertextBlob);
        Assert.Equal("bring your own key", Blob.Text(decrypted.Plaintext));
        Assert.Equal(imported.KeyMaterialId, decrypted.KeyMaterialId);
    }

    [Theory]
    [InlineData("HMAC_256", "RSAES_OAEP_SHA_1", 32)]
    [InlineData("HMAC_384", "RSAES_OAEP_SHA_256", 48)]
    [InlineData("HMAC_512", "RSA_AES_KEY_WRAP_SHA_1", 64)]
    [InlineData("HMAC_256", "RSA_AES_KEY_WRAP_SHA_256", 40)]
    public async Task Imported_HMAC_material_makes_the_MAC_dotnet_makes_with_the_same_bytes(string keySpec, string algorithm, int materialBytes)
    {
        var key = await NewExternalKeyAsync(keySpec, KeyUsageType.GENERATE_VERIFY_MAC);
        var material = RandomNumberGenerator.GetBytes(materialBytes);
        await ImportAsync(key.KeyId, await ParametersAsync(key.KeyId, algorithm), algorithm, material);
        var message = RandomNumberGenerator.GetBytes(100);
        var (macAlgorithm, expected) = keySpec switch
        {
            "HMAC_256" => (MacAlgorithmSpec.HMAC_SHA_256, HMACSHA256.HashData(material, message)),
            "HMAC_384" => (MacAlgorithmSpec.HMAC_SHA_384, HMACSHA384.HashData(material, message)),
            _ => (MacAlgorithmSpec.HMAC_SHA_512, HMACSHA512.HashData(material, message)),
        };

        var mac = await _kms.GenerateMacAsync(new GenerateMacRequest { KeyId = key.KeyId, MacAlgorithm = macAlgorithm, Message = Blob.Of(message) });

        Assert.Equal(expected, mac.Mac.ToArray());
        var described = await _kms.DescribeAsync(key.KeyId);
        Assert.Equal(KeyState.Enabled, described.KeyState);
        Assert.Equal(ExpirationModelType.KEY_MATERIAL_DOES_NOT_EXPIRE, described.ExpirationModel);
    }

    [Fact]
    public async Task Imported_HMAC_224_material_generates_and_verifies_MACs()
    {
        var key = await NewExternalKeyAsync("HMAC_224", KeyUsageType.GENERATE_VERIFY_MAC);
        await ImportAsync(key.KeyId, await ParametersAsync(key.KeyId, "RSAES_OAEP_SHA_256"), "RSAES_OAEP_SHA_256", RandomNumberGenerator.GetBytes(28));

        var mac = await _kms.GenerateMacAsync(new GenerateMacRequest { KeyId = key.KeyId, MacAlgorithm = MacAlgorithmSpec.HMAC_SHA_224, Message = Blob.Of("m") });
        var verified = await _kms.VerifyMacAsync(new VerifyMacRequest { KeyId = key.KeyId, MacAlgorithm = MacAlgorithmSpec.HMAC_SHA_224, Message = Blob.Of("m"), Mac = mac.Mac });

        Assert.Equal(28, mac.Mac.Length);
        Assert.True(verified.MacValid);
    }

    [Fact]
    public async Task A_token_that_was_altered_or_made_up_is_InvalidImportTokenException()
    {
        var key = await NewExternalKeyAsync();
        var parameters = await ParametersAsync(key.KeyId, "RSAES_OAEP_SHA_1");
        var wrapped = Wrap(parameters.PublicKey.ToArray(), "RSAES_OAEP_SHA_1", RandomNumberGenerator.GetBytes(32));
        var altered = parameters.ImportToken.ToArray();
        altered[^1] ^= 1;

        await KmsAssert.ErrorAsync<InvalidImportTokenException>(() => ImportRawAsync(key.KeyId, altered, wrapped));
        await KmsAssert.ErrorAsync<InvalidImportTokenException>(() => ImportRawAsync(key.KeyId, RandomNumberGenerator.GetBytes(200), wrapped));
        Assert.Equal(KeyState.PendingImport, (await _kms.DescribeAsync(key.KeyId)).KeyState);
    }

    [Fact]
    public async Task The_token_of_another_key_is_InvalidImportTokenException()
    {
        var key = await NewExternalKeyAsync();
        var other = await NewExternalKeyAsync();
        var parameters = await ParametersAsync(other.KeyId, "RSAES_OAEP_SHA_1");
        var wrapped = Wrap(parameters.PublicKey.ToArray(), "RSAES_OAEP_SHA_1", RandomNumberGenerator.GetBytes(32));

        await KmsAssert.ErrorAsync<InvalidImportTokenException>(() => ImportRawAsync(key.KeyId, parameters.ImportToken.ToArray(), wrapped));

        // The token still works for its own key.
        await ImportRawAsync(other.KeyId, parameters.ImportToken.ToArray(), wrapped);
    }

    [Fact]
    public async Task A_token_used_after_24_hours_on_the_clock_is_ExpiredImportTokenException_and_its_wrapping_key_is_destroyed()
    {
        var key = await NewExternalKeyAsync();
        var parameters = await ParametersAsync(key.KeyId, "RSA_AES_KEY_WRAP_SHA_256");
        var wrapped = Wrap(parameters.PublicKey.ToArray(), "RSA_AES_KEY_WRAP_SHA_256", RandomNumberGenerator.GetBytes(32));
        var wrappingLabel = Assert.Single(Record(key.KeyId).ImportParameters).HsmLabel;
        var hsm = _host.Services.GetRequiredService<IKeyMaterialBackend>();
        Assert.True(await hsm.ExistsAsync(wrappingLabel));
        var clock = _host.Services.GetRequiredService<EmulatorClock>();

        await clock.AdvanceAsync(TimeSpan.FromHours(23));
        Assert.True(await hsm.ExistsAsync(wrappingLabel));
        await clock.AdvanceAsync(TimeSpan.FromHours(1));

        await KmsAssert.ErrorAsync<ExpiredImportTokenException>(() => ImportRawAsync(key.KeyId, parameters.ImportToken.ToArray(), wrapped));
        Assert.Empty(Record(key.KeyId).ImportParameters);
        Assert.False(await hsm.ExistsAsync(wrappingLabel));
        Assert.Equal(KeyState.PendingImport, (await _kms.DescribeAsync(key.KeyId)).KeyState);
    }

    [Fact]
    public async Task A_blob_that_does_not_unwrap_is_InvalidCiphertextException()
    {
        var key = await NewExternalKeyAsync();
        var parameters = await ParametersAsync(key.KeyId, "RSA_AES_KEY_WRAP_SHA_1");
        var wrapped = Wrap(parameters.PublicKey.ToArray(), "RSA_AES_KEY_WRAP_SHA_1", RandomNumberGenerator.GetBytes(32));
        wrapped[^5] ^= 0x10;

        await KmsAssert.InvalidCiphertextAsync(() => ImportRawAsync(key.KeyId, parameters.ImportToken.ToArray(), wrapped));

        // Material wrapped for another wrapping algorithm than the token's does not unwrap either.
        var other = Wrap(parameters.PublicKey.ToArray(), "RSAES_OAEP_SHA_1", RandomNumberGenerator.GetBytes(32));
        await KmsAssert.InvalidCiphertextAsync(() => ImportRawAsync(key.KeyId, parameters.ImportToken.ToArray(), other));
        Assert.Equal(KeyState.PendingImport, (await _kms.DescribeAsync(key.KeyId)).KeyState);
    }

    [Fact]
    public async Task Material_of_the_wrong_length_is_IncorrectKeyMaterialException()
    {
        var key = await NewExternalKeyAsync();
        var parameters = await ParametersAsync(key.KeyId, "RSAES_OAEP_SHA_256");

        await KmsAssert.ErrorAsync<IncorrectKeyMaterialException>(() => ImportAsync(key.KeyId, parameters, "RSAES_OAEP_SHA_256", RandomNumberGenerator.GetBytes(16)));
    }

    [Fact]
    public async Task Re_import_takes_the_same_material_only_and_returns_the_key_to_its_state()
    {
        var key = await NewExternalKeyAsync();
        var material = RandomNumberGenerator.GetBytes(32);
        var first = await ImportAsync(key.KeyId, await ParametersAsync(key.KeyId, "RSAES_OAEP_SHA_1"), "RSAES_OAEP_SHA_1", material);
        var ciphertext = (await _kms.EncryptTextAsync(key.KeyId, "before")).CiphertextBlob;

        // While the key has its material: different material is refused, the same is accepted (here to set an expiry).
        var parameters = await ParametersAsync(key.KeyId, "RSA_AES_KEY_WRAP_SHA_256");
        await KmsAssert.ErrorAsync<IncorrectKeyMaterialException>(
            () => ImportAsync(key.KeyId, parameters, "RSA_AES_KEY_WRAP_SHA_256", RandomNumberGenerator.GetBytes(32)));
        var validTo = _host.Services.GetRequiredService<EmulatorClock>().GetUtcNow().AddDays(30).UtcDateTime;
        var again = await ImportAsync(key.KeyId, parameters, "RSA_AES_KEY_WRAP_SHA_256", material, validTo);
        Assert.Equal(first.KeyMaterialId, again.KeyMaterialId);
        var described = await _kms.DescribeAsync(key.KeyId);
        Assert.Equal(ExpirationModelType.KEY_MATERIAL_EXPIRES, described.ExpirationModel);
        Assert.NotNull(described.ValidTo);

        // NEW_KEY_MATERIAL with the material the key already has is refused.
        await KmsAssert.ErrorAsync<IncorrectKeyMaterialException>(() => _kms.ImportKeyMaterialAsync(new ImportKeyMaterialRequest
        {
            KeyId = key.KeyId,
            ImportToken = Blob.Copy(parameters.ImportToken),
            EncryptedKeyMaterial = Blob.Of(Wrap(parameters.PublicKey.ToArray(), "RSA_AES_KEY_WRAP_SHA_256", material)),
            ExpirationModel = ExpirationModelType.KEY_MATERIAL_DOES_NOT_EXPIRE,
            ImportType = ImportType.NEW_KEY_MATERIAL,
        }));

        // Disabled, then deleted: the key waits in PendingImport and comes back disabled with the same material.
        await _kms.DisableKeyAsync(new DisableKeyRequest { KeyId = key.KeyId });
        var deleted = await _kms.DeleteImportedKeyMaterialAsync(new DeleteImportedKeyMaterialRequest { KeyId = key.KeyId });
        Assert.Equal(key.Arn, deleted.KeyId);
        Assert.Equal(first.KeyMaterialId, deleted.KeyMaterialId);
        var pending = await _kms.DescribeAsync(key.KeyId);
        Assert.Equal(KeyState.PendingImport, pending.KeyState);
        Assert.Null(pending.ExpirationModel);
        Assert.Null(pending.ValidTo);
        Assert.Equal(first.KeyMaterialId, pending.CurrentKeyMaterialId);
        await PendingImportAsync(() => _kms.DecryptAsync(new DecryptRequest { CiphertextBlob = Blob.Copy(ciphertext) }), key.Arn);

        parameters = await ParametersAsync(key.KeyId, "RSAES_OAEP_SHA_256");
        await KmsAssert.ErrorAsync<IncorrectKeyMaterialException>(
            () => ImportAsync(key.KeyId, parameters, "RSAES_OAEP_SHA_256", RandomNumberGenerator.GetBytes(32)));
        Assert.Equal(KeyState.PendingImport, (await _kms.DescribeAsync(key.KeyId)).KeyState);
        await _kms.ImportKeyMaterialAsync(new ImportKeyMaterialRequest
        {
            KeyId = key.KeyId,
            ImportToken = Blob.Copy(parameters.ImportToken),
            EncryptedKeyMaterial = Blob.Of(Wrap(parameters.PublicKey.ToArray(), "RSAES_OAEP_SHA_256", material)),
            ExpirationModel = ExpirationModelType.KEY_MATERIAL_DOES_NOT_EXPIRE,
            ImportType = ImportType.EXISTING_KEY_MATERIAL,
            KeyMaterialId = first.KeyMaterialId,
        });

        Assert.Equal(KeyState.Disabled, (await _kms.DescribeAsync(key.KeyId)).KeyState);
        await _kms.EnableKeyAsync(new EnableKeyRequest { KeyId = key.KeyId });
        Assert.Equal("before", Blob.Text((await _kms.DecryptBlobAsync(ciphertext)).Plaintext));
    }

    [Fact]
    public async Task Material_expires_when_the_clock_passes_ValidTo_and_not_before()
    {
        var key = await NewExternalKeyAsync();
        var clock = _host.Services.GetRequiredService<EmulatorClock>();
        // Whole seconds, so that the wire's rounding cannot move it past the clock's two days.
        var validTo = DateTimeOffset.FromUnixTimeSeconds(clock.GetUtcNow().ToUnixTimeSeconds()).AddDays(2).UtcDateTime;
        await ImportAsync(key.KeyId, await ParametersAsync(key.KeyId, "RSAES_OAEP_SHA_1"), "RSAES_OAEP_SHA_1", RandomNumberGenerator.GetBytes(32), validTo);
        var described = await _kms.DescribeAsync(key.KeyId);
        Assert.Equal(ExpirationModelType.KEY_MATERIAL_EXPIRES, described.ExpirationModel);
        Assert.Equal(new DateTimeOffset(validTo).ToUnixTimeSeconds(), new DateTimeOffset(described.ValidTo!.Value.ToUniversalTime()).ToUnixTimeSeconds());
        var label = Record(key.KeyId).Materials.Single().HsmLabel;
        var hsm = _host.Services.GetRequiredService<IKeyMaterialBackend>();

        await clock.AdvanceAsync(TimeSpan.FromDays(2) - TimeSpan.FromMinutes(1));
        Assert.Equal(KeyState.Enabled, (await _kms.DescribeAsync(key.KeyId)).KeyState);
        await _kms.EncryptTextAsync(key.KeyId, "still there");

        await clock.AdvanceAsync(TimeSpan.FromMinutes(1));
        var expired = await _kms.DescribeAsync(key.KeyId);
        Assert.Equal(KeyState.PendingImport, expired.KeyState);
        Assert.Null(expired.ExpirationModel);
        Assert.False(await hsm.ExistsAsync(label));
        await PendingImportAsync(() => _kms.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = Blob.Of("x") }), key.Arn);

        // The trail: a KMS-internal DeleteExpiredKeyMaterial event, and the calls' records hold neither token nor material.
        var records = await _host.FlushAndReadAsync();
        var expiredEvent = Assert.Single(records, r => (string?)r["eventName"] == "DeleteExpiredKeyMaterial");
        Assert.Equal("AwsServiceEvent", (string?)expiredEvent["eventType"]);
        Assert.Equal(key.KeyId, (string?)expiredEvent["serviceEventDetails"]!["keyId"]);
        var importRecord = Assert.Single(records, r => (string?)r["eventName"] == "ImportKeyMaterial");
        Assert.Equal(["keyId", "validTo", "expirationModel"], importRecord["requestParameters"]!.AsObject().Select(p => p.Key));
        var parametersRecord = Assert.Single(records, r => (string?)r["eventName"] == "GetParametersForImport");
        Assert.Equal(["keyId", "wrappingAlgorithm", "wrappingKeySpec"], parametersRecord["requestParameters"]!.AsObject().Select(p => p.Key));
        Assert.Null(parametersRecord["responseElements"]);

        // Still expired after a restart.
        _host = await _host.RestartAsync();
        _kms.Dispose();
        _kms = _host.CreateClient();
        Assert.Equal(KeyState.PendingImport, (await _kms.DescribeAsync(key.KeyId)).KeyState);
    }

    [Fact]
    public async Task A_restart_after_GetParametersForImport_and_after_the_import_keeps_the_flow_consistent()
    {
        var key = await NewExternalKeyAsync();
        var material = RandomNumberGenerator.GetBytes(32);
        var parameters = await ParametersAsync(key.KeyId, "RSA_AES_KEY_WRAP_SHA_1", WrappingKeySpec.RSA_4096);

        await RestartAsync();
        var imported = await ImportAsync(key.KeyId, parameters, "RSA_AES_KEY_WRAP_SHA_1", material);
        var ciphertext = (await _kms.EncryptTextAsync(key.KeyId, "across restarts")).CiphertextBlob;

        await RestartAsync();
        var described = await _kms.DescribeAsync(key.KeyId);
        Assert.Equal(KeyState.Enabled, described.KeyState);
        Assert.Equal(imported.KeyMaterialId, described.CurrentKeyMaterialId);
        Assert.Equal("across restarts", Blob.Text((await _kms.DecryptBlobAsync(ciphertext)).Plaintext));
        var hsm = _host.Services.GetRequiredService<IKeyMaterialBackend>();
        Assert.Empty(hsm.Defects);

        // The token is still valid after the restarts (24 hours) and still takes only the same material.
        await ImportAsync(key.KeyId, parameters, "RSA_AES_KEY_WRAP_SHA_1", material);
        await KmsAssert.ErrorAsync<IncorrectKeyMaterialException>(() => ImportAsync(key.KeyId, parameters, "RSA_AES_KEY_WRAP_SHA_1", RandomNumberGenerator.GetBytes(32)));
    }

    [Fact]
    public async Task Import_operations_follow_AWS_rules_on_origin_key_spec_and_parameters()
    {
        var kmsKey = await _kms.NewKeyAsync();
        var originMessage = $"{kmsKey.Arn} origin is AWS_KMS which is not valid for this operation.";
        await KmsAssert.ErrorAsync<UnsupportedOperationException>(() => _kms.GetParametersForImportAsync(new GetParametersForImportRequest
        {
            KeyId = kmsKey.KeyId, WrappingAlgorithm = AlgorithmSpec.RSAES_OAEP_SHA_256, WrappingKeySpec = WrappingKeySpec.RSA_2048,
        }), originMessage);
        await KmsAssert.ErrorAsync<UnsupportedOperationException>(
            () => _kms.DeleteImportedKeyMaterialAsync(new DeleteImportedKeyMaterialRequest { KeyId = kmsKey.KeyId }), originMessage);

        var key = await NewExternalKeyAsync();
        await KmsAssert.ErrorAsync(() => _kms.GetParametersForImportAsync(new GetParametersForImportRequest
        {
            KeyId = key.KeyId, WrappingAlgorithm = AlgorithmSpec.RSAES_PKCS1_V1_5, WrappingKeySpec = WrappingKeySpec.RSA_2048,
        }), "ValidationException");
        await KmsAssert.ErrorAsync(() => _kms.GetParametersForImportAsync(new GetParametersForImportRequest
        {
            KeyId = key.KeyId, WrappingAlgorithm = AlgorithmSpec.RSAES_OAEP_SHA_256, WrappingKeySpec = WrappingKeySpec.SM2,
        }), "ValidationException");

        var parameters = await ParametersAsync(key.KeyId, "RSAES_OAEP_SHA_1");
        var wrapped = Wrap(parameters.PublicKey.ToArray(), "RSAES_OAEP_SHA_1", RandomNumberGenerator.GetBytes(32));
        await KmsAssert.ValidationAsync(() => _kms.ImportKeyMaterialAsync(new ImportKeyMaterialRequest
        {
            KeyId = key.KeyId, ImportToken = Blob.Copy(parameters.ImportToken), EncryptedKeyMaterial = Blob.Of(wrapped),
            ExpirationModel = ExpirationModelType.KEY_MATERIAL_EXPIRES,
        }), "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES");
        await KmsAssert.ErrorAsync(() => _kms.ImportKeyMaterialAsync(new ImportKeyMaterialRequest
        {
            KeyId = key.KeyId, ImportToken = Blob.Copy(parameters.ImportToken), EncryptedKeyMaterial = Blob.Of(wrapped),
            ExpirationModel = ExpirationModelType.KEY_MATERIAL_DOES_NOT_EXPIRE, ValidTo = _host.Services.GetRequiredService<EmulatorClock>().GetUtcNow().AddDays(1).UtcDateTime,
        }), "ValidationException");

        // DeleteImportedKeyMaterial on a key without material changes nothing.
        await _kms.DeleteImportedKeyMaterialAsync(new DeleteImportedKeyMaterialRequest { KeyId = key.KeyId });
        Assert.Equal(KeyState.PendingImport, (await _kms.DescribeAsync(key.KeyId)).KeyState);

        // Rotation of an EXTERNAL key is refused as AWS did before imported-material rotation (docs/differences-from-aws.md).
        await ImportRawAsync(key.KeyId, parameters.ImportToken.ToArray(), wrapped);
        await KmsAssert.ErrorAsync<UnsupportedOperationException>(
            () => _kms.RotateKeyOnDemandAsync(new RotateKeyOnDemandRequest { KeyId = key.KeyId }), $"{key.Arn} origin is EXTERNAL which is not valid for this operation.");

        // Ed25519 material is not imported by the emulator (docs/differences-from-aws.md).
        var edKey = (await _kms.CreateKeyAsync(new CreateKeyRequest { Origin = OriginType.EXTERNAL, KeySpec = KeySpec.ECC_NIST_EDWARDS25519, KeyUsage = KeyUsageType.SIGN_VERIFY })).KeyMetadata;
        Assert.Equal(KeyState.PendingImport, edKey.KeyState);
        await KmsAssert.ErrorAsync<UnsupportedOperationException>(() => _kms.GetParametersForImportAsync(new GetParametersForImportRequest
        {
            KeyId = edKey.KeyId, WrappingAlgorithm = AlgorithmSpec.RSA_AES_KEY_WRAP_SHA_256, WrappingKeySpec = WrappingKeySpec.RSA_4096,
        }));

        // An RSA private key can only be wrapped with RSA_AES_KEY_WRAP (AWS's rule).
        var rsaKey = (await _kms.CreateKeyAsync(new CreateKeyRequest { Origin = OriginType.EXTERNAL, KeySpec = KeySpec.RSA_2048, KeyUsage = KeyUsageType.SIGN_VERIFY })).KeyMetadata;
        await KmsAssert.ErrorAsync(() => _kms.GetParametersForImportAsync(new GetParametersForImportRequest
        {
            KeyId = rsaKey.KeyId, WrappingAlgorithm = AlgorithmSpec.RSAES_OAEP_SHA_256, WrappingKeySpec = WrappingKeySpec.RSA_4096,
        }), "ValidationException");
    }

    [Fact]
    public async Task An_imported_ECC_key_signs_what_dotnet_verifies_and_GetPublicKey_returns_its_public_key()
    {
        var key = (await _kms.CreateKeyAsync(new CreateKeyRequest { Origin = OriginType.EXTERNAL, KeySpec = KeySpec.ECC_NIST_P384, KeyUsage = KeyUsageType.SIGN_VERIFY })).KeyMetadata;
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP384);

        await ImportAsync(key.KeyId, await ParametersAsync(key.KeyId, "RSA_AES_KEY_WRAP_SHA_1"), "RSA_AES_KEY_WRAP_SHA_1", ec.ExportPkcs8PrivateKey());

        Assert.Equal(ec.ExportSubjectPublicKeyInfo(), (await _kms.GetPublicKeyAsync(new GetPublicKeyRequest { KeyId = key.KeyId })).PublicKey.ToArray());
        var message = RandomNumberGenerator.GetBytes(64);
        var signature = await _kms.SignAsync(new SignRequest
        {
            KeyId = key.KeyId, Message = Blob.Of(message), MessageType = MessageType.RAW, SigningAlgorithm = SigningAlgorithmSpec.ECDSA_SHA_384,
        });
        Assert.True(ec.VerifyData(message, signature.Signature.ToArray(), HashAlgorithmName.SHA384, DSASignatureFormat.Rfc3279DerSequence));
        await RestartAsync();
        Assert.Equal(ec.ExportSubjectPublicKeyInfo(), (await _kms.GetPublicKeyAsync(new GetPublicKeyRequest { KeyId = key.KeyId })).PublicKey.ToArray());
        Assert.Empty(_host.Services.GetRequiredService<IKeyMaterialBackend>().Defects);
    }

    [Fact]
    public async Task An_imported_RSA_signing_key_signs_what_dotnet_verifies_and_GetPublicKey_returns_its_public_key()
    {
        var key = (await _kms.CreateKeyAsync(new CreateKeyRequest { Origin = OriginType.EXTERNAL, KeySpec = KeySpec.RSA_2048, KeyUsage = KeyUsageType.SIGN_VERIFY })).KeyMetadata;
        using var rsa = RSA.Create(2048);
        var parameters = await ParametersAsync(key.KeyId, "RSA_AES_KEY_WRAP_SHA_256", WrappingKeySpec.RSA_3072);

        var imported = await ImportAsync(key.KeyId, parameters, "RSA_AES_KEY_WRAP_SHA_256", rsa.ExportPkcs8PrivateKey());

        Assert.Null(imported.KeyMaterialId); // as for every asymmetric key, AWS reports no material id
        var described = await _kms.DescribeAsync(key.KeyId);
        Assert.Equal(KeyState.Enabled, described.KeyState);
        Assert.Equal(ExpirationModelType.KEY_MATERIAL_DOES_NOT_EXPIRE, described.ExpirationModel);
        var publicKey = await _kms.GetPublicKeyAsync(new GetPublicKeyRequest { KeyId = key.KeyId });
        Assert.Equal(rsa.ExportSubjectPublicKeyInfo(), publicKey.PublicKey.ToArray());
        var message = RandomNumberGenerator.GetBytes(64);
        var signature = await _kms.SignAsync(new SignRequest
        {
            KeyId = key.KeyId, Message = Blob.Of(message), MessageType = MessageType.RAW, SigningAlgorithm = SigningAlgorithmSpec.RSASSA_PSS_SHA_256,
        });
        Assert.True(rsa.VerifyData(message, signature.Signature.ToArray(), HashAlgorithmName.SHA256, RSASignaturePadding.Pss));

        // Re-import: only the same private key, recognised by its public key; after a restart too.
        await KmsAssert.ErrorAsync<IncorrectKeyMaterialException>(() => ImportAsync(key.KeyId, parameters, "RSA_AES_KEY_WRAP_SHA_256", RSA.Create(2048).ExportPkcs8PrivateKey()));
        await _kms.DeleteImportedKeyMaterialAsync(new DeleteImportedKeyMaterialRequest { KeyId = key.KeyId });
        await RestartAsync();
        await ImportAsync(key.KeyId, parameters, "RSA_AES_KEY_WRAP_SHA_256", rsa.ExportPkcs8PrivateKey());
        await RestartAsync();
        Assert.Equal(rsa.ExportSubjectPublicKeyInfo(), (await _kms.GetPublicKeyAsync(new GetPublicKeyRequest { KeyId = key.KeyId })).PublicKey.ToArray());
        Assert.Empty(_host.Services.GetRequiredService<IKeyMaterialBackend>().Defects);
    }

    /// <summary>Wraps material as a user does for AWS, with .NET only.</summary>
    internal static byte[] Wrap(byte[] spki, string algorithm, byte[] material)
    {
        using var rsa = RSA.Create();
        rsa.ImportSubjectPublicKeyInfo(spki, out _);
        switch (algorithm)
        {
            case "RSAES_OAEP_SHA_1":
                return rsa.Encrypt(material, RSAEncryptionPadding.OaepSHA1);
            case "RSAES_OAEP_SHA_256":
                return rsa.Encrypt(material, RSAEncryptionPadding.OaepSHA256);
            default:
                using (var aes = Aes.Create())
                {
                    aes.KeySize = 256;
                    var padding = algorithm == "RSA_AES_KEY_WRAP_SHA_1" ? RSAEncryptionPadding.OaepSHA1 : RSAEncryptionPadding.OaepSHA256;
                    return [.. rsa.Encrypt(aes.Key, padding), .. aes.EncryptKeyWrapPadded(material)];
                }
        }
    }

    private async Task<KeyMetadata> NewExternalKeyAsync(string? keySpec = null, KeyUsageType? usage = null) =>
        (await _kms.CreateKeyAsync(new CreateKeyRequest
        {
            Origin = OriginType.EXTERNAL,
            KeySpec = keySpec is null ? null : KeySpec.FindValue(keySpec),
            KeyUsage = usage,
        })).KeyMetadata;

    private Task<GetParametersForImportResponse> ParametersAsync(string keyId, string algorithm, WrappingKeySpec? spec = null) =>
        _kms.GetParametersForImportAsync(new GetParametersForImportRequest
        {
            KeyId = keyId,
            WrappingAlgorithm = AlgorithmSpec.FindValue(algorithm),
            WrappingKeySpec = spec ?? WrappingKeySpec.RSA_2048,
        });

    private Task<ImportKeyMaterialResponse> ImportAsync(string keyId, GetParametersForImportResponse parameters, string algorithm, byte[] material, DateTime? validTo = null) =>
        _kms.ImportKeyMaterialAsync(new ImportKeyMaterialRequest
        {
            KeyId = keyId,
            ImportToken = Blob.Copy(parameters.ImportToken),
            EncryptedKeyMaterial = Blob.Of(Wrap(parameters.PublicKey.ToArray(), algorithm, material)),
            ExpirationModel = validTo is null ? ExpirationModelType.KEY_MATERIAL_DOES_NOT_EXPIRE : ExpirationModelType.KEY_MATERIAL_EXPIRES,
            ValidTo = validTo,
        });

    private Task<ImportKeyMaterialResponse> ImportRawAsync(string keyId, byte[] token, byte[] wrapped) =>
        _kms.ImportKeyMaterialAsync(new ImportKeyMaterialRequest
        {
            KeyId = keyId,
            ImportToken = Blob.Of(token),
            EncryptedKeyMaterial = Blob.Of(wrapped),
            ExpirationModel = ExpirationModelType.KEY_MATERIAL_DOES_NOT_EXPIRE,
        });

    private static Task<KMSInvalidStateException> PendingImportAsync(Func<Task> call, string keyArn) =>
        KmsAssert.ErrorAsync<KMSInvalidStateException>(call, $"{keyArn} is pending import.");

    private KeyRecord Record(string keyId) =>
        _host.Services.GetRequiredService<KeyCatalog>().AllKeys.Single(k => k.KeyId == keyId);

    private async Task RestartAsync()
    {
        _kms.Dispose();
        _host = await _host.RestartAsync();
        _kms = _host.CreateClient();
    }
}
