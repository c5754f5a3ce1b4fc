using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>CreateKey, DescribeKey, ListKeys, EnableKey, DisableKey, ScheduleKeyDeletion, CancelKeyDeletion, UpdateKeyDescription.</summary>
public sealed class KeyLifecycleTests(HostFixture fixture) : IClassFixture<HostFixture>
{
    private readonly AmazonKeyManagementServiceClient _kms = fixture.Kms;
    private readonly EmulatorHost _host = fixture.Host;

    [Fact]
    public async Task CreateKey_without_parameters_returns_the_metadata_AWS_returns_for_a_symmetric_key()
    {
        var now = _host.Clock.GetUtcNow();
        var response = await _kms.CreateKeyAsync(new CreateKeyRequest());
        var key = response.KeyMetadata;

        KmsAssert.IsUuid(key.KeyId);
        Assert.Equal(Accounts.Default, key.AWSAccountId);
        Assert.Equal(Accounts.KeyArn(key.KeyId), key.Arn);
        Assert.NotNull(key.CreationDate);
        Assert.InRange(new DateTimeOffset(key.CreationDate.Value.ToUniversalTime()), now.AddSeconds(-1), now.AddSeconds(1));
        Assert.Matches("^[0-9a-f]{64}$", key.CurrentKeyMaterialId);
#pragma warning disable CS0618 // AWS still returns the deprecated CustomerMasterKeySpec, and so must the emulator.
        Assert.Equal(CustomerMasterKeySpec.SYMMETRIC_DEFAULT, key.CustomerMasterKeySpec);
#pragma warning restore CS0618
        Assert.Equal(string.Empty, key.Description);
        Assert.True(key.Enabled);
        Assert.Equal(["SYMMETRIC_DEFAULT"], key.EncryptionAlgorithms);
        Assert.Equal(KeyManagerType.CUSTOMER, key.KeyManager);
        Assert.Equal(KeySpec.SYMMETRIC_DEFAULT, key.KeySpec);
        Assert.Equal(KeyState.Enabled, key.KeyState);
        Assert.Equal(KeyUsageType.ENCRYPT_DECRYPT, key.KeyUsage);
        Assert.False(key.MultiRegion);
        Assert.Null(key.MultiRegionConfiguration);
        Assert.Equal(OriginType.AWS_KMS, key.Origin);
        Assert.Null(key.DeletionDate);
        Assert.Null(key.SigningAlgorithms);
        Assert.Null(key.MacAlgorithms);
        KmsAssert.IsUuid(response.ResponseMetadata.RequestId);
    }

    [Fact]
    public async Task DescribeKey_returns_the_same_metadata_as_CreateKey()
    {
        var created = await _kms.NewKeyAsync("described key");

        var described = await _kms.DescribeAsync(created.KeyId);

        Assert.Equal("described key", described.Description);
        Assert.Equal(created.KeyId, described.KeyId);
        Assert.Equal(created.Arn, described.Arn);
        Assert.Equal(created.CreationDate, described.CreationDate);
        Assert.Equal(created.CurrentKeyMaterialId, described.CurrentKeyMaterialId);
        Assert.Equal(created.KeyState, described.KeyState);
        Assert.Equal(created.KeySpec, described.KeySpec);
        Assert.Equal(created.KeyUsage, described.KeyUsage);
        Assert.Equal(created.Origin, described.Origin);
        Assert.Equal(created.EncryptionAlgorithms, described.EncryptionAlgorithms);
    }

    [Fact]
    public async Task DescribeKey_accepts_key_id_key_ARN_alias_name_and_alias_ARN()
    {
        var key = await _kms.NewKeyAsync();
        var alias = await _kms.NewAliasAsync(key.KeyId);

        foreach (var identifier in new[] { key.KeyId, key.Arn, alias, Accounts.AliasArn(alias) })
        {
            var described = await _kms.DescribeAsync(identifier);
            Assert.Equal(key.KeyId, described.KeyId);
        }
    }

    [Fact]
    public async Task CreateKey_with_MultiRegion_true_creates_an_mrk_primary_key()
    {
        var key = await _kms.NewKeyAsync("multi-region", multiRegion: true);

        Assert.Matches("^mrk-[0-9a-f]{32}$", key.KeyId);
        Assert.True(key.MultiRegion);
        Assert.Equal(MultiRegionKeyType.PRIMARY, key.MultiRegionConfiguration.MultiRegionKeyType);
        Assert.Equal(key.Arn, key.MultiRegionConfiguration.PrimaryKey.Arn);
        Assert.Equal(Accounts.DefaultRegion, key.MultiRegionConfiguration.PrimaryKey.Region);
        Assert.Empty(key.MultiRegionConfiguration.ReplicaKeys ?? []);
        Assert.Equal(key.KeyId, (await _kms.DescribeAsync(key.Arn)).KeyId);
    }

    [Fact]
    public async Task CreateKey_with_an_unknown_KeyUsage_returns_the_enum_ValidationException()
    {
        var error = await KmsAssert.ErrorAsync(
            () => _kms.CreateKeyAsync(new CreateKeyRequest { KeyUsage = new KeyUsageType("RANDOM") }),
            "ValidationException");

        Assert.StartsWith(
            "1 validation error detected: Value 'RANDOM' at 'keyUsage' failed to satisfy constraint: Member must satisfy enum value set: [",
            error.Message);
        Assert.Contains("ENCRYPT_DECRYPT", error.Message);
        Assert.Contains("SIGN_VERIFY", error.Message);
    }

    [Fact]
    public async Task CreateKey_with_an_unknown_KeySpec_returns_the_enum_ValidationException()
    {
        var error = await KmsAssert.ErrorAsync(
            () => _kms.CreateKeyAsync(new CreateKeyRequest { KeySpec = new KeySpec("AES_256") }),
            "ValidationException");

        Assert.StartsWith(
            "1 validation error detected: Value 'AES_256' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [",
            error.Message);
        Assert.Contains("SYMMETRIC_DEFAULT", error.Message);
    }

    [Fact]
    public async Task ListKeys_lists_a_new_key_with_its_ARN()
    {
        var key = await _kms.NewKeyAsync();

        var keys = await _kms.AllKeysAsync();

        var entry = Assert.Single(keys, k => k.KeyId == key.KeyId);
        Assert.Equal(key.Arn, entry.KeyArn);
    }

    [Fact]
    public async Task DisableKey_and_EnableKey_switch_the_key_state()
    {
        var key = await _kms.NewKeyAsync();

        await _kms.DisableKeyAsync(new DisableKeyRequest { KeyId = key.KeyId });
        var disabled = await _kms.DescribeAsync(key.KeyId);
        await _kms.EnableKeyAsync(new EnableKeyRequest { KeyId = key.Arn });
        var enabled = await _kms.DescribeAsync(key.KeyId);

        Assert.Equal(KeyState.Disabled, disabled.KeyState);
        Assert.False(disabled.Enabled);
        Assert.Equal(KeyState.Enabled, enabled.KeyState);
        Assert.True(enabled.Enabled);
    }

    [Fact]
    public async Task UpdateKeyDescription_changes_the_description()
    {
        var key = await _kms.NewKeyAsync("before");

        await _kms.UpdateKeyDescriptionAsync(new UpdateKeyDescriptionRequest { KeyId = key.KeyId, Description = "after" });

        Assert.Equal("after", (await _kms.DescribeAsync(key.KeyId)).Description);
    }

    [Fact]
    public async Task ScheduleKeyDeletion_defaults_to_a_30_day_waiting_period()
    {
        var key = await _kms.NewKeyAsync();
        var now = _host.Clock.GetUtcNow();

        var response = await _kms.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = key.KeyId });
        var described = await _kms.DescribeAsync(key.KeyId);

        Assert.Equal(key.Arn, response.KeyId);
        Assert.Equal(KeyState.PendingDeletion, response.KeyState);
        Assert.Equal(30, response.PendingWindowInDays);
        Assert.NotNull(response.DeletionDate);
        Assert.InRange(new DateTimeOffset(response.DeletionDate.Value.ToUniversalTime()), now.AddDays(30).AddSeconds(-1), now.AddDays(30).AddSeconds(1));
        Assert.Equal(KeyState.PendingDeletion, described.KeyState);
        Assert.False(described.Enabled);
        Assert.Equal(response.DeletionDate, described.DeletionDate);
        // AWS shows PendingDeletionWindowInDays only for PendingReplicaDeletion (multi-Region primaries with replicas).
        Assert.Null(described.PendingDeletionWindowInDays);
    }

    [Theory]
    [InlineData(7)]
    [InlineData(30)]
    public async Task ScheduleKeyDeletion_accepts_waiting_periods_from_7_to_30_days(int days)
    {
        var key = await _kms.NewKeyAsync();
        var now = _host.Clock.GetUtcNow();

        var response = await _kms.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = key.Arn, PendingWindowInDays = days });

        Assert.Equal(days, response.PendingWindowInDays);
        Assert.InRange(new DateTimeOffset(response.DeletionDate!.Value.ToUniversalTime()), now.AddDays(days).AddSeconds(-1), now.AddDays(days).AddSeconds(1));
    }

    [Theory]
    [InlineData(6)]
    [InlineData(31)]
    public async Task ScheduleKeyDeletion_rejects_waiting_periods_outside_7_to_30_days(int days)
    {
        var key = await _kms.NewKeyAsync();

        await KmsAssert.ValidationAsync(
            () => _kms.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = key.KeyId, PendingWindowInDays = days }),
            "PendingWindowInDays must be between 7 and 30");
        Assert.Equal(KeyState.Enabled, (await _kms.DescribeAsync(key.KeyId)).KeyState);
    }

    [Fact]
    public async Task ScheduleKeyDeletion_of_a_key_pending_deletion_returns_KMSInvalidStateException()
    {
        var key = await _kms.NewKeyAsync();
        await _kms.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = key.KeyId });

        await KmsAssert.PendingDeletionAsync(() => _kms.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = key.KeyId }), key.Arn);
    }

    [Fact]
    public async Task CancelKeyDeletion_returns_the_key_to_Disabled()
    {
        var key = await _kms.NewKeyAsync();
        await _kms.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = key.KeyId, PendingWindowInDays = 7 });

        var response = await _kms.CancelKeyDeletionAsync(new CancelKeyDeletionRequest { KeyId = key.KeyId });
        var described = await _kms.DescribeAsync(key.KeyId);

        Assert.Equal(key.Arn, response.KeyId);
        Assert.Equal(KeyState.Disabled, described.KeyState);
        Assert.False(described.Enabled);
        Assert.Null(described.DeletionDate);
    }

    [Fact]
    public async Task CancelKeyDeletion_of_a_key_not_pending_deletion_returns_KMSInvalidStateException()
    {
        var key = await _kms.NewKeyAsync();

        await KmsAssert.ErrorAsync<KMSInvalidStateException>(
            () => _kms.CancelKeyDeletionAsync(new CancelKeyDeletionRequest { KeyId = key.KeyId }),
            $"{key.Arn} is not pending deletion.");
    }

    [Fact]
    public async Task A_key_is_deleted_when_the_clock_passes_its_deletion_date()
    {
        var key = await _kms.NewKeyAsync();
        var alias = await _kms.NewAliasAsync(key.KeyId);
        var ciphertext = (await _kms.EncryptTextAsync(key.KeyId, "doomed")).CiphertextBlob;
        await _kms.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = key.KeyId, PendingWindowInDays = 7 });

        _host.Clock.Advance(TimeSpan.FromDays(7) - TimeSpan.FromMinutes(1));
        Assert.Equal(KeyState.PendingDeletion, (await _kms.DescribeAsync(key.KeyId)).KeyState);

        _host.Clock.Advance(TimeSpan.FromMinutes(2));

        await KmsAssert.KeyDoesNotExistAsync(() => _kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = key.KeyId }), key.Arn);
        await KmsAssert.AliasNotFoundAsync(() => _kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = alias }), Accounts.AliasArn(alias));
        Assert.DoesNotContain(await _kms.AllKeysAsync(), k => k.KeyId == key.KeyId);
        Assert.DoesNotContain(await _kms.AllAliasesAsync(), a => a.AliasName == alias);
        await KmsAssert.ErrorAsync(() => _kms.DecryptBlobAsync(ciphertext), "AccessDeniedException", KmsAssert.CiphertextKeyGoneMessage);
        await KmsAssert.KeyDoesNotExistAsync(() => _kms.CancelKeyDeletionAsync(new CancelKeyDeletionRequest { KeyId = key.KeyId }), key.Arn);

        // The alias name is free again.
        var successor = await _kms.NewKeyAsync();
        await _kms.NewAliasAsync(successor.KeyId, alias);
        Assert.Equal(successor.KeyId, (await _kms.DescribeAsync(alias)).KeyId);
    }

    [Fact]
    public async Task DescribeKey_of_an_unknown_key_id_returns_NotFoundException_with_the_key_ARN()
    {
        var keyId = Guid.NewGuid().ToString();
        const string mrkId = "mrk-0123456789abcdef0123456789abcdef";

        await KmsAssert.KeyDoesNotExistAsync(() => _kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = keyId }), Accounts.KeyArn(keyId));
        await KmsAssert.KeyDoesNotExistAsync(() => _kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = Accounts.KeyArn(keyId) }), Accounts.KeyArn(keyId));
        await KmsAssert.KeyDoesNotExistAsync(() => _kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = mrkId }), Accounts.KeyArn(mrkId));
    }

    [Theory]
    [InlineData("fake-key-id")]
    [InlineData("134f2428cec14b25a1ae9048164dba47")]
    [InlineData("mrk-fake-key-id")]
    public async Task DescribeKey_of_a_malformed_key_id_returns_NotFoundException_Invalid_keyId(string keyId)
    {
        await KmsAssert.InvalidKeyIdAsync(() => _kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = keyId }), keyId);
    }

    [Fact]
    public async Task DescribeKey_with_an_empty_KeyId_returns_the_length_ValidationException()
    {
        await KmsAssert.ValidationAsync(
            () => _kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = string.Empty }),
            "1 validation error detected: Value '' at 'keyId' failed to satisfy constraint: Member must have length greater than or equal to 1");
    }

    [Fact]
    public async Task EnableKey_of_an_unknown_key_returns_NotFoundException()
    {
        var keyId = Guid.NewGuid().ToString();

        await KmsAssert.KeyDoesNotExistAsync(() => _kms.EnableKeyAsync(new EnableKeyRequest { KeyId = keyId }), Accounts.KeyArn(keyId));
    }
}
