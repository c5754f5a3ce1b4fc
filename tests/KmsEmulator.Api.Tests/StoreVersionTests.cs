using Dapper;
using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// Key versions (optimistic concurrency) on the SQLite store on a real file: every write to a key steps its version,
/// in the store and in the catalogue alike, and a write computed from a stale version fails instead of overwriting.
/// </summary>
public sealed class StoreVersionTests : IDisposable
{
    private static readonly KeyScope Scope = TestKeys.Scope;
    private const string Principal = "arn:aws:iam::111122223333:user/dave";

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "kmsemu-versions-" + Guid.NewGuid().ToString("N"));
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.FromUnixTimeSeconds(1_700_000_000));

    private string DbPath => Path.Combine(_dir, "kms.db");

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Every_kind_of_write_steps_the_key_version_once_in_the_store_and_in_the_catalogue()
    {
        using var kms = await KeyServices.OpenAsync(DbPath, _clock);
        var a = await kms.Lifecycle.CreateKeyAsync(Scope, NewKey("a"), CancellationToken.None);
        var b = await kms.Lifecycle.CreateKeyAsync(Scope, NewKey("b"), CancellationToken.None);
        await AssertVersionAsync(kms, a, 1);

        await kms.Lifecycle.DisableAsync(a, CancellationToken.None);
        await AssertVersionAsync(kms, a, 2);
        await kms.Lifecycle.EnableAsync(a, CancellationToken.None);
        await AssertVersionAsync(kms, a, 3);
        await kms.Lifecycle.UpdateDescriptionAsync(a, "described", CancellationToken.None);
        await AssertVersionAsync(kms, a, 4);
        await kms.Policies.PutPolicyAsync(a, """{"Version":"2012-10-17","Statement":[]}""", CancellationToken.None);
        await AssertVersionAsync(kms, a, 5);
        await kms.Tags.TagAsync(a, [new KeyTag("team", "blue")], CancellationToken.None);
        await AssertVersionAsync(kms, a, 6);
        await kms.Tags.UntagAsync(a, ["team"], CancellationToken.None);
        await AssertVersionAsync(kms, a, 7);

        await kms.Aliases.CreateAliasAsync(Scope, "alias/app", a, CancellationToken.None);
        await AssertVersionAsync(kms, a, 8);
        await kms.Aliases.UpdateAliasAsync(Scope, "alias/app", b, CancellationToken.None);
        await AssertVersionAsync(kms, a, 9);
        await AssertVersionAsync(kms, b, 2);
        await kms.Aliases.DeleteAliasAsync(Scope, "alias/app", CancellationToken.None);
        await AssertVersionAsync(kms, b, 3);

        var request = new NewGrant { GranteePrincipal = Principal, Operations = [GrantOperation.Encrypt], Name = "app" };
        var (grant, _) = await kms.Grants.CreateGrantAsync(a, request, Scope.AccountId, CancellationToken.None);
        await AssertVersionAsync(kms, a, 10);
        var (retried, _) = await kms.Grants.CreateGrantAsync(a, request, Scope.AccountId, CancellationToken.None);
        Assert.Equal(grant.GrantId, retried.GrantId);
        await AssertVersionAsync(kms, a, 10);
        await kms.Grants.DeleteGrantAsync(a, grant.GrantId, CancellationToken.None);
        await AssertVersionAsync(kms, a, 11);

        await kms.Lifecycle.ScheduleDeletionAsync(a, 7, CancellationToken.None);
        await AssertVersionAsync(kms, a, 12);
        await kms.Lifecycle.CancelDeletionAsync(a, CancellationToken.None);
        await AssertVersionAsync(kms, a, 13);
        await AssertVersionAsync(kms, b, 3);
    }

    [Fact]
    public async Task A_refused_write_steps_no_version()
    {
        using var kms = await KeyServices.OpenAsync(DbPath, _clock);
        var key = await kms.Lifecycle.CreateKeyAsync(Scope, NewKey("a"), CancellationToken.None);

        await Assert.ThrowsAsync<KmsException>(() => kms.Tags.TagAsync(key, [new KeyTag("aws:reserved", "x")], CancellationToken.None));
        await Assert.ThrowsAsync<KmsException>(() => kms.Lifecycle.CancelDeletionAsync(key, CancellationToken.None));
        await Assert.ThrowsAsync<KmsException>(() => kms.Aliases.DeleteAliasAsync(Scope, "alias/none", CancellationToken.None));

        await AssertVersionAsync(kms, key, 1);
    }

    [Fact]
    public async Task The_store_refuses_each_kind_of_write_computed_from_a_stale_version_and_changes_nothing()
    {
        var store = await SqliteKmsStore.OpenAsync(DbPath);
        var key = TestKeys.Create();
        var grant = Grant();
        await store.SaveKeyAsync(key);
        await store.SaveGrantAsync(new KeyVersion(Scope, key.KeyId, 2), grant);
        await store.SaveAliasAsync(Alias(key.KeyId), [new KeyVersion(Scope, key.KeyId, 3)]);
        await store.SaveKeyAsync(key with { Description = "current", Version = 4 });
        // Every write below was computed from version 3 (or from no key at all), and the key is at 4.
        var stale = new KeyVersion(Scope, key.KeyId, 4);

        var conflicts = new List<KeyVersionConflictException>
        {
            await Assert.ThrowsAsync<KeyVersionConflictException>(() => store.SaveKeyAsync(key)),
            await Assert.ThrowsAsync<KeyVersionConflictException>(() => store.SaveKeyAsync(key with { Description = "stale", Version = 4 })),
            await Assert.ThrowsAsync<KeyVersionConflictException>(() => store.SaveGrantAsync(stale, Grant())),
            await Assert.ThrowsAsync<KeyVersionConflictException>(() => store.DeleteGrantAsync(stale, grant.GrantId)),
            await Assert.ThrowsAsync<KeyVersionConflictException>(() => store.SaveAliasAsync(Alias(key.KeyId) with { AliasName = "alias/other" }, [stale])),
            await Assert.ThrowsAsync<KeyVersionConflictException>(() => store.DeleteAliasAsync(stale, "alias/app")),
            await Assert.ThrowsAsync<KeyVersionConflictException>(() => store.DeleteKeyAsync(new KeyVersion(Scope, key.KeyId, 3))),
        };

        Assert.All(conflicts, c => Assert.Equal(4, c.Stored));
        Assert.Equal([0L, 3, 3, 3, 3, 3, 3], conflicts.Select(c => c.Expected));
        Assert.Contains(key.KeyId, conflicts[1].Message);
        Assert.Contains("at version 4", conflicts[1].Message);
        var snapshot = await store.LoadAsync();
        var stored = Assert.Single(snapshot.Keys);
        Assert.Equal(("current", 4L), (stored.Description, stored.Version));
        Assert.Equal([grant.GrantId], stored.Grants.Keys);
        Assert.Equal("alias/app", Assert.Single(snapshot.Aliases).AliasName);
    }

    [Fact]
    public async Task A_delete_of_something_that_is_not_there_steps_no_version_and_is_not_an_error()
    {
        var store = await SqliteKmsStore.OpenAsync(DbPath);
        var key = TestKeys.Create();
        await store.SaveKeyAsync(key);

        await store.DeleteGrantAsync(new KeyVersion(Scope, key.KeyId, 2), Grant().GrantId);
        await store.DeleteAliasAsync(new KeyVersion(Scope, key.KeyId, 2), "alias/none");
        await store.DeleteKeyAsync(new KeyVersion(Scope, "99999999-12ab-34cd-56ef-1234567890ab", 1));

        Assert.Equal(1, Assert.Single((await store.LoadAsync()).Keys).Version);
    }

    [Fact]
    public async Task A_write_to_a_key_that_is_not_in_the_store_fails_as_a_conflict()
    {
        var store = await SqliteKmsStore.OpenAsync(DbPath);
        var missing = new KeyVersion(Scope, TestKeys.KeyId, 2);

        var update = await Assert.ThrowsAsync<KeyVersionConflictException>(() => store.SaveKeyAsync(TestKeys.Create() with { Version = 2 }));
        var grant = await Assert.ThrowsAsync<KeyVersionConflictException>(() => store.SaveGrantAsync(missing, Grant()));

        Assert.Null(update.Stored);
        Assert.Null(grant.Stored);
        Assert.Contains("not in the store", update.Message);
        Assert.Empty((await store.LoadAsync()).Keys);
    }

    [Fact]
    public async Task A_write_after_another_process_changed_the_key_fails_as_an_internal_error_and_the_catalogue_reloads()
    {
        using var kms = await KeyServices.OpenAsync(DbPath, _clock);
        var key = await kms.Lifecycle.CreateKeyAsync(Scope, NewKey("mine"), CancellationToken.None);
        var other = await SqliteKmsStore.OpenAsync(DbPath);
        await other.SaveKeyAsync(key with { Description = "other process", Version = 2 });

        var error = await Assert.ThrowsAsync<KeyVersionConflictException>(() => kms.Lifecycle.UpdateDescriptionAsync(key, "lost", CancellationToken.None));

        Assert.IsNotAssignableFrom<KmsException>(error);
        Assert.Equal((1L, 2L), (error.Expected, error.Stored));
        var reloaded = kms.Catalog.FindKey(Scope, key.KeyId)!;
        Assert.Equal(("other process", 2L), (reloaded.Description, reloaded.Version));

        var updated = await kms.Lifecycle.UpdateDescriptionAsync(key, "mine again", CancellationToken.None);

        Assert.Equal(3, updated.Version);
        Assert.Equal("mine again", Assert.Single((await other.LoadAsync()).Keys).Description);
    }

    [Fact]
    public async Task Refreshing_the_catalogue_takes_in_what_another_process_wrote()
    {
        using var kms = await KeyServices.OpenAsync(DbPath, _clock);
        var kept = await kms.Lifecycle.CreateKeyAsync(Scope, NewKey("kept"), CancellationToken.None);
        var gone = await kms.Lifecycle.CreateKeyAsync(Scope, NewKey("gone"), CancellationToken.None);
        var other = await SqliteKmsStore.OpenAsync(DbPath);
        var added = TestKeys.Create("99999999-12ab-34cd-56ef-1234567890ab");
        await other.SaveKeyAsync(added);
        await other.SaveAliasAsync(Alias(added.KeyId), [new KeyVersion(Scope, added.KeyId, 2)]);
        await other.SaveKeyAsync(kept with { KeyState = KeyState.Disabled, Version = 2 });
        await other.DeleteKeyAsync(KeyVersion.Of(gone));

        await kms.Writer.RefreshCatalogAsync(CancellationToken.None);

        Assert.Equal((KeyState.Disabled, 2L), (kms.Catalog.FindKey(Scope, kept.KeyId)!.KeyState, kms.Catalog.FindKey(Scope, kept.KeyId)!.Version));
        Assert.Equal(2, kms.Catalog.FindKey(Scope, added.KeyId)!.Version);
        Assert.Equal(added.KeyId, kms.Catalog.FindAlias(Scope, "alias/app")!.TargetKeyId);
        Assert.Null(kms.Catalog.FindKey(Scope, gone.KeyId));
    }

    [Fact]
    public async Task A_database_made_before_key_versions_migrates_and_its_keys_start_at_version_1()
    {
        var versionsMigration = SqliteMigrations.Available.Single(m => m.Name.EndsWith("_key_versions.sql", StringComparison.Ordinal)).Version;
        Directory.CreateDirectory(_dir);
        await using (var connection = new SqliteConnection($"Data Source={DbPath}"))
        {
            await connection.OpenAsync();
            foreach (var (version, name) in SqliteMigrations.Available.Where(m => m.Version < versionsMigration))
            {
                await using var stream = typeof(SqliteMigrations).Assembly.GetManifestResourceStream(name)!;
                await connection.ExecuteAsync(await new StreamReader(stream).ReadToEndAsync());
                await connection.ExecuteAsync($"PRAGMA user_version = {version};");
            }

            await connection.ExecuteAsync(
                """
                INSERT INTO keys (account_id, region, key_id, description, key_spec, key_usage, origin, key_manager, key_state,
                                  creation_date, deletion_date, pending_window_days, multi_region, policy, current_material_version)
                VALUES ('111122223333', 'us-east-1', '1234abcd-12ab-34cd-56ef-1234567890ab', 'old', 'SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT',
                        'AWS_KMS', 'CUSTOMER', 'Enabled', 1700000000000, NULL, NULL, 0, '{}', 1);
                INSERT INTO key_materials (account_id, region, key_id, version, material_id, hsm_label, created_at)
                VALUES ('111122223333', 'us-east-1', '1234abcd-12ab-34cd-56ef-1234567890ab', 1, 'aa', 'kmsemu/old/1234abcd-12ab-34cd-56ef-1234567890ab/1', 1700000000000);
                INSERT INTO aliases (account_id, region, alias_name, target_key_id, creation_date, last_updated_date)
                VALUES ('111122223333', 'us-east-1', 'alias/old', '1234abcd-12ab-34cd-56ef-1234567890ab', 1700000000000, 1700000000000);
                """);
        }

        SqliteConnection.ClearAllPools();
        var store = await SqliteKmsStore.OpenAsync(DbPath);

        var loaded = Assert.Single((await store.LoadAsync()).Keys);
        Assert.Equal(("old", 1L, 1), (loaded.Description, loaded.Version, loaded.CurrentMaterialVersion));
        await store.SaveKeyAsync(loaded with { Description = "new", Version = 2 });
        await Assert.ThrowsAsync<KeyVersionConflictException>(() => store.SaveKeyAsync(loaded with { Description = "stale", Version = 2 }));
        await store.SaveAliasAsync(Alias(loaded.KeyId) with { AliasName = "alias/new" }, [KeyVersion.Of(loaded).Next.Next]);
        var snapshot = await store.LoadAsync();
        Assert.Equal(("new", 3L), (snapshot.Keys[0].Description, snapshot.Keys[0].Version));
        Assert.Equal(["alias/new", "alias/old"], snapshot.Aliases.Select(a => a.AliasName).Order(StringComparer.Ordinal));
    }

    private static NewKey NewKey(string description) =>
        new(description, KeySpec.SYMMETRIC_DEFAULT, KeyUsageType.ENCRYPT_DECRYPT, OriginType.AWS_KMS, false, "{}", []);

    private static AliasRecord Alias(string keyId) =>
        new(Scope, "alias/app", keyId, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch);

    private static GrantRecord Grant() => new()
    {
        GrantId = GrantToken.NewGrantId(),
        GranteePrincipal = Principal,
        Operations = [GrantOperation.Decrypt],
        IssuingAccount = Scope.AccountId,
        CreationDate = DateTimeOffset.UnixEpoch,
    };

    /// <summary>The key is at <paramref name="expected"/> in the catalogue and in the store.</summary>
    private static async Task AssertVersionAsync(KeyServices kms, KeyRecord key, long expected)
    {
        Assert.Equal(expected, kms.Catalog.FindKey(key.Scope, key.KeyId)!.Version);
        var stored = await kms.Store.LoadAsync();
        Assert.Equal(expected, stored.Keys.Single(k => k.KeyId == key.KeyId).Version);
    }
}
