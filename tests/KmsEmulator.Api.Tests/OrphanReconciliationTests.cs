using KmsEmulator.Api.Keys;
using KmsEmulator.Hsm;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// The start-up reconciliation's treatment of HSM objects that no key row refers to: all at once for one emulator, and
/// with a grace period only the old ones the store still has no row for, when several nodes share token and store.
/// </summary>
public sealed class OrphanReconciliationTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2026, 12, 5, 12, 0, 0, TimeSpan.Zero);

    private readonly FakeTimeProvider _clock = new(Now);
    private readonly KeyCatalog _catalog = new();
    private readonly TokenWithOrphans _hsm = new();
    private readonly StoreSeenLater _store = new();
    private readonly KeyWriter _writer;
    private readonly KeyLifecycle _lifecycle;

    private readonly string _young;
    private readonly string _committedMeanwhile;
    private readonly string _old;
    private readonly string _undated;

    public OrphanReconciliationTests()
    {
        _lifecycle = new KeyLifecycle(_catalog, _clock);
        _writer = new KeyWriter(_catalog, _lifecycle, _store, _hsm, NullLogger<KeyWriter>.Instance);
        _young = _writer.HsmLabelPrefix + "young/1";
        _committedMeanwhile = _writer.HsmLabelPrefix + "committed/1";
        _old = _writer.HsmLabelPrefix + "old/1";
        _undated = _writer.HsmLabelPrefix + "undated/1";
        _hsm.Inventory = new HsmInventory(4, [_committedMeanwhile, _old, _undated, _young], [], [])
        {
            CreatedAt = new Dictionary<string, DateTimeOffset>
            {
                [_young] = Now - TimeSpan.FromMinutes(59),
                [_committedMeanwhile] = Now - TimeSpan.FromHours(2),
                [_old] = Now - TimeSpan.FromHours(1),
            },
        };

        // Another node committed the key of one old object after this node loaded its catalogue (which is empty).
        var committed = TestKeys.Create("committed");
        _store.Later = new StoreSnapshot([committed with { Materials = [new KeyMaterialVersion(1, "m", _committedMeanwhile, Now)], CurrentMaterialVersion = 1 }], []);
    }

    public void Dispose() => _writer.Dispose();

    [Fact]
    public async Task With_a_grace_period_only_old_objects_without_a_row_in_the_store_read_again_are_destroyed()
    {
        var service = new KeyLifecycleService(_writer, _lifecycle, _catalog, _hsm, NullLogger<KeyLifecycleService>.Instance,
            new OrphanPolicy(TimeSpan.FromHours(1), _clock));

        await service.ReconcileAsync(CancellationToken.None);

        Assert.Equal([_old, _undated], _hsm.Destroyed);
        Assert.Equal(1, _store.Loads);
    }

    [Fact]
    public async Task With_a_grace_period_the_store_is_not_read_again_when_every_orphan_is_young()
    {
        _hsm.Inventory = new HsmInventory(1, [_young], [], []) { CreatedAt = new Dictionary<string, DateTimeOffset> { [_young] = Now } };
        var service = new KeyLifecycleService(_writer, _lifecycle, _catalog, _hsm, NullLogger<KeyLifecycleService>.Instance,
            new OrphanPolicy(TimeSpan.FromHours(1), _clock));

        await service.ReconcileAsync(CancellationToken.None);
        Assert.Empty(_hsm.Destroyed);

        _clock.Advance(TimeSpan.FromHours(1));
        await service.ReconcileAsync(CancellationToken.None);
        Assert.Equal([_young], _hsm.Destroyed);
        Assert.Equal(1, _store.Loads);
    }

    [Fact]
    public async Task Without_a_grace_period_every_orphan_is_destroyed_at_once_and_the_store_is_not_read_again()
    {
        var service = new KeyLifecycleService(_writer, _lifecycle, _catalog, _hsm, NullLogger<KeyLifecycleService>.Instance);

        await service.ReconcileAsync(CancellationToken.None);

        Assert.Equal([_committedMeanwhile, _old, _undated, _young], _hsm.Destroyed);
        Assert.Equal(0, _store.Loads);
    }

    private sealed class TokenWithOrphans : UnusedHsm
    {
        public HsmInventory Inventory { get; set; } = new(0, [], [], []);

        public List<string> Destroyed { get; } = [];

        public override ValueTask<HsmInventory> IndexAsync(string labelPrefix, IReadOnlyCollection<HsmKeyDescription> expected,
            CancellationToken cancellationToken = default)
        {
            Assert.Empty(expected);
            return ValueTask.FromResult(Inventory);
        }

        public override ValueTask DestroyAsync(string label, CancellationToken cancellationToken = default)
        {
            Destroyed.Add(label);
            return ValueTask.CompletedTask;
        }
    }

    private sealed class StoreSeenLater : UnusedStore
    {
        public StoreSnapshot Later { get; set; } = new([], []);

        public int Loads { get; private set; }

        public override string StoreId => "shared";

        public override Task<StoreSnapshot> LoadAsync(CancellationToken cancellationToken = default)
        {
            Loads++;
            return Task.FromResult(Later);
        }
    }
}
