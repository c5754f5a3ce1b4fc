using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// Two emulator nodes on one store (<see cref="CatalogSync"/> with <c>Kms:Store:SharedByNodes</c>): each has its own
/// store instance, catalogue and writer over one SQLite file, as two processes on one PostgreSQL database would. What
/// one node commits, the other's catalogue holds once it has caught up (as every request does first); a write computed
/// from a copy the other node made stale is computed again from the store's state; and catching up is one query for
/// many callers at once, never one that began before the caller.
/// </summary>
public sealed class SharedStoreTests : IDisposable
{
    private static readonly KeyScope Scope = TestKeys.Scope;
    private const string Principal = "arn:aws:iam::111122223333:user/dave";

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "kmsemu-shared-" + Guid.NewGuid().ToString("N"));
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.FromUnixTimeSeconds(1_700_000_000));

    private string DbPath => Path.Combine(_dir, "kms.db");

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task What_one_node_commits_the_other_holds_after_catching_up_state_policy_aliases_grants_material_and_deletion()
    {
        using var a = await KeyServices.OpenAsync(DbPath, _clock, sharedStore: true);
        using var b = await KeyServices.OpenAsync(DbPath, _clock, sharedStore: true);
        var key = await a.Lifecycle.CreateKeyAsync(Scope, NewKey("shared"), CancellationToken.None);
        var other = await a.Lifecycle.CreateKeyAsync(Scope, NewKey("other"), CancellationToken.None);
        Assert.Null(b.Catalog.FindKey(Scope, key.KeyId));
        await b.Sync.CatchUpAsync(CancellationToken.None);
        Assert.Equal(1, b.Catalog.FindKey(Scope, key.KeyId)!.Version);

        await a.Lifecycle.DisableAsync(key, CancellationToken.None);
        await a.Policies.PutPolicyAsync(key, """{"Version":"2012-10-17","Statement":[]}""", CancellationToken.None);
        await a.Aliases.CreateAliasAsync(Scope, "alias/app", key, CancellationToken.None);
        var (grant, _) = await a.Grants.CreateGrantAsync(key, new NewGrant { GranteePrincipal = Principal, Operations = [GrantOperation.Encrypt] }, Scope.AccountId, CancellationToken.None);
        Assert.Equal(KeyState.Enabled, b.Catalog.FindKey(Scope, key.KeyId)!.KeyState); // stale until it catches up

        await b.Sync.CatchUpAsync(CancellationToken.None);

        var seen = b.Catalog.FindKey(Scope, key.KeyId)!;
        Assert.Equal(a.Catalog.FindKey(Scope, key.KeyId)!.Version, seen.Version);
        Assert.Equal(KeyState.Disabled, seen.KeyState);
        Assert.Equal("""{"Version":"2012-10-17","Statement":[]}""", seen.Policy);
        Assert.Equal(key.KeyId, b.Catalog.FindAlias(Scope, "alias/app")!.TargetKeyId);
        Assert.Equal(grant.GrantId, Assert.Single(seen.Grants.Keys));

        // B moves the alias and retires the grant; A sees both, and B's own catalogue has them at once.
        await b.Aliases.UpdateAliasAsync(Scope, "alias/app", b.Catalog.FindKey(Scope, other.KeyId)!, CancellationToken.None);
        await b.Grants.DeleteGrantAsync(seen, grant.GrantId, CancellationToken.None);
        Assert.Equal(other.KeyId, b.Catalog.FindAlias(Scope, "alias/app")!.TargetKeyId);
        Assert.Equal(key.KeyId, a.Catalog.FindAlias(Scope, "alias/app")!.TargetKeyId);
        await a.Sync.CatchUpAsync(CancellationToken.None);
        Assert.Equal(other.KeyId, a.Catalog.FindAlias(Scope, "alias/app")!.TargetKeyId);
        Assert.Empty(a.Catalog.FindKey(Scope, key.KeyId)!.Grants);

        // A new material version made on A is B's current one after catching up.
        var rotated = await a.Writer.RotateAsync(a.Catalog.FindKey(Scope, other.KeyId)!, "ON_DEMAND", _clock.GetUtcNow(), _ => { }, k => k, CancellationToken.None);
        await b.Sync.CatchUpAsync(CancellationToken.None);
        Assert.Equal(2, b.Catalog.FindKey(Scope, other.KeyId)!.CurrentMaterialVersion);
        Assert.Equal(rotated.Materials.Select(m => m.HsmLabel), b.Catalog.FindKey(Scope, other.KeyId)!.Materials.Select(m => m.HsmLabel));

        // Scheduled on B, deleted by A's sweep: gone from B with its aliases.
        await b.Lifecycle.ScheduleDeletionAsync(b.Catalog.FindKey(Scope, other.KeyId)!, 7, CancellationToken.None);
        _clock.Advance(TimeSpan.FromDays(8));
        await a.Sync.CatchUpAsync(CancellationToken.None);
        Assert.Single(await a.Lifecycle.DeleteExpiredKeysAsync(CancellationToken.None));
        await b.Sync.CatchUpAsync(CancellationToken.None);
        Assert.Null(b.Catalog.FindKey(Scope, other.KeyId));
        Assert.Null(b.Catalog.FindAlias(Scope, "alias/app"));
        Assert.Equal(0, b.Sync.FullReloads);
    }

    [Fact]
    public async Task A_write_from_a_copy_another_node_made_stale_is_computed_again_and_gives_the_error_AWS_would_or_succeeds()
    {
        using var a = await KeyServices.OpenAsync(DbPath, _clock, sharedStore: true);
        using var b = await KeyServices.OpenAsync(DbPath, _clock, sharedStore: true);
        var key = await a.Lifecycle.CreateKeyAsync(Scope, NewKey("raced"), CancellationToken.None);
        await b.Sync.CatchUpAsync(CancellationToken.None);
        var seenByB = b.Catalog.FindKey(Scope, key.KeyId)!;

        // A schedules deletion; B, not caught up, disables: the write is computed again and refused as AWS refuses it.
        await a.Lifecycle.ScheduleDeletionAsync(key, 7, CancellationToken.None);
        var refused = await Assert.ThrowsAsync<KmsException>(() => b.Lifecycle.DisableAsync(seenByB, CancellationToken.None));
        Assert.Equal(KmsErrorCodes.KMSInvalidStateException, refused.Code);
        Assert.Equal(KeyState.PendingDeletion, b.Catalog.FindKey(Scope, key.KeyId)!.KeyState);

        // A cancels and B catches up; then A puts a policy and B, not caught up, changes the description: B's write is
        // made on top of A's, and neither change is lost.
        await a.Lifecycle.CancelDeletionAsync(a.Catalog.FindKey(Scope, key.KeyId)!, CancellationToken.None);
        await b.Sync.CatchUpAsync(CancellationToken.None);
        const string Policy = """{"Version":"2012-10-17","Statement":[]}""";
        await a.Policies.PutPolicyAsync(a.Catalog.FindKey(Scope, key.KeyId)!, Policy, CancellationToken.None);
        var described = await b.Lifecycle.UpdateDescriptionAsync(seenByB, "from B", CancellationToken.None);
        Assert.Equal(("from B", Policy, KeyState.Disabled, 5L), (described.Description, described.Policy, described.KeyState, described.Version));
        var stored = Assert.Single((await a.Store.LoadAsync()).Keys);
        Assert.Equal(("from B", Policy, KeyState.Disabled, 5L), (stored.Description, stored.Policy, stored.KeyState, stored.Version));
    }

    [Fact]
    public async Task Two_nodes_sweeping_one_expired_key_delete_it_once_and_neither_fails()
    {
        using var a = await KeyServices.OpenAsync(DbPath, _clock, sharedStore: true);
        using var b = await KeyServices.OpenAsync(DbPath, _clock, sharedStore: true);
        var key = await a.Lifecycle.CreateKeyAsync(Scope, NewKey("doomed"), CancellationToken.None);
        await a.Lifecycle.ScheduleDeletionAsync(key, 7, CancellationToken.None);
        await b.Sync.CatchUpAsync(CancellationToken.None);
        _clock.Advance(TimeSpan.FromDays(8));

        // Both scanned before either deleted.
        var first = await a.Lifecycle.DeleteExpiredKeysAsync(CancellationToken.None);
        var second = await b.Lifecycle.DeleteExpiredKeysAsync(CancellationToken.None);

        Assert.Single(first);
        Assert.Empty(second);
        Assert.Null(b.Catalog.FindKey(Scope, key.KeyId));
        Assert.Equal(key.Materials.Select(m => m.HsmLabel), a.Hsm.Destroyed);
        Assert.Empty(b.Hsm.Destroyed);
    }

    [Fact]
    public async Task Concurrent_callers_share_one_query_but_never_one_that_began_before_them()
    {
        var store = new GatedStore(await SqliteKmsStore.OpenAsync(DbPath));
        var catalog = new KeyCatalog();
        var sync = new CatalogSync(catalog, store, new StoreSharing(true), NullLogger<CatalogSync>.Instance);
        sync.Loaded(await store.LoadAsync());

        var first = sync.CatchUpAsync(CancellationToken.None).AsTask();
        var running = await store.Started.Reader.ReadAsync(); // the first query is under way
        // Arrived while it runs: they wait for the next query, which starts only when the first ends.
        var later = Enumerable.Range(0, 64).Select(_ => sync.CatchUpAsync(CancellationToken.None).AsTask()).ToList();
        var writer = await SqliteKmsStore.OpenAsync(DbPath);
        await writer.SaveKeyAsync(TestKeys.Create());

        running.SetResult();
        await first;
        Assert.Null(catalog.FindKey(Scope, TestKeys.KeyId)); // the first query may have been answered before the write
        Assert.All(later, t => Assert.False(t.IsCompleted));

        var next = await store.Started.Reader.ReadAsync();
        next.SetResult();
        await Task.WhenAll(later);

        Assert.Equal(2, sync.Queries);
        Assert.NotNull(catalog.FindKey(Scope, TestKeys.KeyId));
    }

    [Fact]
    public async Task A_node_whose_changes_were_pruned_reloads_everything_and_a_node_not_shared_never_asks()
    {
        using var a = await KeyServices.OpenAsync(DbPath, _clock, sharedStore: true);
        using var b = await KeyServices.OpenAsync(DbPath, _clock, sharedStore: true);
        var key = await a.Lifecycle.CreateKeyAsync(Scope, NewKey("one"), CancellationToken.None);
        await a.Lifecycle.DisableAsync(key, CancellationToken.None);
        await a.Store.PruneChangesAsync(keep: 1);

        await b.Sync.CatchUpAsync(CancellationToken.None);

        Assert.Equal(1, b.Sync.FullReloads);
        Assert.Equal(KeyState.Disabled, b.Catalog.FindKey(Scope, key.KeyId)!.KeyState);

        var store = new GatedStore(await SqliteKmsStore.OpenAsync(DbPath)) { Open = true };
        var alone = new CatalogSync(new KeyCatalog(), store, StoreSharing.NotShared, NullLogger<CatalogSync>.Instance);
        await alone.CatchUpAsync(CancellationToken.None);
        Assert.Equal(0, alone.Queries);
        Assert.Equal(0, store.Reads);
    }

    private static NewKey NewKey(string description) =>
        new(description, KeySpec.SYMMETRIC_DEFAULT, KeyUsageType.ENCRYPT_DECRYPT, OriginType.AWS_KMS, false, "{}", []);

    /// <summary>One node: its own store instance, catalogue, sync and writer, sharing the store with the others.</summary>
    /// <summary>A store whose change-feed reads each wait, once started, until the test lets them finish.</summary>
    private sealed class GatedStore(IKmsStore inner) : IKmsStore
    {
        private int _reads;

        public System.Threading.Channels.Channel<TaskCompletionSource> Started { get; } = System.Threading.Channels.Channel.CreateUnbounded<TaskCompletionSource>();

        /// <summary>When true, reads are not held.</summary>
        public bool Open { get; init; }

        public int Reads => _reads;

        public string StoreId => inner.StoreId;

        public async Task<StoreChanges> ReadChangesAsync(long after, int limit, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _reads);
            if (!Open)
            {
                var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                // The query "starts" here: what it reads is what was committed before the gate opens at the latest.
                var read = inner.ReadChangesAsync(after, limit, cancellationToken);
                await read;
                Started.Writer.TryWrite(gate);
                await gate.Task;
                return await read;
            }

            return await inner.ReadChangesAsync(after, limit, cancellationToken);
        }

        public Task<StoreSnapshot> LoadAsync(CancellationToken cancellationToken = default) => inner.LoadAsync(cancellationToken);

        public Task<StoreSnapshot> LoadSomeAsync(IReadOnlyCollection<string> keyIds, IReadOnlyCollection<string> aliasNames, CancellationToken cancellationToken = default) =>
            inner.LoadSomeAsync(keyIds, aliasNames, cancellationToken);

        public Task PruneChangesAsync(int keep, CancellationToken cancellationToken = default) => inner.PruneChangesAsync(keep, cancellationToken);

        public Task SaveKeyAsync(KeyRecord key, CancellationToken cancellationToken = default) => inner.SaveKeyAsync(key, cancellationToken);

        public Task SaveKeysAsync(IReadOnlyList<KeyRecord> keys, CancellationToken cancellationToken = default) => inner.SaveKeysAsync(keys, cancellationToken);

        public Task<bool> DeleteKeyAsync(KeyVersion current, CancellationToken cancellationToken = default) => inner.DeleteKeyAsync(current, cancellationToken);

        public Task SaveAliasAsync(AliasRecord alias, IReadOnlyList<KeyVersion> next, CancellationToken cancellationToken = default) => inner.SaveAliasAsync(alias, next, cancellationToken);

        public Task DeleteAliasAsync(KeyVersion next, string aliasName, CancellationToken cancellationToken = default) => inner.DeleteAliasAsync(next, aliasName, cancellationToken);

        public Task SaveGrantAsync(KeyVersion next, GrantRecord grant, CancellationToken cancellationToken = default) => inner.SaveGrantAsync(next, grant, cancellationToken);

        public Task DeleteGrantAsync(KeyVersion next, string grantId, CancellationToken cancellationToken = default) => inner.DeleteGrantAsync(next, grantId, cancellationToken);

        public Task<(int Keys, int Aliases)> DeleteAllAsync(CancellationToken cancellationToken = default) => inner.DeleteAllAsync(cancellationToken);
    }
}
