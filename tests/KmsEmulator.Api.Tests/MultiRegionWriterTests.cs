using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Hsm;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// The key writer's multi-Region writes with a recording HSM and an in-memory store: a replica's material is copied
/// (never generated) under labels of its own Region, a failed copy or commit leaves no copy behind, a rotation of the
/// primary reaches every replica in one store transaction, and the sweep settles transient states.
/// </summary>
public sealed class MultiRegionWriterTests : IDisposable
{
    private const string KeyId = "mrk-0123456789abcdef0123456789abcdef";
    private static readonly KeyScope East = new("111122223333", "us-east-1");

    private readonly CopyingHsm _hsm = new();
    private readonly MemoryStore _store = new();
    private readonly KeyCatalog _catalog = new();
    private readonly KeyLifecycle _lifecycle;
    private readonly KeyWriter _writer;
    private readonly MultiRegionKeyService _service;
    private readonly KeyLifecycleService _keys;

    public MultiRegionWriterTests()
    {
        _lifecycle = new KeyLifecycle(_catalog, new FakeTimeProvider(DateTimeOffset.UnixEpoch.AddYears(50)));
        _writer = new KeyWriter(_catalog, _lifecycle, _store, _hsm, NullLogger<KeyWriter>.Instance);
        _service = new MultiRegionKeyService(_writer, _lifecycle);
        _keys = new KeyLifecycleService(_writer, _lifecycle, _catalog, _hsm, NullLogger<KeyLifecycleService>.Instance);
    }

    public void Dispose() => _writer.Dispose();

    [Fact]
    public async Task A_replica_gets_copies_of_every_material_version_under_its_own_labels_and_starts_Creating()
    {
        var primary = await NewPrimaryAsync();
        primary = await _writer.RotateAsync(primary, "ON_DEMAND", _lifecycle.Now, _ => { }, k => k, CancellationToken.None);

        var replica = await _service.ReplicateAsync(primary, new NewReplica("eu-west-1", "west", "{}", []), CancellationToken.None);

        Assert.Equal(KeyState.Creating, replica.KeyState);
        Assert.Equal(KeyState.Enabled, replica.SettledState);
        Assert.Equal("us-east-1", replica.PrimaryRegion);
        Assert.True(replica.IsMultiRegionReplica);
        Assert.Equal(primary.Materials.Select(m => (m.Version, m.MaterialId)), replica.Materials.Select(m => (m.Version, m.MaterialId)));
        Assert.Equal(primary.Materials.Select(m => m.HsmLabel), _hsm.Copies.Select(c => c.Source));
        Assert.All(replica.Materials, m => Assert.Contains("/eu-west-1/", m.HsmLabel, StringComparison.Ordinal));
        Assert.Equal(replica.Materials.Select(m => m.HsmLabel), _hsm.Copies.Select(c => c.Target));
        Assert.Equal(2, _hsm.Created.Count);

        var view = _service.ViewOf(primary)!;
        Assert.True(view.IsPrimary);
        Assert.Equal([(replica.Arn, "eu-west-1")], view.Replicas);

        Assert.Single(await _keys.SettleTransientStatesAsync(CancellationToken.None));
        Assert.Equal(KeyState.Enabled, _catalog.FindKey(replica.Scope, KeyId)!.KeyState);
        Assert.Null(_catalog.FindKey(replica.Scope, KeyId)!.SettledState);
    }

    [Fact]
    public async Task A_replica_whose_commit_fails_leaves_no_copy_and_no_key()
    {
        var primary = await NewPrimaryAsync();
        primary = await _writer.RotateAsync(primary, "ON_DEMAND", _lifecycle.Now, _ => { }, k => k, CancellationToken.None);
        _store.SaveFailures = 1;

        await Assert.ThrowsAsync<IOException>(() => _service.ReplicateAsync(primary, new NewReplica("eu-west-1", "", "{}", []), CancellationToken.None));

        Assert.Equal(2, _hsm.Copies.Count);
        Assert.Equal(_hsm.Copies.Select(c => c.Target).Order(StringComparer.Ordinal), _hsm.Destroyed.Order(StringComparer.Ordinal));
        Assert.Null(_catalog.FindKey(East with { Region = "eu-west-1" }, KeyId));
        Assert.Empty(_service.ViewOf(primary)!.Replicas);
    }

    [Fact]
    public async Task A_failed_copy_destroys_the_copies_made_before_it()
    {
        var primary = await NewPrimaryAsync();
        primary = await _writer.RotateAsync(primary, "ON_DEMAND", _lifecycle.Now, _ => { }, k => k, CancellationToken.None);
        _hsm.CopyFailuresAfter = 1;

        await Assert.ThrowsAsync<HsmException>(() => _service.ReplicateAsync(primary, new NewReplica("eu-west-1", "", "{}", []), CancellationToken.None));

        Assert.Equal([_hsm.Copies[0].Target], _hsm.Destroyed);
        Assert.Null(_catalog.FindKey(East with { Region = "eu-west-1" }, KeyId));
    }

    [Fact]
    public async Task A_rotation_of_the_primary_adds_the_version_to_every_replica_in_one_store_transaction_and_replicas_never_rotate_themselves()
    {
        var primary = await NewPrimaryAsync();
        await _service.ReplicateAsync(primary, new NewReplica("eu-west-1", "", "{}", []), CancellationToken.None);
        await _service.ReplicateAsync(primary, new NewReplica("ap-southeast-2", "", "{}", []), CancellationToken.None);
        _store.Batches.Clear();

        var rotated = await _writer.RotateAsync(primary, "ON_DEMAND", _lifecycle.Now, _ => { }, k => k, CancellationToken.None);

        var batch = Assert.Single(_store.Batches);
        Assert.Equal(["us-east-1", "ap-southeast-2", "eu-west-1"], batch.Select(k => k.Scope.Region));
        Assert.All(batch, k => Assert.Equal(2, k.CurrentMaterialVersion));
        Assert.All(batch, k => Assert.Equal(rotated.CurrentMaterial!.MaterialId, k.CurrentMaterial!.MaterialId));
        Assert.Equal(3, batch.Select(k => k.CurrentMaterial!.HsmLabel).Distinct().Count());

        // Rotation settings follow the primary.
        await _writer.UpdateKeyAsync(rotated, KeyStateRule.RotationSettings, k => k with { RotationEnabled = true, RotationPeriodInDays = 90, NextRotationDate = _lifecycle.Now }, CancellationToken.None);
        Assert.All(_lifecycle.MultiRegionSet(rotated), k => Assert.True(k.RotationEnabled));
        await _keys.SettleTransientStatesAsync(CancellationToken.None);
        var automatic = await _keys.RotateDueKeysAsync(CancellationToken.None);
        Assert.Equal(["us-east-1"], automatic.Select(k => k.Scope.Region));
        Assert.All(_lifecycle.MultiRegionSet(rotated), k => Assert.Equal(3, k.Materials.Length));
    }

    [Fact]
    public async Task UpdatePrimaryRegion_changes_every_key_of_the_set_and_the_sweep_restores_the_states()
    {
        var primary = await NewPrimaryAsync();
        await _service.ReplicateAsync(primary, new NewReplica("eu-west-1", "", "{}", []), CancellationToken.None);
        await _service.ReplicateAsync(primary, new NewReplica("ap-southeast-2", "", "{}", []), CancellationToken.None);
        await _keys.SettleTransientStatesAsync(CancellationToken.None);
        var sydney = _catalog.FindKey(East with { Region = "ap-southeast-2" }, KeyId)!;
        await _keys.DisableAsync(sydney, CancellationToken.None);

        var changed = await _service.UpdatePrimaryRegionAsync(_catalog.FindKey(East, KeyId)!, "ap-southeast-2", CancellationToken.None);

        Assert.Equal(3, changed.Count);
        Assert.All(changed, k => Assert.Equal("ap-southeast-2", k.PrimaryRegion));
        Assert.Equal(KeyState.Updating, _catalog.FindKey(East, KeyId)!.KeyState);
        Assert.Equal(KeyState.Updating, _catalog.FindKey(sydney.Scope, KeyId)!.KeyState);
        Assert.Equal(KeyState.Enabled, _catalog.FindKey(East with { Region = "eu-west-1" }, KeyId)!.KeyState);
        Assert.True(_catalog.FindKey(sydney.Scope, KeyId)!.IsMultiRegionPrimary);

        await _keys.SettleTransientStatesAsync(CancellationToken.None);
        Assert.Equal(KeyState.Enabled, _catalog.FindKey(East, KeyId)!.KeyState);
        Assert.Equal(KeyState.Disabled, _catalog.FindKey(sydney.Scope, KeyId)!.KeyState);
    }

    private async Task<KeyRecord> NewPrimaryAsync() =>
        await _writer.CreateKeyAsync(
            TestKeys.Create(KeyId) with
            {
                MultiRegion = true,
                PrimaryRegion = East.Region,
                Materials = [_writer.NewMaterial(East, KeyId, 1, _lifecycle.Now)],
                CurrentMaterialVersion = 1,
            },
            CancellationToken.None);

    private sealed class MemoryStore : UnusedStore
    {
        public override string StoreId => "multi-region";

        public int SaveFailures { get; set; }

        public List<List<KeyRecord>> Batches { get; } = [];

        public override Task SaveKeyAsync(KeyRecord key, CancellationToken cancellationToken = default) => SaveKeysAsync([key], cancellationToken);

        public override Task SaveKeysAsync(IReadOnlyList<KeyRecord> keys, CancellationToken cancellationToken = default)
        {
            if (SaveFailures > 0)
            {
                SaveFailures--;
                return Task.FromException(new IOException("database or disk is full"));
            }

            Batches.Add([.. keys]);
            return Task.CompletedTask;
        }
    }

    private sealed class CopyingHsm : UnusedHsm
    {
        public List<string> Created { get; } = [];

        public List<(string Source, string Target)> Copies { get; } = [];

        public List<string> Destroyed { get; } = [];

        /// <summary>Copies that succeed before every further copy fails; unlimited when null.</summary>
        public int? CopyFailuresAfter { get; set; }

        public override ValueTask CreateAesKeyAsync(string label, CancellationToken cancellationToken = default)
        {
            Created.Add(label);
            return ValueTask.CompletedTask;
        }

        public override ValueTask CopyKeyAsync(string sourceLabel, HsmKeyDescription target, CancellationToken cancellationToken = default)
        {
            if (CopyFailuresAfter is { } allowed && Copies.Count >= allowed)
            {
                throw new HsmException(HsmErrorKind.Internal, "The HSM could not copy a key (CKR_DEVICE_MEMORY).");
            }

            Assert.Equal(HsmKeySpec.Aes256, target.Spec);
            Copies.Add((sourceLabel, target.Label));
            return ValueTask.CompletedTask;
        }

        public override ValueTask DestroyAsync(string label, CancellationToken cancellationToken = default)
        {
            Destroyed.Add(label);
            return ValueTask.CompletedTask;
        }
    }
}
