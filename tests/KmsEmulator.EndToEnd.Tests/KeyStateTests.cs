using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>What disabled keys and keys pending deletion may and may not do.</summary>
public sealed class KeyStateTests(HostFixture fixture) : IClassFixture<HostFixture>
{
    private readonly AmazonKeyManagementServiceClient _kms = fixture.Kms;

    private async Task<(KeyMetadata Key, MemoryStream Ciphertext)> KeyWithCiphertextAsync()
    {
        var key = await _kms.NewKeyAsync();
        var ciphertext = (await _kms.EncryptTextAsync(key.KeyId, "stateful")).CiphertextBlob;
        return (key, ciphertext);
    }

    [Fact]
    public async Task Encrypt_with_a_disabled_key_returns_DisabledException()
    {
        var (key, _) = await KeyWithCiphertextAsync();
        await _kms.DisableKeyAsync(new DisableKeyRequest { KeyId = key.KeyId });

        await KmsAssert.DisabledAsync(() => _kms.EncryptTextAsync(key.KeyId, "x"), key.Arn);
    }

    [Fact]
    public async Task Decrypt_with_a_disabled_key_returns_DisabledException()
    {
        var (key, ciphertext) = await KeyWithCiphertextAsync();
        await _kms.DisableKeyAsync(new DisableKeyRequest { KeyId = key.KeyId });

        await KmsAssert.DisabledAsync(() => _kms.DecryptBlobAsync(ciphertext), key.Arn);
        await KmsAssert.DisabledAsync(() => _kms.DecryptBlobAsync(ciphertext, keyId: key.KeyId), key.Arn);
    }

    [Fact]
    public async Task GenerateDataKey_with_a_disabled_key_returns_DisabledException()
    {
        var (key, _) = await KeyWithCiphertextAsync();
        await _kms.DisableKeyAsync(new DisableKeyRequest { KeyId = key.KeyId });

        await KmsAssert.DisabledAsync(() => _kms.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = key.KeyId, KeySpec = DataKeySpec.AES_256 }), key.Arn);
        await KmsAssert.DisabledAsync(
            () => _kms.GenerateDataKeyWithoutPlaintextAsync(new GenerateDataKeyWithoutPlaintextRequest { KeyId = key.KeyId, KeySpec = DataKeySpec.AES_256 }),
            key.Arn);
    }

    [Fact]
    public async Task ReEncrypt_from_or_to_a_disabled_key_returns_DisabledException()
    {
        var (key, ciphertext) = await KeyWithCiphertextAsync();
        var (other, otherCiphertext) = await KeyWithCiphertextAsync();
        await _kms.DisableKeyAsync(new DisableKeyRequest { KeyId = key.KeyId });

        await KmsAssert.DisabledAsync(
            () => _kms.ReEncryptAsync(new ReEncryptRequest { CiphertextBlob = Blob.Copy(ciphertext), DestinationKeyId = other.KeyId }),
            key.Arn);
        await KmsAssert.DisabledAsync(
            () => _kms.ReEncryptAsync(new ReEncryptRequest { CiphertextBlob = Blob.Copy(otherCiphertext), DestinationKeyId = key.KeyId }),
            key.Arn);
    }

    [Fact]
    public async Task A_disabled_key_can_still_be_described_tagged_and_aliased()
    {
        var (key, _) = await KeyWithCiphertextAsync();
        await _kms.DisableKeyAsync(new DisableKeyRequest { KeyId = key.KeyId });

        await _kms.TagResourceAsync(new TagResourceRequest { KeyId = key.KeyId, Tags = [new Tag { TagKey = "state", TagValue = "disabled" }] });
        await _kms.UpdateKeyDescriptionAsync(new UpdateKeyDescriptionRequest { KeyId = key.KeyId, Description = "disabled key" });
        var alias = await _kms.NewAliasAsync(key.KeyId);

        var described = await _kms.DescribeAsync(alias);
        Assert.Equal(KeyState.Disabled, described.KeyState);
        Assert.Equal("disabled key", described.Description);
        Assert.Equal("disabled", Assert.Single(await _kms.TagsAsync(key.KeyId)).TagValue);
    }

    [Fact]
    public async Task Cryptographic_operations_with_a_key_pending_deletion_return_KMSInvalidStateException()
    {
        var (key, ciphertext) = await KeyWithCiphertextAsync();
        var other = await _kms.NewKeyAsync();
        await _kms.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = key.KeyId });

        await KmsAssert.PendingDeletionAsync(() => _kms.EncryptTextAsync(key.KeyId, "x"), key.Arn);
        await KmsAssert.PendingDeletionAsync(() => _kms.DecryptBlobAsync(ciphertext), key.Arn);
        await KmsAssert.PendingDeletionAsync(() => _kms.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = key.KeyId, NumberOfBytes = 32 }), key.Arn);
        await KmsAssert.PendingDeletionAsync(
            () => _kms.GenerateDataKeyWithoutPlaintextAsync(new GenerateDataKeyWithoutPlaintextRequest { KeyId = key.KeyId, NumberOfBytes = 32 }),
            key.Arn);
        await KmsAssert.PendingDeletionAsync(
            () => _kms.ReEncryptAsync(new ReEncryptRequest { CiphertextBlob = Blob.Copy(ciphertext), DestinationKeyId = other.KeyId }),
            key.Arn);
    }

    [Fact]
    public async Task Management_operations_on_a_key_pending_deletion_return_KMSInvalidStateException()
    {
        var (key, _) = await KeyWithCiphertextAsync();
        await _kms.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = key.KeyId });

        await KmsAssert.PendingDeletionAsync(() => _kms.EnableKeyAsync(new EnableKeyRequest { KeyId = key.KeyId }), key.Arn);
        await KmsAssert.PendingDeletionAsync(() => _kms.DisableKeyAsync(new DisableKeyRequest { KeyId = key.KeyId }), key.Arn);
        await KmsAssert.PendingDeletionAsync(
            () => _kms.TagResourceAsync(new TagResourceRequest { KeyId = key.KeyId, Tags = [new Tag { TagKey = "k", TagValue = "v" }] }),
            key.Arn);
        await KmsAssert.PendingDeletionAsync(() => _kms.UntagResourceAsync(new UntagResourceRequest { KeyId = key.KeyId, TagKeys = ["k"] }), key.Arn);
        await KmsAssert.PendingDeletionAsync(
            () => _kms.UpdateKeyDescriptionAsync(new UpdateKeyDescriptionRequest { KeyId = key.KeyId, Description = "x" }),
            key.Arn);
        await KmsAssert.PendingDeletionAsync(() => _kms.NewAliasAsync(key.KeyId), key.Arn);

        // Reading stays possible while the key waits for deletion, and so does PutKeyPolicy (allowed in every state).
        Assert.Equal(KeyState.PendingDeletion, (await _kms.DescribeAsync(key.KeyId)).KeyState);
        var policy = """{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}""";
        await _kms.PutKeyPolicyAsync(new PutKeyPolicyRequest { KeyId = key.KeyId, PolicyName = "default", Policy = policy });
        Assert.Equal(policy, (await _kms.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = key.KeyId, PolicyName = "default" })).Policy);
        Assert.Empty(await _kms.TagsAsync(key.KeyId));
        Assert.Equal(["default"], (await _kms.ListKeyPoliciesAsync(new ListKeyPoliciesRequest { KeyId = key.KeyId })).PolicyNames);
    }

    [Fact]
    public async Task After_CancelKeyDeletion_and_EnableKey_the_key_works_again()
    {
        var (key, ciphertext) = await KeyWithCiphertextAsync();
        await _kms.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = key.KeyId });

        await _kms.CancelKeyDeletionAsync(new CancelKeyDeletionRequest { KeyId = key.Arn });
        await KmsAssert.DisabledAsync(() => _kms.DecryptBlobAsync(ciphertext), key.Arn);
        await _kms.EnableKeyAsync(new EnableKeyRequest { KeyId = key.KeyId });

        Assert.Equal("stateful", Blob.Text((await _kms.DecryptBlobAsync(ciphertext)).Plaintext));
        var fresh = await _kms.EncryptTextAsync(key.KeyId, "again");
        Assert.Equal("again", Blob.Text((await _kms.DecryptBlobAsync(fresh.CiphertextBlob)).Plaintext));
    }

    [Fact]
    public async Task UpdateAlias_may_move_an_alias_away_from_a_key_pending_deletion_but_not_onto_one()
    {
        var doomed = await _kms.NewKeyAsync();
        var healthy = await _kms.NewKeyAsync();
        var alias = await _kms.NewAliasAsync(doomed.KeyId);
        await _kms.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = doomed.KeyId });

        await _kms.UpdateAliasAsync(new UpdateAliasRequest { AliasName = alias, TargetKeyId = healthy.KeyId });
        Assert.Equal(healthy.KeyId, (await _kms.DescribeAsync(alias)).KeyId);

        await KmsAssert.PendingDeletionAsync(() => _kms.UpdateAliasAsync(new UpdateAliasRequest { AliasName = alias, TargetKeyId = doomed.KeyId }), doomed.Arn);
    }
}
