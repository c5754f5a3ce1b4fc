using System.Security.Cryptography;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using KmsEmulator.Api.Hosting;
using KmsEmulator.Api.Keys;
using KmsEmulator.Hsm;
using Microsoft.Extensions.DependencyInjection;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>
/// Multi-Region keys through the official SDK, with one client per region: ReplicateKey (material copied inside the
/// HSM), ciphertexts, MACs and signatures that work across regions, shared rotation, UpdatePrimaryRegion, the transient
/// states Creating and Updating (ended by the lifecycle sweep, run here by moving the emulator's clock), the deletion
/// rules of primary keys with replicas, AWS's errors, and a restart in the middle.
/// </summary>
public sealed class MultiRegionKeyTests : IAsyncLifetime
{
    private const string East = "us-east-1";
    private const string West = "eu-west-1";
    private const string Sydney = "ap-southeast-2";

    private EmulatorHost _host = null!;
    private AmazonKeyManagementServiceClient _east = null!;
    private AmazonKeyManagementServiceClient _west = null!;
    private AmazonKeyManagementServiceClient _sydney = null!;

    public async Task InitializeAsync()
    {
        _host = await EmulatorHost.StartNewAsync();
        CreateClients();
    }

    public async Task DisposeAsync()
    {
        DisposeClients();
        await _host.DisposeAsync();
    }

    private EmulatorClock Clock => _host.Services.GetRequiredService<EmulatorClock>();

    [Fact]
    public async Task A_replica_has_the_primarys_key_id_and_material_so_ciphertexts_of_one_region_decrypt_in_the_other()
    {
        var primary = await NewMultiRegionKeyAsync(new CreateKeyRequest { MultiRegion = true, Description = "primary" });

        var replicated = await _east.ReplicateKeyAsync(new ReplicateKeyRequest
        {
            KeyId = primary.Arn,
            ReplicaRegion = West,
            Description = "replica",
            Tags = [new Tag { TagKey = "team", TagValue = "payments" }],
        });

        var replica = replicated.ReplicaKeyMetadata;
        var replicaArn = Accounts.KeyArn(primary.KeyId, region: West);
        Assert.Equal(primary.KeyId, replica.KeyId);
        Assert.Equal(replicaArn, replica.Arn);
        Assert.Equal(KeyState.Creating, replica.KeyState);
        Assert.False(replica.Enabled);
        Assert.Equal("replica", replica.Description);
        Assert.Equal(primary.KeySpec, replica.KeySpec);
        Assert.Equal(primary.KeyUsage, replica.KeyUsage);
        Assert.Equal(primary.Origin, replica.Origin);
        Assert.True(replica.MultiRegion);
        Assert.Equal(MultiRegionKeyType.REPLICA, replica.MultiRegionConfiguration.MultiRegionKeyType);
        Assert.Equal(primary.Arn, replica.MultiRegionConfiguration.PrimaryKey.Arn);
        Assert.Equal(East, replica.MultiRegionConfiguration.PrimaryKey.Region);
        Assert.Equal([(replicaArn, West)], replica.MultiRegionConfiguration.ReplicaKeys.Select(r => (r.Arn, r.Region)));
        Assert.Contains(Accounts.RootArn(), replicated.ReplicaPolicy);
        Assert.Equal([("team", "payments")], replicated.ReplicaTags.Select(t => (t.TagKey, t.TagValue)));

        // Creating: manageable, not yet usable (AWS: retry on KMSInvalidStateException or wait for Enabled).
        await KmsAssert.ErrorAsync<KMSInvalidStateException>(() => _west.EncryptTextAsync(primary.KeyId, "early"), $"{replicaArn} is creating.");
        Assert.Equal("replica", (await _west.DescribeAsync(primary.KeyId)).Description);
        await Clock.AdvanceAsync(TimeSpan.Zero);
        var settled = await _west.DescribeAsync(primary.KeyId);
        Assert.Equal(KeyState.Enabled, settled.KeyState);
        Assert.Equal((await _east.DescribeAsync(primary.KeyId)).CurrentKeyMaterialId, settled.CurrentKeyMaterialId);

        // The primary lists its replica; its own properties are its own.
        var primaryNow = await _east.DescribeAsync(primary.KeyId);
        Assert.Equal(MultiRegionKeyType.PRIMARY, primaryNow.MultiRegionConfiguration.MultiRegionKeyType);
        Assert.Equal([(replicaArn, West)], primaryNow.MultiRegionConfiguration.ReplicaKeys.Select(r => (r.Arn, r.Region)));
        Assert.Equal("primary", primaryNow.Description);
        Assert.Empty(await _east.TagsAsync(primary.KeyId));

        var context = Blob.Context(("purpose", "cross-region"));
        var fromEast = await _east.EncryptTextAsync(primary.KeyId, "made in us-east-1", context);
        Assert.Equal("made in us-east-1", Blob.Text((await _west.DecryptBlobAsync(fromEast.CiphertextBlob, context)).Plaintext));
        var decrypted = await _west.DecryptBlobAsync(fromEast.CiphertextBlob, context, keyId: replicaArn);
        Assert.Equal(replicaArn, decrypted.KeyId);
        var fromWest = await _west.EncryptTextAsync(primary.KeyId, "made in eu-west-1");
        Assert.Equal("made in eu-west-1", Blob.Text((await _east.DecryptBlobAsync(fromWest.CiphertextBlob)).Plaintext));
        var dataKey = await _east.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = primary.KeyId, KeySpec = DataKeySpec.AES_256 });
        Assert.Equal(dataKey.Plaintext.ToArray(), (await _west.DecryptBlobAsync(dataKey.CiphertextBlob)).Plaintext.ToArray());

        // A single-Region key of the same region cannot be named for a multi-Region ciphertext.
        var single = await _west.NewKeyAsync();
        await KmsAssert.ErrorAsync<IncorrectKeyException>(() => _west.DecryptBlobAsync(fromEast.CiphertextBlob, context, keyId: single.KeyId));

        // The trail records ReplicateKey in the primary's Region as AWS does: the request and the replica's metadata.
        var record = (await _host.FlushAndReadAsync()).ByRequestId(replicated.ResponseMetadata.RequestId);
        Assert.Equal("ReplicateKey", (string?)record["eventName"]);
        Assert.Equal(East, (string?)record["awsRegion"]);
        Assert.False((bool)record["readOnly"]!);
        var parameters = record["requestParameters"]!;
        Assert.Equal(primary.Arn, (string?)parameters["keyId"]);
        Assert.Equal(West, (string?)parameters["replicaRegion"]);
        Assert.Equal("replica", (string?)parameters["description"]);
        Assert.False((bool)parameters["bypassPolicyLockoutSafetyCheck"]!);
        var metadata = record["responseElements"]!["replicaKeyMetadata"]!;
        Assert.Equal(replicaArn, (string?)metadata["arn"]);
        Assert.Equal("Creating", (string?)metadata["keyState"]);
        Assert.Equal("REPLICA", (string?)metadata["multiRegionConfiguration"]!["multiRegionKeyType"]);
        Assert.Equal(primary.Arn, (string?)Assert.Single(record["resources"]!.AsArray())!["ARN"]);
    }

    [Fact]
    public async Task A_rotation_of_the_primary_gives_every_replica_the_new_material_and_old_and_new_ciphertexts_decrypt_everywhere()
    {
        var primary = await NewMultiRegionKeyAsync(new CreateKeyRequest { MultiRegion = true });
        await ReplicateAndSettleAsync(primary, West);
        var before = await _east.EncryptTextAsync(primary.KeyId, "before");

        await _east.RotateKeyOnDemandAsync(new RotateKeyOnDemandRequest { KeyId = primary.KeyId });
        var eastMaterial = (await _east.DescribeAsync(primary.KeyId)).CurrentKeyMaterialId;
        Assert.Equal(eastMaterial, (await _west.DescribeAsync(primary.KeyId)).CurrentKeyMaterialId);
        var afterEast = await _east.EncryptTextAsync(primary.KeyId, "after, east");
        var afterWest = await _west.EncryptTextAsync(primary.KeyId, "after, west");
        foreach (var client in new[] { _east, _west })
        {
            Assert.Equal("before", Blob.Text((await client.DecryptBlobAsync(before.CiphertextBlob)).Plaintext));
            Assert.Equal("after, east", Blob.Text((await client.DecryptBlobAsync(afterEast.CiphertextBlob)).Plaintext));
            Assert.Equal("after, west", Blob.Text((await client.DecryptBlobAsync(afterWest.CiphertextBlob)).Plaintext));
        }

        Assert.Equal(
            (await _east.ListKeyRotationsAsync(new ListKeyRotationsRequest { KeyId = primary.KeyId })).Rotations.Select(r => r.KeyMaterialId),
            (await _west.ListKeyRotationsAsync(new ListKeyRotationsRequest { KeyId = primary.KeyId })).Rotations.Select(r => r.KeyMaterialId));

        // Rotation is managed on the primary; the replica shows the shared settings.
        var replicaArn = Accounts.KeyArn(primary.KeyId, region: West);
        var notPrimary = $"{replicaArn} is not a multi-region primary key.";
        await KmsAssert.ErrorAsync<UnsupportedOperationException>(() => _west.RotateKeyOnDemandAsync(new RotateKeyOnDemandRequest { KeyId = primary.KeyId }), notPrimary);
        await KmsAssert.ErrorAsync<UnsupportedOperationException>(() => _west.EnableKeyRotationAsync(new EnableKeyRotationRequest { KeyId = primary.KeyId }), notPrimary);
        await KmsAssert.ErrorAsync<UnsupportedOperationException>(() => _west.DisableKeyRotationAsync(new DisableKeyRotationRequest { KeyId = primary.KeyId }), notPrimary);
        await _east.EnableKeyRotationAsync(new EnableKeyRotationRequest { KeyId = primary.KeyId, RotationPeriodInDays = 90 });
        var status = await _west.GetKeyRotationStatusAsync(new GetKeyRotationStatusRequest { KeyId = primary.KeyId });
        Assert.True(status.KeyRotationEnabled);
        Assert.Equal(90, status.RotationPeriodInDays);

        // Automatic rotation happens at the primary and reaches the replica.
        await Clock.AdvanceAsync(TimeSpan.FromDays(91));
        var rotations = (await _west.ListKeyRotationsAsync(new ListKeyRotationsRequest { KeyId = primary.KeyId })).Rotations;
        Assert.Equal([RotationType.ON_DEMAND, RotationType.AUTOMATIC], rotations.Select(r => r.RotationType));
        Assert.Equal((await _east.DescribeAsync(primary.KeyId)).CurrentKeyMaterialId, (await _west.DescribeAsync(primary.KeyId)).CurrentKeyMaterialId);
        var automatic = await _west.EncryptTextAsync(primary.KeyId, "after automatic rotation");
        Assert.Equal("after automatic rotation", Blob.Text((await _east.DecryptBlobAsync(automatic.CiphertextBlob)).Plaintext));
        Assert.Equal("before", Blob.Text((await _west.DecryptBlobAsync(before.CiphertextBlob)).Plaintext));

        await _east.DisableKeyRotationAsync(new DisableKeyRotationRequest { KeyId = primary.KeyId });
        Assert.False((await _west.GetKeyRotationStatusAsync(new GetKeyRotationStatusRequest { KeyId = primary.KeyId })).KeyRotationEnabled);
    }

    [Fact]
    public async Task HMAC_and_asymmetric_replicas_share_their_material_so_MACs_and_signatures_verify_in_the_other_region()
    {
        var hmac = await NewMultiRegionKeyAsync(new CreateKeyRequest { MultiRegion = true, KeySpec = KeySpec.HMAC_384, KeyUsage = KeyUsageType.GENERATE_VERIFY_MAC });
        await ReplicateAndSettleAsync(hmac, West);
        var message = RandomNumberGenerator.GetBytes(64);
        var mac = await _east.GenerateMacAsync(new GenerateMacRequest { KeyId = hmac.KeyId, MacAlgorithm = MacAlgorithmSpec.HMAC_SHA_384, Message = Blob.Of(message) });
        var verified = await _west.VerifyMacAsync(new VerifyMacRequest { KeyId = hmac.KeyId, MacAlgorithm = MacAlgorithmSpec.HMAC_SHA_384, Message = Blob.Of(message), Mac = Blob.Copy(mac.Mac) });
        Assert.True(verified.MacValid);
        Assert.Equal(mac.Mac.ToArray(), (await _west.GenerateMacAsync(new GenerateMacRequest { KeyId = hmac.KeyId, MacAlgorithm = MacAlgorithmSpec.HMAC_SHA_384, Message = Blob.Of(message) })).Mac.ToArray());

        var signing = await NewMultiRegionKeyAsync(new CreateKeyRequest { MultiRegion = true, KeySpec = KeySpec.ECC_NIST_P256, KeyUsage = KeyUsageType.SIGN_VERIFY });
        await ReplicateAndSettleAsync(signing, Sydney);
        var signature = await _east.SignAsync(new SignRequest { KeyId = signing.KeyId, Message = Blob.Of(message), SigningAlgorithm = SigningAlgorithmSpec.ECDSA_SHA_256 });
        var valid = await _sydney.VerifyAsync(new VerifyRequest { KeyId = signing.KeyId, Message = Blob.Of(message), Signature = Blob.Copy(signature.Signature), SigningAlgorithm = SigningAlgorithmSpec.ECDSA_SHA_256 });
        Assert.True(valid.SignatureValid);
        Assert.Equal(
            (await _east.GetPublicKeyAsync(new GetPublicKeyRequest { KeyId = signing.KeyId })).PublicKey.ToArray(),
            (await _sydney.GetPublicKeyAsync(new GetPublicKeyRequest { KeyId = signing.KeyId })).PublicKey.ToArray());

        var rsa = await NewMultiRegionKeyAsync(new CreateKeyRequest { MultiRegion = true, KeySpec = KeySpec.RSA_2048, KeyUsage = KeyUsageType.ENCRYPT_DECRYPT });
        await ReplicateAndSettleAsync(rsa, West);
        var rsaCiphertext = await _west.EncryptAsync(new EncryptRequest { KeyId = rsa.KeyId, Plaintext = Blob.Of("rsa"), EncryptionAlgorithm = EncryptionAlgorithmSpec.RSAES_OAEP_SHA_256 });
        var rsaPlain = await _east.DecryptAsync(new DecryptRequest { KeyId = rsa.KeyId, CiphertextBlob = Blob.Copy(rsaCiphertext.CiphertextBlob), EncryptionAlgorithm = EncryptionAlgorithmSpec.RSAES_OAEP_SHA_256 });
        Assert.Equal("rsa", Blob.Text(rsaPlain.Plaintext));
    }

    [Fact]
    public async Task UpdatePrimaryRegion_swaps_primary_and_replica_which_are_Updating_until_the_next_sweep()
    {
        var key = await NewMultiRegionKeyAsync(new CreateKeyRequest { MultiRegion = true });
        await ReplicateAndSettleAsync(key, West);
        await ReplicateAndSettleAsync(key, Sydney);
        var eastArn = key.Arn;
        var westArn = Accounts.KeyArn(key.KeyId, region: West);
        var sydneyArn = Accounts.KeyArn(key.KeyId, region: Sydney);
        await _east.DisableKeyAsync(new DisableKeyRequest { KeyId = key.KeyId });
        await _east.EnableKeyAsync(new EnableKeyRequest { KeyId = key.KeyId });

        await _east.UpdatePrimaryRegionAsync(new UpdatePrimaryRegionRequest { KeyId = key.KeyId, PrimaryRegion = West });

        var oldPrimary = await _east.DescribeAsync(key.KeyId);
        var newPrimary = await _west.DescribeAsync(key.KeyId);
        Assert.Equal(KeyState.Updating, oldPrimary.KeyState);
        Assert.Equal(KeyState.Updating, newPrimary.KeyState);
        Assert.Equal(KeyState.Enabled, (await _sydney.DescribeAsync(key.KeyId)).KeyState);
        foreach (var described in new[] { oldPrimary, newPrimary, await _sydney.DescribeAsync(key.KeyId) })
        {
            Assert.Equal(westArn, described.MultiRegionConfiguration.PrimaryKey.Arn);
            Assert.Equal(West, described.MultiRegionConfiguration.PrimaryKey.Region);
            Assert.Equal([sydneyArn, eastArn], described.MultiRegionConfiguration.ReplicaKeys.Select(r => r.Arn).Order(StringComparer.Ordinal));
        }

        Assert.Equal(MultiRegionKeyType.REPLICA, oldPrimary.MultiRegionConfiguration.MultiRegionKeyType);
        Assert.Equal(MultiRegionKeyType.PRIMARY, newPrimary.MultiRegionConfiguration.MultiRegionKeyType);

        // Updating keys work in cryptographic operations but refuse management that the key-state table forbids.
        var ciphertext = await _west.EncryptTextAsync(key.KeyId, "while updating");
        Assert.Equal("while updating", Blob.Text((await _east.DecryptBlobAsync(ciphertext.CiphertextBlob)).Plaintext));
        await KmsAssert.ErrorAsync<KMSInvalidStateException>(() => _west.DisableKeyAsync(new DisableKeyRequest { KeyId = key.KeyId }), $"{westArn} is updating.");
        await KmsAssert.ErrorAsync<KMSInvalidStateException>(() => _west.ReplicateKeyAsync(new ReplicateKeyRequest { KeyId = key.KeyId, ReplicaRegion = "eu-central-1" }), $"{westArn} is updating.");
        await KmsAssert.ErrorAsync<KMSInvalidStateException>(() => _east.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = key.KeyId, PendingWindowInDays = 7 }), $"{eastArn} is updating.");

        await Clock.AdvanceAsync(TimeSpan.Zero);
        Assert.Equal(KeyState.Enabled, (await _east.DescribeAsync(key.KeyId)).KeyState);
        Assert.Equal(KeyState.Enabled, (await _west.DescribeAsync(key.KeyId)).KeyState);

        // Only the new primary replicates and rotates now, and its rotation reaches the old primary.
        await KmsAssert.ErrorAsync<UnsupportedOperationException>(
            () => _east.ReplicateKeyAsync(new ReplicateKeyRequest { KeyId = key.KeyId, ReplicaRegion = "eu-central-1" }), $"{eastArn} is not a multi-region primary key.");
        await KmsAssert.ErrorAsync<UnsupportedOperationException>(() => _east.RotateKeyOnDemandAsync(new RotateKeyOnDemandRequest { KeyId = key.KeyId }));
        await _west.RotateKeyOnDemandAsync(new RotateKeyOnDemandRequest { KeyId = key.KeyId });
        var rotated = await _east.EncryptTextAsync(key.KeyId, "rotated at the new primary");
        Assert.Equal((await _west.DescribeAsync(key.KeyId)).CurrentKeyMaterialId, (await _east.DescribeAsync(key.KeyId)).CurrentKeyMaterialId);
        Assert.Equal("rotated at the new primary", Blob.Text((await _sydney.DecryptBlobAsync(rotated.CiphertextBlob)).Plaintext));
        var replicated = await _west.ReplicateKeyAsync(new ReplicateKeyRequest { KeyId = key.KeyId, ReplicaRegion = "eu-central-1" });
        Assert.Equal(westArn, replicated.ReplicaKeyMetadata.MultiRegionConfiguration.PrimaryKey.Arn);

        // A disabled key keeps its state through an update.
        await _west.DisableKeyAsync(new DisableKeyRequest { KeyId = key.KeyId });
        await KmsAssert.DisabledAsync(() => _west.UpdatePrimaryRegionAsync(new UpdatePrimaryRegionRequest { KeyId = key.KeyId, PrimaryRegion = East }), westArn);
    }

    [Fact]
    public async Task A_primary_with_replicas_waits_in_PendingReplicaDeletion_until_they_are_deleted_then_counts_its_own_window()
    {
        var key = await NewMultiRegionKeyAsync(new CreateKeyRequest { MultiRegion = true });
        await ReplicateAndSettleAsync(key, West);
        var westArn = Accounts.KeyArn(key.KeyId, region: West);
        var labels = HsmLabels(key.KeyId);
        Assert.Equal(2, labels.Count);

        var scheduled = await _east.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = key.KeyId, PendingWindowInDays = 7 });
        Assert.Equal(KeyState.PendingReplicaDeletion, scheduled.KeyState);
        Assert.Null(scheduled.DeletionDate);
        Assert.Equal(7, scheduled.PendingWindowInDays);
        var pending = await _east.DescribeAsync(key.KeyId);
        Assert.Equal(KeyState.PendingReplicaDeletion, pending.KeyState);
        Assert.Equal(7, pending.PendingDeletionWindowInDays);
        Assert.Null(pending.DeletionDate);
        await KmsAssert.PendingDeletionAsync(() => _east.EncryptTextAsync(key.KeyId, "no"), key.Arn);
        await KmsAssert.PendingDeletionAsync(() => _east.ReplicateKeyAsync(new ReplicateKeyRequest { KeyId = key.KeyId, ReplicaRegion = Sydney }), key.Arn);

        // Cancelled, it is Disabled as any key whose deletion was cancelled; then scheduled again.
        await _east.CancelKeyDeletionAsync(new CancelKeyDeletionRequest { KeyId = key.KeyId });
        Assert.Equal(KeyState.Disabled, (await _east.DescribeAsync(key.KeyId)).KeyState);
        await _east.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = key.KeyId, PendingWindowInDays = 7 });

        // Waiting for its replica, however long: the replica is used meanwhile and then deleted on its own schedule.
        await Clock.AdvanceAsync(TimeSpan.FromDays(40));
        Assert.Equal(KeyState.PendingReplicaDeletion, (await _east.DescribeAsync(key.KeyId)).KeyState);
        Assert.Equal("still here", Blob.Text((await _west.DecryptBlobAsync((await _west.EncryptTextAsync(key.KeyId, "still here")).CiphertextBlob)).Plaintext));
        var replicaScheduled = await _west.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = key.KeyId, PendingWindowInDays = 7 });
        Assert.Equal(KeyState.PendingDeletion, replicaScheduled.KeyState);
        Assert.NotNull(replicaScheduled.DeletionDate);

        await Clock.AdvanceAsync(TimeSpan.FromDays(7) + TimeSpan.FromSeconds(1));
        await KmsAssert.KeyDoesNotExistAsync(() => _west.DescribeAsync(key.KeyId), westArn);
        var primaryPending = await _east.DescribeAsync(key.KeyId);
        Assert.Equal(KeyState.PendingDeletion, primaryPending.KeyState);
        Assert.Null(primaryPending.MultiRegionConfiguration.ReplicaKeys.FirstOrDefault());
        var expectedDeletion = Clock.GetUtcNow().AddDays(7).UtcDateTime;
        Assert.InRange(primaryPending.DeletionDate!.Value.ToUniversalTime(), expectedDeletion.AddSeconds(-5), expectedDeletion.AddSeconds(5));
        var hsm = _host.Services.GetRequiredService<IKeyMaterialBackend>();
        Assert.False(await hsm.ExistsAsync(labels.Single(l => l.Region == West).Label));
        Assert.True(await hsm.ExistsAsync(labels.Single(l => l.Region == East).Label));

        await Clock.AdvanceAsync(TimeSpan.FromDays(7) + TimeSpan.FromSeconds(1));
        await KmsAssert.KeyDoesNotExistAsync(() => _east.DescribeAsync(key.KeyId), key.Arn);
        Assert.False(await hsm.ExistsAsync(labels.Single(l => l.Region == East).Label));
    }

    [Fact]
    public async Task ReplicateKey_and_UpdatePrimaryRegion_answer_AWS_errors()
    {
        var key = await NewMultiRegionKeyAsync(new CreateKeyRequest { MultiRegion = true });
        var single = await _east.NewKeyAsync();
        await KmsAssert.ErrorAsync<UnsupportedOperationException>(
            () => _east.ReplicateKeyAsync(new ReplicateKeyRequest { KeyId = single.KeyId, ReplicaRegion = West }), $"{single.Arn} is not a multi-region primary key.");
        await KmsAssert.ErrorAsync<UnsupportedOperationException>(
            () => _east.UpdatePrimaryRegionAsync(new UpdatePrimaryRegionRequest { KeyId = single.KeyId, PrimaryRegion = West }), $"{single.Arn} is not a multi-region primary key.");

        await KmsAssert.ValidationAsync(
            () => _east.ReplicateKeyAsync(new ReplicateKeyRequest { KeyId = key.KeyId, ReplicaRegion = East }),
            "The replica region us-east-1 must be different from the region of the primary key.");
        await KmsAssert.ValidationAsync(
            () => _east.ReplicateKeyAsync(new ReplicateKeyRequest { KeyId = key.KeyId, ReplicaRegion = "xx-nowhere-9" }), "xx-nowhere-9 is not a region KMS supports.");
        await KmsAssert.ValidationAsync(
            () => _east.ReplicateKeyAsync(new ReplicateKeyRequest { KeyId = key.KeyId, ReplicaRegion = "cn-north-1" }),
            "The replica region cn-north-1 must be in the partition of the primary key (aws).");
        await KmsAssert.ErrorAsync<MalformedPolicyDocumentException>(
            () => _east.ReplicateKeyAsync(new ReplicateKeyRequest { KeyId = key.KeyId, ReplicaRegion = West, Policy = "{not json" }));
        await KmsAssert.ErrorAsync<TagException>(
            () => _east.ReplicateKeyAsync(new ReplicateKeyRequest { KeyId = key.KeyId, ReplicaRegion = West, Tags = [new Tag { TagKey = "aws:reserved", TagValue = "x" }] }));
        await KmsAssert.KeyDoesNotExistAsync(() => _west.DescribeAsync(key.KeyId), Accounts.KeyArn(key.KeyId, region: West));

        await ReplicateAndSettleAsync(key, West);
        var westArn = Accounts.KeyArn(key.KeyId, region: West);
        await KmsAssert.ErrorAsync<AlreadyExistsException>(
            () => _east.ReplicateKeyAsync(new ReplicateKeyRequest { KeyId = key.KeyId, ReplicaRegion = West }), $"Key '{westArn}' already exists.");
        await KmsAssert.ErrorAsync<UnsupportedOperationException>(
            () => _west.ReplicateKeyAsync(new ReplicateKeyRequest { KeyId = key.KeyId, ReplicaRegion = Sydney }), $"{westArn} is not a multi-region primary key.");
        await KmsAssert.ErrorAsync<UnsupportedOperationException>(
            () => _west.UpdatePrimaryRegionAsync(new UpdatePrimaryRegionRequest { KeyId = key.KeyId, PrimaryRegion = East }), $"{westArn} is not a multi-region primary key.");
        await KmsAssert.KeyDoesNotExistAsync(
            () => _east.UpdatePrimaryRegionAsync(new UpdatePrimaryRegionRequest { KeyId = key.KeyId, PrimaryRegion = Sydney }), Accounts.KeyArn(key.KeyId, region: Sydney));
        await KmsAssert.ErrorAsync<UnsupportedOperationException>(
            () => _east.UpdatePrimaryRegionAsync(new UpdatePrimaryRegionRequest { KeyId = key.KeyId, PrimaryRegion = East }), $"{key.Arn} is already the primary key in us-east-1.");
        await KmsAssert.ErrorAsync<NotFoundException>(
            () => _west.ReplicateKeyAsync(new ReplicateKeyRequest { KeyId = "mrk-00000000000000000000000000000000", ReplicaRegion = Sydney }));

        // The primary's state: disabled -> DisabledException; pending deletion -> KMSInvalidStateException.
        await _east.DisableKeyAsync(new DisableKeyRequest { KeyId = key.KeyId });
        await KmsAssert.DisabledAsync(() => _east.ReplicateKeyAsync(new ReplicateKeyRequest { KeyId = key.KeyId, ReplicaRegion = Sydney }), key.Arn);
        var lone = await NewMultiRegionKeyAsync(new CreateKeyRequest { MultiRegion = true });
        await _east.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = lone.KeyId, PendingWindowInDays = 7 });
        Assert.Equal(KeyState.PendingDeletion, (await _east.DescribeAsync(lone.KeyId)).KeyState);
        await KmsAssert.PendingDeletionAsync(() => _east.ReplicateKeyAsync(new ReplicateKeyRequest { KeyId = lone.KeyId, ReplicaRegion = West }), lone.Arn);

        // A replica being created refuses crypto and EnableKey/DisableKey, but takes a deletion schedule.
        var creating = await NewMultiRegionKeyAsync(new CreateKeyRequest { MultiRegion = true });
        await _east.ReplicateKeyAsync(new ReplicateKeyRequest { KeyId = creating.KeyId, ReplicaRegion = West });
        var creatingArn = Accounts.KeyArn(creating.KeyId, region: West);
        await KmsAssert.ErrorAsync<KMSInvalidStateException>(() => _west.DisableKeyAsync(new DisableKeyRequest { KeyId = creating.KeyId }), $"{creatingArn} is creating.");
        await _west.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = creating.KeyId, PendingWindowInDays = 7 });
        await Clock.AdvanceAsync(TimeSpan.Zero);
        Assert.Equal(KeyState.PendingDeletion, (await _west.DescribeAsync(creating.KeyId)).KeyState);
    }

    [Fact]
    public async Task A_restart_in_the_middle_keeps_replicas_their_copied_material_and_their_transient_states()
    {
        var hmac = await NewMultiRegionKeyAsync(new CreateKeyRequest { MultiRegion = true, KeySpec = KeySpec.HMAC_256, KeyUsage = KeyUsageType.GENERATE_VERIFY_MAC });
        await ReplicateAndSettleAsync(hmac, Sydney);
        await _east.UpdatePrimaryRegionAsync(new UpdatePrimaryRegionRequest { KeyId = hmac.KeyId, PrimaryRegion = Sydney });
        var key = await NewMultiRegionKeyAsync(new CreateKeyRequest { MultiRegion = true });
        var before = await _east.EncryptTextAsync(key.KeyId, "before replication");
        await _east.RotateKeyOnDemandAsync(new RotateKeyOnDemandRequest { KeyId = key.KeyId });
        await _east.ReplicateKeyAsync(new ReplicateKeyRequest { KeyId = key.KeyId, ReplicaRegion = West, Description = "west" });

        await RestartAsync();

        // Start-up reconciliation took every copied object as the replica's own: nothing orphaned, missing or defective.
        Assert.Empty(_host.Services.GetRequiredService<IKeyMaterialBackend>().Defects);
        var replica = await _west.DescribeAsync(key.KeyId);
        Assert.Equal(KeyState.Creating, replica.KeyState);
        Assert.Equal("west", replica.Description);
        Assert.Equal(KeyState.Updating, (await _sydney.DescribeAsync(hmac.KeyId)).KeyState);
        Assert.Equal(MultiRegionKeyType.PRIMARY, (await _sydney.DescribeAsync(hmac.KeyId)).MultiRegionConfiguration.MultiRegionKeyType);
        Assert.Equal([Accounts.KeyArn(key.KeyId, region: West)], (await _east.DescribeAsync(key.KeyId)).MultiRegionConfiguration.ReplicaKeys.Select(r => r.Arn));

        await Clock.AdvanceAsync(TimeSpan.Zero);
        Assert.Equal("before replication", Blob.Text((await _west.DecryptBlobAsync(before.CiphertextBlob)).Plaintext));
        var after = await _west.EncryptTextAsync(key.KeyId, "after restart");
        Assert.Equal("after restart", Blob.Text((await _east.DecryptBlobAsync(after.CiphertextBlob)).Plaintext));
        Assert.Equal(KeyState.Enabled, (await _east.DescribeAsync(hmac.KeyId)).KeyState);

        await RestartAsync();
        Assert.Empty(_host.Services.GetRequiredService<IKeyMaterialBackend>().Defects);
        Assert.Equal("after restart", Blob.Text((await _west.DecryptBlobAsync(after.CiphertextBlob)).Plaintext));
    }

    [Fact]
    public async Task A_replica_of_a_key_with_imported_material_has_none_until_the_same_material_is_imported_into_it()
    {
        var primary = await NewMultiRegionKeyAsync(new CreateKeyRequest { MultiRegion = true, Origin = OriginType.EXTERNAL });
        var material = RandomNumberGenerator.GetBytes(32);
        await ImportAsync(_east, primary.KeyId, material);
        var ciphertext = await _east.EncryptTextAsync(primary.KeyId, "imported");

        var replicated = await _east.ReplicateKeyAsync(new ReplicateKeyRequest { KeyId = primary.KeyId, ReplicaRegion = West });
        Assert.Equal(OriginType.EXTERNAL, replicated.ReplicaKeyMetadata.Origin);
        await Clock.AdvanceAsync(TimeSpan.Zero);
        var replicaArn = Accounts.KeyArn(primary.KeyId, region: West);
        Assert.Equal(KeyState.PendingImport, (await _west.DescribeAsync(primary.KeyId)).KeyState);

        // Other material is refused; the primary's is taken and the replica decrypts the primary's ciphertexts.
        await KmsAssert.ErrorAsync<IncorrectKeyMaterialException>(() => ImportAsync(_west, primary.KeyId, RandomNumberGenerator.GetBytes(32)));
        await ImportAsync(_west, primary.KeyId, material);
        Assert.Equal(KeyState.Enabled, (await _west.DescribeAsync(primary.KeyId)).KeyState);
        Assert.Equal("imported", Blob.Text((await _west.DecryptBlobAsync(ciphertext.CiphertextBlob, keyId: replicaArn)).Plaintext));
        Assert.Equal((await _east.DescribeAsync(primary.KeyId)).CurrentKeyMaterialId, (await _west.DescribeAsync(primary.KeyId)).CurrentKeyMaterialId);
    }

    // ---------------------------------------------------------------- helpers

    private async Task<KeyMetadata> NewMultiRegionKeyAsync(CreateKeyRequest request)
    {
        var key = (await _east.CreateKeyAsync(request)).KeyMetadata;
        Assert.StartsWith("mrk-", key.KeyId, StringComparison.Ordinal);
        return key;
    }

    private async Task ReplicateAndSettleAsync(KeyMetadata primary, string region)
    {
        await _east.ReplicateKeyAsync(new ReplicateKeyRequest { KeyId = primary.KeyId, ReplicaRegion = region });
        await Clock.AdvanceAsync(TimeSpan.Zero);
    }

    private static async Task ImportAsync(AmazonKeyManagementServiceClient kms, string keyId, byte[] material)
    {
        var parameters = await kms.GetParametersForImportAsync(new GetParametersForImportRequest
        {
            KeyId = keyId,
            WrappingAlgorithm = AlgorithmSpec.RSAES_OAEP_SHA_256,
            WrappingKeySpec = WrappingKeySpec.RSA_2048,
        });
        await kms.ImportKeyMaterialAsync(new ImportKeyMaterialRequest
        {
            KeyId = keyId,
            ImportToken = parameters.ImportToken,
            EncryptedKeyMaterial = new MemoryStream(ImportKeyMaterialTests.Wrap(parameters.PublicKey.ToArray(), "RSAES_OAEP_SHA_256", material)),
            ExpirationModel = ExpirationModelType.KEY_MATERIAL_DOES_NOT_EXPIRE,
        });
    }

    /// <summary>The HSM label of the first material version of each key of a multi-Region key, by region (from the store's copy).</summary>
    private List<(string Region, string Label)> HsmLabels(string keyId) =>
        _host.Services.GetRequiredService<KeyCatalog>().AllKeys
            .Where(k => k.KeyId == keyId)
            .Select(k => (k.Scope.Region, k.Materials[0].HsmLabel))
            .ToList();

    private async Task RestartAsync()
    {
        DisposeClients();
        _host = await _host.RestartAsync();
        CreateClients();
    }

    private void CreateClients()
    {
        _east = _host.CreateClient(region: East);
        _west = _host.CreateClient(region: West);
        _sydney = _host.CreateClient(region: Sydney);
    }

    private void DisposeClients()
    {
        _east.Dispose();
        _west.Dispose();
        _sydney.Dispose();
    }
}
