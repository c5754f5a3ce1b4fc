using System.Collections.Concurrent;
using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Hosting;
using KmsEmulator.Api.Keys;
using KmsEmulator.Hsm;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// The deletion sweeper on its own timer of the injected clock: nothing waits on wall time. The clock never moves past
/// more than one sweep at a time, and each step ends on a sweep or between two, so every sweep sees the time it was due
/// at (however the fake clock sets the time during callbacks). Store and HSM
/// are fakes that answer at once, so a sweep has finished when <see cref="FakeTimeProvider.Advance"/> returns; the
/// assertions still wait (bounded) on what the fakes signal rather than assume it.
/// </summary>
public sealed class LifecycleSweeperTests : IAsyncLifetime
{
    private static readonly TimeSpan Interval = TimeSpan.FromHours(1);
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private static readonly KeyScope Scope = new("111122223333", "us-east-1");

    private readonly FakeTimeProvider _clock = new(DateTimeOffset.FromUnixTimeSeconds(1_700_000_000));
    private readonly MemoryStore _store = new();
    private readonly MemoryHsm _hsm = new();
    private readonly ServiceProvider _services;

    public LifecycleSweeperTests()
    {
        // The production registrations with the clock, the sweep interval and the two ports replaced.
        _services = new ServiceCollection()
            .AddLogging()
            .AddKmsCore()
            .AddSingleton<TimeProvider>(_clock)
            .AddSingleton<IKmsStore>(_store)
            .AddSingleton<IKeyMaterialBackend>(_hsm)
            .Configure<KmsOptions>(options => options.DeletionSweepInterval = Interval)
            .AddSingleton<LifecycleSweeper>()
            .BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
    }

    private KeyLifecycleService Keys => _services.GetRequiredService<KeyLifecycleService>();

    private KeyWriter Writer => _services.GetRequiredService<KeyWriter>();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await _services.GetRequiredService<LifecycleSweeper>().StopAsync(CancellationToken.None);
        await _services.DisposeAsync();
    }

    [Fact]
    public async Task A_key_scheduled_for_deletion_is_deleted_from_store_and_HSM_by_the_first_sweep_after_its_deletion_date()
    {
        await StartSweeperAsync();
        // Half an interval in, so that the deletion date falls between two sweeps.
        _clock.Advance(Interval / 2);
        var key = await Keys.CreateKeyAsync(Scope, Symmetric(), CancellationToken.None);
        var scheduled = await Keys.ScheduleDeletionAsync(key, 7, CancellationToken.None);
        Assert.Equal(_clock.GetUtcNow().AddDays(7), scheduled.DeletionDate);

        // Every sweep of the waiting period runs and leaves the key alone (the clock is back on the sweeps' beat).
        _clock.Advance(Interval / 2);
        AdvanceBySweeps((7 * 24) - 1);
        Assert.Equal(scheduled.DeletionDate - (Interval / 2), _clock.GetUtcNow());
        Assert.NotNull(Live(key));
        Assert.Empty(_store.Deleted);

        // The deletion date passes: callers stop seeing the key at once, but no sweep has run since.
        _clock.Advance(Interval / 2);
        Assert.Null(Live(key));
        Assert.Empty(_store.Deleted);
        Assert.Empty(_hsm.Destroyed);

        // The next sweep deletes the rows and then the material.
        _clock.Advance(Interval / 2);
        Assert.Equal((Scope, key.KeyId), await _store.FirstDelete.Task.WaitAsync(Bound));
        Assert.Equal(key.CurrentMaterial!.HsmLabel, await _hsm.FirstDestroy.Task.WaitAsync(Bound));
        Assert.Equal([(Scope, key.KeyId)], _store.Deleted);
        Assert.Equal([key.CurrentMaterial.HsmLabel], _hsm.Destroyed);
        Assert.Null(_services.GetRequiredService<KeyCatalog>().FindKey(Scope, key.KeyId));
    }

    [Fact]
    public async Task A_sweep_that_fails_is_tried_again_at_the_next_interval()
    {
        await StartSweeperAsync();
        var key = await Keys.CreateKeyAsync(Scope, Symmetric(), CancellationToken.None);
        await Keys.ScheduleDeletionAsync(key, 7, CancellationToken.None);
        _store.DeleteFailures = 1;

        // The last sweep of these is the first at which the key is due; its store call fails.
        AdvanceBySweeps(7 * 24);

        Assert.Equal(0, _store.DeleteFailures);
        Assert.Empty(_store.Deleted);
        Assert.Empty(_hsm.Destroyed);

        AdvanceBySweeps(1);

        Assert.Equal((Scope, key.KeyId), await _store.FirstDelete.Task.WaitAsync(Bound));
        Assert.Equal(key.CurrentMaterial!.HsmLabel, await _hsm.FirstDestroy.Task.WaitAsync(Bound));
    }

    [Fact]
    public async Task Material_of_a_failed_CreateKey_that_could_not_be_destroyed_at_once_is_destroyed_by_the_next_sweep()
    {
        await StartSweeperAsync();
        _store.SaveFailures = 1;
        _hsm.DestroyFailures = 1;

        await Assert.ThrowsAsync<IOException>(() => Keys.CreateKeyAsync(Scope, Symmetric(), CancellationToken.None));
        var created = Assert.Single(_hsm.Created);
        Assert.Equal([created], Writer.PendingDestroys);
        Assert.Empty(_hsm.Destroyed);

        AdvanceBySweeps(1);

        Assert.Equal(created, await _hsm.FirstDestroy.Task.WaitAsync(Bound));
        Assert.Empty(Writer.PendingDestroys);
        Assert.Empty(_store.Deleted);
    }

    private Task StartSweeperAsync() => _services.GetRequiredService<LifecycleSweeper>().StartAsync(CancellationToken.None);

    private void AdvanceBySweeps(int count)
    {
        for (var i = 0; i < count; i++)
        {
            _clock.Advance(Interval);
        }
    }

    private KeyRecord? Live(KeyRecord key) => _services.GetRequiredService<KeyLifecycle>().FindLive(key.Scope, key.KeyId);

    private static NewKey Symmetric() =>
        new("swept", KeySpec.SYMMETRIC_DEFAULT, KeyUsageType.ENCRYPT_DECRYPT, OriginType.AWS_KMS, false, "{}", []);

    /// <summary>Accepts saves (unless told to fail) and records deletions; the first deletion completes a task.</summary>
    private sealed class MemoryStore : UnusedStore
    {
        public override string StoreId => "sweep";

        public int SaveFailures { get; set; }

        public int DeleteFailures { get; set; }

        public ConcurrentQueue<(KeyScope Scope, string KeyId)> Deleted { get; } = new();

        public TaskCompletionSource<(KeyScope Scope, string KeyId)> FirstDelete { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override Task SaveKeyAsync(KeyRecord key, CancellationToken cancellationToken = default)
        {
            if (SaveFailures > 0)
            {
                SaveFailures--;
                return Task.FromException(new IOException("database or disk is full"));
            }

            return Task.CompletedTask;
        }

        public override Task<bool> DeleteKeyAsync(KeyVersion current, CancellationToken cancellationToken = default)
        {
            var (scope, keyId) = (current.Scope, current.KeyId);
            if (DeleteFailures > 0)
            {
                DeleteFailures--;
                return Task.FromException<bool>(new IOException("database is locked"));
            }

            Deleted.Enqueue((scope, keyId));
            FirstDelete.TrySetResult((scope, keyId));
            return Task.FromResult(true);
        }
    }

    /// <summary>Records created and destroyed AES keys; the first destroy completes a task.</summary>
    private sealed class MemoryHsm : UnusedHsm
    {
        public ConcurrentQueue<string> Created { get; } = new();

        public ConcurrentQueue<string> Destroyed { get; } = new();

        public int DestroyFailures { get; set; }

        public TaskCompletionSource<string> FirstDestroy { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override ValueTask CreateAesKeyAsync(string label, CancellationToken cancellationToken = default)
        {
            Created.Enqueue(label);
            return ValueTask.CompletedTask;
        }

        public override ValueTask DestroyAsync(string label, CancellationToken cancellationToken = default)
        {
            if (DestroyFailures > 0)
            {
                DestroyFailures--;
                throw new HsmException(HsmErrorKind.Internal, "The HSM could not destroy a key (CKR_DEVICE_MEMORY).");
            }

            Destroyed.Enqueue(label);
            FirstDestroy.TrySetResult(label);
            return ValueTask.CompletedTask;
        }
    }
}
