using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>GenerateDataKey, GenerateDataKeyWithoutPlaintext, GenerateRandom.</summary>
public sealed class DataKeyTests(HostFixture fixture) : IClassFixture<HostFixture>
{
    private const string KeySpecOrNumberOfBytes = "Please specify either number of bytes or key spec.";

    private readonly AmazonKeyManagementServiceClient _kms = fixture.Kms;

    [Theory]
    [InlineData("AES_256", 32)]
    [InlineData("AES_128", 16)]
    public async Task GenerateDataKey_with_a_KeySpec_returns_a_data_key_of_that_size_that_decrypts_under_its_context(string keySpec, int length)
    {
        var key = await _kms.NewKeyAsync();
        var context = Blob.Context(("bucket", "photos"), ("object", "cat.jpg"));

        var dataKey = await _kms.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = key.KeyId, KeySpec = new DataKeySpec(keySpec), EncryptionContext = context });
        var decrypted = await _kms.DecryptBlobAsync(dataKey.CiphertextBlob, context);

        Assert.Equal(key.Arn, dataKey.KeyId);
        Assert.Equal(length, dataKey.Plaintext.Length);
        Assert.Equal(key.CurrentKeyMaterialId, dataKey.KeyMaterialId);
        Assert.Equal(dataKey.Plaintext.ToArray(), decrypted.Plaintext.ToArray());
        Assert.Equal(key.Arn, decrypted.KeyId);
        await KmsAssert.InvalidCiphertextAsync(() => _kms.DecryptBlobAsync(dataKey.CiphertextBlob));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(64)]
    [InlineData(1024)]
    public async Task GenerateDataKey_with_NumberOfBytes_returns_that_many_bytes(int numberOfBytes)
    {
        var key = await _kms.NewKeyAsync();

        var dataKey = await _kms.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = key.Arn, NumberOfBytes = numberOfBytes });

        Assert.Equal(numberOfBytes, dataKey.Plaintext.Length);
        Assert.Equal(dataKey.Plaintext.ToArray(), (await _kms.DecryptBlobAsync(dataKey.CiphertextBlob)).Plaintext.ToArray());
    }

    [Fact]
    public async Task Two_data_keys_differ()
    {
        var key = await _kms.NewKeyAsync();

        var first = await _kms.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = key.KeyId, KeySpec = DataKeySpec.AES_256 });
        var second = await _kms.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = key.KeyId, KeySpec = DataKeySpec.AES_256 });

        Assert.NotEqual(first.Plaintext.ToArray(), second.Plaintext.ToArray());
    }

    [Fact]
    public async Task GenerateDataKey_with_neither_KeySpec_nor_NumberOfBytes_returns_ValidationException()
    {
        var key = await _kms.NewKeyAsync();

        await KmsAssert.ValidationAsync(() => _kms.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = key.KeyId }), KeySpecOrNumberOfBytes);
        await KmsAssert.ValidationAsync(
            () => _kms.GenerateDataKeyWithoutPlaintextAsync(new GenerateDataKeyWithoutPlaintextRequest { KeyId = key.KeyId }),
            KeySpecOrNumberOfBytes);
    }

    [Fact]
    public async Task GenerateDataKey_with_both_KeySpec_and_NumberOfBytes_returns_ValidationException()
    {
        var key = await _kms.NewKeyAsync();

        await KmsAssert.ValidationAsync(
            () => _kms.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = key.KeyId, KeySpec = DataKeySpec.AES_256, NumberOfBytes = 32 }),
            KeySpecOrNumberOfBytes);
        await KmsAssert.ValidationAsync(
            () => _kms.GenerateDataKeyWithoutPlaintextAsync(new GenerateDataKeyWithoutPlaintextRequest { KeyId = key.KeyId, KeySpec = DataKeySpec.AES_128, NumberOfBytes = 16 }),
            KeySpecOrNumberOfBytes);
    }

    [Theory]
    [InlineData(0, "greater than or equal to 1")]
    [InlineData(1025, "less than or equal to 1024")]
    public async Task GenerateDataKey_with_NumberOfBytes_out_of_range_returns_ValidationException(int numberOfBytes, string bound)
    {
        var key = await _kms.NewKeyAsync();

        await KmsAssert.ValidationAsync(
            () => _kms.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = key.KeyId, NumberOfBytes = numberOfBytes }),
            $"1 validation error detected: Value '{numberOfBytes}' at 'numberOfBytes' failed to satisfy constraint: Member must have value {bound}");
    }

    [Fact]
    public async Task GenerateDataKey_with_an_unknown_KeySpec_returns_the_enum_ValidationException()
    {
        var key = await _kms.NewKeyAsync();

        var error = await KmsAssert.ErrorAsync(
            () => _kms.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = key.KeyId, KeySpec = new DataKeySpec("AES_257") }),
            "ValidationException");

        Assert.StartsWith("1 validation error detected: Value 'AES_257' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [", error.Message);
        Assert.Contains("AES_256", error.Message);
        Assert.Contains("AES_128", error.Message);
    }

    [Fact]
    public async Task GenerateDataKey_with_DryRun_returns_DryRunOperationException()
    {
        var key = await _kms.NewKeyAsync();

        await KmsAssert.ErrorAsync<DryRunOperationException>(
            () => _kms.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = key.KeyId, KeySpec = DataKeySpec.AES_256, DryRun = true }),
            KmsAssert.DryRunMessage);
        await KmsAssert.ErrorAsync<DryRunOperationException>(
            () => _kms.GenerateDataKeyWithoutPlaintextAsync(new GenerateDataKeyWithoutPlaintextRequest { KeyId = key.KeyId, KeySpec = DataKeySpec.AES_256, DryRun = true }),
            KmsAssert.DryRunMessage);
    }

    [Fact]
    public async Task GenerateDataKeyWithoutPlaintext_returns_only_a_ciphertext_that_decrypts_under_its_context()
    {
        var key = await _kms.NewKeyAsync();
        var context = Blob.Context(("purpose", "envelope"));

        var dataKey = await _kms.GenerateDataKeyWithoutPlaintextAsync(new GenerateDataKeyWithoutPlaintextRequest
        {
            KeyId = key.KeyId,
            KeySpec = DataKeySpec.AES_256,
            EncryptionContext = context,
        });
        var decrypted = await _kms.DecryptBlobAsync(dataKey.CiphertextBlob, context);

        Assert.Equal(key.Arn, dataKey.KeyId);
        Assert.Equal(key.CurrentKeyMaterialId, dataKey.KeyMaterialId);
        Assert.Equal(32, decrypted.Plaintext.Length);
        Assert.Equal(key.Arn, decrypted.KeyId);
        await KmsAssert.InvalidCiphertextAsync(() => _kms.DecryptBlobAsync(dataKey.CiphertextBlob, Blob.Context(("purpose", "other"))));
    }

    [Fact]
    public async Task GenerateDataKeyWithoutPlaintext_with_NumberOfBytes_makes_a_key_of_that_size()
    {
        var key = await _kms.NewKeyAsync();

        var dataKey = await _kms.GenerateDataKeyWithoutPlaintextAsync(new GenerateDataKeyWithoutPlaintextRequest { KeyId = key.KeyId, NumberOfBytes = 48 });

        Assert.Equal(48, (await _kms.DecryptBlobAsync(dataKey.CiphertextBlob)).Plaintext.Length);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(12)]
    [InlineData(1024)]
    public async Task GenerateRandom_returns_the_requested_number_of_bytes(int numberOfBytes)
    {
        var response = await _kms.GenerateRandomAsync(new GenerateRandomRequest { NumberOfBytes = numberOfBytes });

        Assert.Equal(numberOfBytes, response.Plaintext.Length);
        KmsAssert.IsUuid(response.ResponseMetadata.RequestId);
    }

    [Fact]
    public async Task GenerateRandom_returns_different_bytes_each_time()
    {
        var first = await _kms.GenerateRandomAsync(new GenerateRandomRequest { NumberOfBytes = 32 });
        var second = await _kms.GenerateRandomAsync(new GenerateRandomRequest { NumberOfBytes = 32 });

        Assert.NotEqual(first.Plaintext.ToArray(), second.Plaintext.ToArray());
    }

    [Fact]
    public async Task GenerateRandom_without_NumberOfBytes_returns_ValidationException()
    {
        await KmsAssert.ValidationAsync(() => _kms.GenerateRandomAsync(new GenerateRandomRequest()), "NumberOfBytes is required.");
    }

    [Theory]
    [InlineData(0, "greater than or equal to 1")]
    [InlineData(1025, "less than or equal to 1024")]
    public async Task GenerateRandom_with_NumberOfBytes_out_of_range_returns_ValidationException(int numberOfBytes, string bound)
    {
        await KmsAssert.ValidationAsync(
            () => _kms.GenerateRandomAsync(new GenerateRandomRequest { NumberOfBytes = numberOfBytes }),
            $"1 validation error detected: Value '{numberOfBytes}' at 'numberOfBytes' failed to satisfy constraint: Member must have value {bound}");
    }
}
