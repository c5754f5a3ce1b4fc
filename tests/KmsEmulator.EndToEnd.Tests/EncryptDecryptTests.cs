using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>Encrypt, Decrypt and ReEncrypt with symmetric keys, encryption contexts and ciphertext integrity.</summary>
public sealed class EncryptDecryptTests(HostFixture fixture) : IClassFixture<HostFixture>
{
    private readonly AmazonKeyManagementServiceClient _kms = fixture.Kms;

    [Fact]
    public async Task Encrypt_returns_the_key_ARN_and_a_ciphertext_that_Decrypt_opens_without_a_KeyId()
    {
        var key = await _kms.NewKeyAsync();

        var encrypted = await _kms.EncryptTextAsync(key.KeyId, "attack at dawn");
        var decrypted = await _kms.DecryptBlobAsync(encrypted.CiphertextBlob);

        Assert.Equal(key.Arn, encrypted.KeyId);
        Assert.Equal(EncryptionAlgorithmSpec.SYMMETRIC_DEFAULT, encrypted.EncryptionAlgorithm);
        Assert.DoesNotContain("attack at dawn", Blob.Text(encrypted.CiphertextBlob), StringComparison.Ordinal);
        Assert.Equal("attack at dawn", Blob.Text(decrypted.Plaintext));
        Assert.Equal(key.Arn, decrypted.KeyId);
        Assert.Equal(EncryptionAlgorithmSpec.SYMMETRIC_DEFAULT, decrypted.EncryptionAlgorithm);
        Assert.Equal(key.CurrentKeyMaterialId, decrypted.KeyMaterialId);
        KmsAssert.IsUuid(decrypted.ResponseMetadata.RequestId);
    }

    [Fact]
    public async Task Encrypting_the_same_plaintext_twice_gives_different_ciphertexts()
    {
        var key = await _kms.NewKeyAsync();

        var first = await _kms.EncryptTextAsync(key.KeyId, "same");
        var second = await _kms.EncryptTextAsync(key.KeyId, "same");

        Assert.NotEqual(first.CiphertextBlob.ToArray(), second.CiphertextBlob.ToArray());
        Assert.Equal("same", Blob.Text((await _kms.DecryptBlobAsync(second.CiphertextBlob)).Plaintext));
    }

    [Fact]
    public async Task Encrypt_accepts_key_id_and_key_ARN()
    {
        var key = await _kms.NewKeyAsync();

        foreach (var identifier in new[] { key.KeyId, key.Arn })
        {
            var encrypted = await _kms.EncryptTextAsync(identifier, identifier);
            Assert.Equal(key.Arn, encrypted.KeyId);
            Assert.Equal(identifier, Blob.Text((await _kms.DecryptBlobAsync(encrypted.CiphertextBlob)).Plaintext));
        }
    }

    [Fact]
    public async Task Decrypt_accepts_the_ciphertexts_key_as_key_id_key_ARN_alias_name_and_alias_ARN()
    {
        var key = await _kms.NewKeyAsync();
        var alias = await _kms.NewAliasAsync(key.KeyId);
        var encrypted = await _kms.EncryptTextAsync(key.KeyId, "named");

        foreach (var identifier in new[] { key.KeyId, key.Arn, alias, Accounts.AliasArn(alias) })
        {
            var decrypted = await _kms.DecryptBlobAsync(encrypted.CiphertextBlob, keyId: identifier);
            Assert.Equal("named", Blob.Text(decrypted.Plaintext));
            Assert.Equal(key.Arn, decrypted.KeyId);
        }
    }

    [Fact]
    public async Task Decrypt_with_a_KeyId_that_is_not_the_ciphertexts_key_returns_IncorrectKeyException()
    {
        var key = await _kms.NewKeyAsync();
        var other = await _kms.NewKeyAsync();
        var otherAlias = await _kms.NewAliasAsync(other.KeyId);
        var encrypted = await _kms.EncryptTextAsync(key.KeyId, "mine");

        foreach (var identifier in new[] { other.KeyId, other.Arn, otherAlias })
        {
            await KmsAssert.ErrorAsync<IncorrectKeyException>(
                () => _kms.DecryptBlobAsync(encrypted.CiphertextBlob, keyId: identifier),
                KmsAssert.IncorrectKeyMessage);
        }
    }

    [Fact]
    public async Task ReEncrypt_with_a_SourceKeyId_that_is_not_the_ciphertexts_key_returns_IncorrectKeyException()
    {
        var key = await _kms.NewKeyAsync();
        var other = await _kms.NewKeyAsync();
        var encrypted = await _kms.EncryptTextAsync(key.KeyId, "mine");

        await KmsAssert.ErrorAsync<IncorrectKeyException>(
            () => _kms.ReEncryptAsync(new ReEncryptRequest { CiphertextBlob = Blob.Copy(encrypted.CiphertextBlob), SourceKeyId = other.KeyId, DestinationKeyId = other.KeyId }),
            KmsAssert.IncorrectKeyMessage);
    }

    [Fact]
    public async Task Decrypt_requires_the_exact_encryption_context_in_any_order()
    {
        var key = await _kms.NewKeyAsync();
        var context = new Dictionary<string, string> { ["purpose"] = "test", ["tenant"] = "acme", ["empty"] = "" };
        var encrypted = await _kms.EncryptTextAsync(key.KeyId, "contextual", context);

        var reordered = new Dictionary<string, string> { ["tenant"] = "acme", ["empty"] = "", ["purpose"] = "test" };
        Assert.Equal("contextual", Blob.Text((await _kms.DecryptBlobAsync(encrypted.CiphertextBlob, reordered)).Plaintext));

        Dictionary<string, string>?[] wrong =
        [
            null,
            [],
            Blob.Context(("purpose", "test"), ("tenant", "acme")),
            Blob.Context(("purpose", "test"), ("tenant", "acme"), ("empty", ""), ("extra", "x")),
            Blob.Context(("Purpose", "test"), ("tenant", "acme"), ("empty", "")),
            Blob.Context(("purpose", "Test"), ("tenant", "acme"), ("empty", "")),
            Blob.Context(("purpose", "test"), ("tenant", "acme"), ("empty", " ")),
            Blob.Context(("purposetest", ""), ("tenant", "acme"), ("empty", "")),
        ];
        foreach (var candidate in wrong)
        {
            await KmsAssert.InvalidCiphertextAsync(() => _kms.DecryptBlobAsync(encrypted.CiphertextBlob, candidate));
        }
    }

    [Fact]
    public async Task Decrypt_with_a_context_of_a_ciphertext_made_without_one_returns_InvalidCiphertextException()
    {
        var key = await _kms.NewKeyAsync();
        var encrypted = await _kms.EncryptTextAsync(key.KeyId, "no context");

        await KmsAssert.InvalidCiphertextAsync(() => _kms.DecryptBlobAsync(encrypted.CiphertextBlob, Blob.Context(("a", "b"))));
        Assert.Equal("no context", Blob.Text((await _kms.DecryptBlobAsync(encrypted.CiphertextBlob, [])).Plaintext));
    }

    [Fact]
    public async Task A_tampered_ciphertext_returns_InvalidCiphertextException()
    {
        var key = await _kms.NewKeyAsync();
        var blob = (await _kms.EncryptTextAsync(key.KeyId, "integrity")).CiphertextBlob.ToArray();

        // Format byte, material version, IV, ciphertext and tag (the key id bytes decide which key is asked at all).
        foreach (var index in new[] { 0, 18, 21, 22, 33, 34, blob.Length - 17, blob.Length - 1 })
        {
            var tampered = (byte[])blob.Clone();
            tampered[index] ^= 0x01;
            await KmsAssert.InvalidCiphertextAsync(() => _kms.DecryptBlobAsync(Blob.Of(tampered)));
        }

        await KmsAssert.InvalidCiphertextAsync(() => _kms.DecryptBlobAsync(Blob.Of(blob[..^1])));
        await KmsAssert.InvalidCiphertextAsync(() => _kms.DecryptBlobAsync(Blob.Of([.. blob, 0x00])));
        Assert.Equal("integrity", Blob.Text((await _kms.DecryptBlobAsync(Blob.Of(blob))).Plaintext));
    }

    [Fact]
    public async Task Decrypting_garbage_returns_InvalidCiphertextException()
    {
        await KmsAssert.InvalidCiphertextAsync(() => _kms.DecryptBlobAsync(Blob.Of("this is not a ciphertext blob at all, just some text")));
        await KmsAssert.InvalidCiphertextAsync(() => _kms.DecryptBlobAsync(Blob.Of([0x01])));
        await KmsAssert.InvalidCiphertextAsync(() => _kms.DecryptBlobAsync(Blob.Of(new byte[200])));
    }

    [Fact]
    public async Task A_ciphertext_naming_a_key_that_does_not_exist_returns_AccessDeniedException()
    {
        var key = await _kms.NewKeyAsync();
        var blob = (await _kms.EncryptTextAsync(key.KeyId, "orphan")).CiphertextBlob.ToArray();
        blob[5] ^= 0xFF; // inside the key id

        await KmsAssert.ErrorAsync(() => _kms.DecryptBlobAsync(Blob.Of(blob)), "AccessDeniedException", KmsAssert.CiphertextKeyGoneMessage);
    }

    [Fact]
    public async Task Encrypt_accepts_4096_bytes_of_plaintext_and_rejects_4097()
    {
        var key = await _kms.NewKeyAsync();
        var largest = new byte[4096];
        Random.Shared.NextBytes(largest);

        var encrypted = await _kms.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = Blob.Of(largest) });
        Assert.Equal(largest, (await _kms.DecryptBlobAsync(encrypted.CiphertextBlob)).Plaintext.ToArray());

        await KmsAssert.ValidationAsync(
            () => _kms.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = Blob.Of(new byte[4097]) }),
            "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096");
    }

    [Fact]
    public async Task Encrypt_with_empty_plaintext_returns_ValidationException()
    {
        var key = await _kms.NewKeyAsync();

        await KmsAssert.ValidationAsync(
            () => _kms.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = Blob.Of([]) }),
            "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length greater than or equal to 1");
    }

    [Fact]
    public async Task Encrypt_with_an_unknown_EncryptionAlgorithm_returns_the_enum_ValidationException()
    {
        var key = await _kms.NewKeyAsync();

        var error = await KmsAssert.ErrorAsync(
            () => _kms.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = Blob.Of("x"), EncryptionAlgorithm = new EncryptionAlgorithmSpec("AES_GCM") }),
            "ValidationException");

        Assert.StartsWith(
            "1 validation error detected: Value 'AES_GCM' at 'encryptionAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [",
            error.Message);
        Assert.Contains("SYMMETRIC_DEFAULT", error.Message);
    }

    [Fact]
    public async Task Encrypt_with_DryRun_returns_DryRunOperationException()
    {
        var key = await _kms.NewKeyAsync();

        await KmsAssert.ErrorAsync<DryRunOperationException>(
            () => _kms.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = Blob.Of("dry"), DryRun = true }),
            KmsAssert.DryRunMessage);
    }

    [Fact]
    public async Task Decrypt_with_DryRun_returns_DryRunOperationException()
    {
        var key = await _kms.NewKeyAsync();
        var encrypted = await _kms.EncryptTextAsync(key.KeyId, "dry");

        await KmsAssert.ErrorAsync<DryRunOperationException>(
            () => _kms.DecryptAsync(new DecryptRequest { CiphertextBlob = Blob.Copy(encrypted.CiphertextBlob), DryRun = true }),
            KmsAssert.DryRunMessage);
    }

    [Fact]
    public async Task Decrypt_with_DryRun_validates_the_ciphertext_and_its_encryption_context()
    {
        var key = await _kms.NewKeyAsync();
        var encrypted = await _kms.EncryptTextAsync(key.KeyId, "dry", Blob.Context(("app", "billing")));
        var tampered = encrypted.CiphertextBlob.ToArray();
        tampered[^1] ^= 0x01;

        await KmsAssert.ErrorAsync<InvalidCiphertextException>(
            () => _kms.DecryptAsync(new DecryptRequest { CiphertextBlob = Blob.Of(tampered), EncryptionContext = Blob.Context(("app", "billing")), DryRun = true }));
        await KmsAssert.ErrorAsync<InvalidCiphertextException>(
            () => _kms.DecryptAsync(new DecryptRequest { CiphertextBlob = Blob.Copy(encrypted.CiphertextBlob), EncryptionContext = Blob.Context(("app", "other")), DryRun = true }));
        await KmsAssert.ErrorAsync<InvalidCiphertextException>(
            () => _kms.ReEncryptAsync(new ReEncryptRequest
            {
                CiphertextBlob = Blob.Of(tampered), SourceEncryptionContext = Blob.Context(("app", "billing")), DestinationKeyId = key.KeyId, DryRun = true,
            }));
        await KmsAssert.ErrorAsync<DryRunOperationException>(
            () => _kms.DecryptAsync(new DecryptRequest { CiphertextBlob = Blob.Copy(encrypted.CiphertextBlob), EncryptionContext = Blob.Context(("app", "billing")), DryRun = true }),
            KmsAssert.DryRunMessage);
        await KmsAssert.ErrorAsync<DryRunOperationException>(
            () => _kms.DecryptAsync(new DecryptRequest
            {
                KeyId = key.KeyId, CiphertextBlob = Blob.Of(tampered), DryRun = true, DryRunModifiers = [DryRunModifierType.IGNORE_CIPHERTEXT],
            }),
            KmsAssert.DryRunMessage);
    }

    [Fact]
    public async Task Encrypt_with_an_unknown_or_malformed_key_returns_NotFoundException()
    {
        var keyId = Guid.NewGuid().ToString();

        await KmsAssert.KeyDoesNotExistAsync(() => _kms.EncryptTextAsync(keyId, "x"), Accounts.KeyArn(keyId));
        await KmsAssert.InvalidKeyIdAsync(() => _kms.EncryptTextAsync("not-a-key", "x"), "not-a-key");
    }

    [Fact]
    public async Task ReEncrypt_moves_a_ciphertext_to_another_key_and_context()
    {
        var source = await _kms.NewKeyAsync();
        var destination = await _kms.NewKeyAsync();
        var sourceContext = Blob.Context(("stage", "source"));
        var destinationContext = Blob.Context(("stage", "destination"), ("extra", "1"));
        var encrypted = await _kms.EncryptTextAsync(source.KeyId, "moving", sourceContext);

        var reEncrypted = await _kms.ReEncryptAsync(new ReEncryptRequest
        {
            CiphertextBlob = Blob.Copy(encrypted.CiphertextBlob),
            SourceEncryptionContext = sourceContext,
            DestinationKeyId = destination.KeyId,
            DestinationEncryptionContext = destinationContext,
        });

        Assert.Equal(source.Arn, reEncrypted.SourceKeyId);
        Assert.Equal(destination.Arn, reEncrypted.KeyId);
        Assert.Equal(EncryptionAlgorithmSpec.SYMMETRIC_DEFAULT, reEncrypted.SourceEncryptionAlgorithm);
        Assert.Equal(EncryptionAlgorithmSpec.SYMMETRIC_DEFAULT, reEncrypted.DestinationEncryptionAlgorithm);
        var decrypted = await _kms.DecryptBlobAsync(reEncrypted.CiphertextBlob, destinationContext);
        Assert.Equal("moving", Blob.Text(decrypted.Plaintext));
        Assert.Equal(destination.Arn, decrypted.KeyId);
        await KmsAssert.InvalidCiphertextAsync(() => _kms.DecryptBlobAsync(reEncrypted.CiphertextBlob, sourceContext));
        await KmsAssert.ErrorAsync<IncorrectKeyException>(() => _kms.DecryptBlobAsync(reEncrypted.CiphertextBlob, destinationContext, source.KeyId));
    }

    [Fact]
    public async Task ReEncrypt_with_the_wrong_source_context_returns_InvalidCiphertextException()
    {
        var source = await _kms.NewKeyAsync();
        var destination = await _kms.NewKeyAsync();
        var encrypted = await _kms.EncryptTextAsync(source.KeyId, "moving", Blob.Context(("stage", "source")));

        await KmsAssert.InvalidCiphertextAsync(() => _kms.ReEncryptAsync(new ReEncryptRequest
        {
            CiphertextBlob = Blob.Copy(encrypted.CiphertextBlob),
            SourceEncryptionContext = Blob.Context(("stage", "other")),
            DestinationKeyId = destination.KeyId,
        }));
    }

    [Fact]
    public async Task A_multi_Region_key_encrypts_and_decrypts()
    {
        var key = await _kms.NewKeyAsync(multiRegion: true);

        var encrypted = await _kms.EncryptTextAsync(key.KeyId, "everywhere", Blob.Context(("k", "v")));
        var decrypted = await _kms.DecryptBlobAsync(encrypted.CiphertextBlob, Blob.Context(("k", "v")));

        Assert.Equal(key.Arn, encrypted.KeyId);
        Assert.StartsWith("arn:aws:kms:us-east-1:111122223333:key/mrk-", decrypted.KeyId, StringComparison.Ordinal);
        Assert.Equal("everywhere", Blob.Text(decrypted.Plaintext));
    }
}
