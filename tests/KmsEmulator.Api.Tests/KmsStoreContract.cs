using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// What every <see cref="IKmsStore"/> promises, tested through the interface only, so that a second implementation
/// (PostgreSQL) runs the same tests unchanged: derive from this class, supply a fresh empty store per test, a way to
/// open the same data again, and a count of the rows that still name a key.
/// <para>
/// The promises: what is saved loads back exactly (keys with every field, material versions, tags in order, policies,
/// aliases, grants with their constraints) and survives reopening; saving again replaces a key's changeable state
/// without touching its grants and aliases and never drops a material version; keys, aliases and grants are kept apart
/// by account and region; a grant id and an HSM label belong to one key only; aliases and grants need their key;
/// deleting a key leaves no row that names it; each method is one transaction, so a save that fails changes nothing.
/// Every write names the version it leaves each key at (<see cref="IKmsStore"/>); the writes here give the versions
/// the store expects, StoreVersionTests covers stale versions, and two instances of a store over the same data that
/// write one key at once make exactly one of the writes.
/// </para>
/// <para>
/// The tests are skippable so that an implementation whose server is not installed here can skip them all from
/// <see cref="CreateStoreAsync"/> (with <c>Skip</c>); the SQLite store never does.
/// </para>
/// </summary>
public abstract class KmsStoreContract : IAsyncLifetime
{
    protected static readonly KeyScope Scope = new("111122223333", "us-east-1");
    protected static readonly KeyScope OtherRegion = new("111122223333", "eu-west-1");
    protected static readonly KeyScope OtherAccount = new("444455556666", "us-east-1");

    private const string KeyA = "1234abcd-12ab-34cd-56ef-1234567890ab";
    private const string KeyB = "99999999-12ab-34cd-56ef-1234567890ab";

    /// <summary>Millisecond times: the precision the store promises for dates.</summary>
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_123);

    private IKmsStore? _store;

    protected IKmsStore Store => _store ?? throw new InvalidOperationException("The store is not open yet.");

    /// <summary>A new, empty store of the implementation under test, of this test alone.</summary>
    protected abstract Task<IKmsStore> CreateStoreAsync();

    /// <summary>Another instance over the same data, as a restarted emulator would open it.</summary>
    protected abstract Task<IKmsStore> ReopenStoreAsync();

    /// <summary>
    /// For every place the implementation keeps rows that name a key (SQLite: each table with a key id column), how
    /// many rows there name the key <paramref name="keyId"/> of <paramref name="scope"/>, by a name for the place. Read
    /// from the storage itself, not through <see cref="IKmsStore"/>.
    /// </summary>
    protected abstract Task<IReadOnlyDictionary<string, long>> CountRowsNamingKeyAsync(KeyScope scope, string keyId);

    /// <summary>Removes whatever <see cref="CreateStoreAsync"/> made.</summary>
    protected abstract Task DestroyStoreAsync();

    public async Task InitializeAsync() => _store = await CreateStoreAsync();

    public Task DisposeAsync() => DestroyStoreAsync();

    // ---------------------------------------------------------------- keys

    [SkippableFact]
    public async Task A_new_store_has_an_id_and_nothing_in_it()
    {
        var snapshot = await Store.LoadAsync();

        Assert.False(string.IsNullOrWhiteSpace(Store.StoreId));
        Assert.Empty(snapshot.Keys);
        Assert.Empty(snapshot.Aliases);
    }

    [SkippableFact]
    public async Task A_saved_key_loads_with_every_field_as_written()
    {
        var full = Key(KeyA, Scope) with
        {
            Description = "Schlüssel für Zahlungen — \"prod\"\n",
            KeySpec = KeySpec.RSA_3072,
            KeyUsage = KeyUsageType.SIGN_VERIFY,
            Origin = OriginType.EXTERNAL,
            KeyManager = KeyManagerType.AWS,
            KeyState = KeyState.PendingDeletion,
            DeletionDate = T0.AddDays(7),
            PendingDeletionWindowInDays = 7,
            MultiRegion = true,
            Materials = [Material(KeyA, 1, T0), Material(KeyA, 2, T0.AddMilliseconds(1))],
            CurrentMaterialVersion = 2,
            Tags = [new KeyTag("zeta", "1"), new KeyTag("alpha", ""), new KeyTag("Ünïcode", "välue")],
        };
        // The other end of every optional field: no materials (PendingImport), no tags, no deletion date.
        var bare = Key(KeyB, Scope) with { KeyState = KeyState.PendingImport, Materials = [], CurrentMaterialVersion = 0, Tags = [] };

        await Store.SaveKeyAsync(full);
        await Store.SaveKeyAsync(bare);
        var keys = (await Store.LoadAsync()).Keys;

        Assert.Equal(2, keys.Count);
        AssertSameKey(full, keys.Single(k => k.KeyId == KeyA));
        AssertSameKey(bare, keys.Single(k => k.KeyId == KeyB));
    }

    [SkippableFact]
    public async Task Imported_material_state_and_import_parameters_load_as_saved_and_expired_parameters_go_when_saved_without_them()
    {
        var parameters = new ImportParameters("ab".PadRight(64, 'c'), "kmsemu/test/wrap-1", "RSA_3072", "RSA_AES_KEY_WRAP_SHA_256", T0, T0.AddHours(24));
        var other = parameters with { TokenId = "de".PadRight(64, 'f'), HsmLabel = "kmsemu/test/wrap-2", CreatedAt = T0.AddSeconds(1), ValidTo = T0.AddHours(25) };
        var key = Key(KeyA, Scope) with
        {
            Origin = OriginType.EXTERNAL,
            Import = new ImportedMaterial("0a".PadRight(64, '1'), Present: true, "KEY_MATERIAL_EXPIRES", T0.AddDays(3), "my material", KeyState.Disabled),
            ImportParameters = [parameters, other],
        };

        await Store.SaveKeyAsync(key);
        AssertSameKey(key, (await Store.LoadAsync()).Keys.Single());

        var deleted = key with
        {
            KeyState = KeyState.PendingImport,
            Import = key.Import! with { Present = false, ExpirationModel = null, ValidTo = null },
            ImportParameters = [other],
            Version = 2,
        };
        await Store.SaveKeyAsync(deleted);
        AssertSameKey(deleted, (await Store.LoadAsync()).Keys.Single());
    }

    [SkippableFact]
    public async Task Multi_Region_keys_load_with_their_primary_region_and_settled_state_and_change_them()
    {
        const string mrk = "mrk-0123456789abcdef0123456789abcdef";
        var primary = Key(mrk, Scope) with { MultiRegion = true, PrimaryRegion = Scope.Region };
        var replica = Key(mrk, OtherRegion) with
        {
            MultiRegion = true,
            PrimaryRegion = Scope.Region,
            KeyState = KeyState.Creating,
            SettledState = KeyState.Enabled,
            Materials = [primary.Materials[0] with { HsmLabel = primary.Materials[0].HsmLabel + "@" + OtherRegion.Region }],
        };
        await Store.SaveKeyAsync(primary);
        await Store.SaveKeyAsync(replica);
        var keys = (await Store.LoadAsync()).Keys;
        AssertSameKey(primary, keys.Single(k => k.Scope == Scope));
        AssertSameKey(replica, keys.Single(k => k.Scope == OtherRegion));

        // UpdatePrimaryRegion: both change together; the settled state goes when the transient state ends.
        var newReplica = primary with { PrimaryRegion = OtherRegion.Region, KeyState = KeyState.Updating, SettledState = KeyState.Enabled, Version = 2 };
        var newPrimary = replica with { PrimaryRegion = OtherRegion.Region, KeyState = KeyState.Updating, SettledState = KeyState.Enabled, Version = 2 };
        await Store.SaveKeysAsync([newReplica, newPrimary]);
        var settled = newPrimary with { KeyState = KeyState.Enabled, SettledState = null, Version = 3 };
        await Store.SaveKeyAsync(settled);
        keys = (await Store.LoadAsync()).Keys;
        AssertSameKey(newReplica, keys.Single(k => k.Scope == Scope));
        AssertSameKey(settled, keys.Single(k => k.Scope == OtherRegion));
        Assert.False(keys.Single(k => k.Scope == Scope).IsMultiRegionPrimary);
        Assert.True(keys.Single(k => k.Scope == OtherRegion).IsMultiRegionPrimary);
    }

    [SkippableFact]
    public async Task Keys_saved_together_are_saved_all_or_none()
    {
        var a = Key(KeyA, Scope);
        var b = Key(KeyA, OtherRegion) with { Materials = [Material(KeyA, 1, T0) with { HsmLabel = "kmsemu/test/a-west" }] };
        await Store.SaveKeysAsync([a, b]);
        var keys = (await Store.LoadAsync()).Keys;
        AssertSameKey(a, keys.Single(k => k.Scope == Scope));
        AssertSameKey(b, keys.Single(k => k.Scope == OtherRegion));

        // The second key is stale (written as version 3 while the store holds version 1): the first key's change,
        // which alone would be fine, must not be written either.
        var rotatedA = a with { Materials = [.. a.Materials, Material(KeyA, 2, T0.AddDays(1))], CurrentMaterialVersion = 2, Version = 2 };
        var staleB = b with { Description = "stale", Version = 3 };
        await Assert.ThrowsAsync<KeyVersionConflictException>(() => Store.SaveKeysAsync([rotatedA, staleB]));
        keys = (await Store.LoadAsync()).Keys;
        AssertSameKey(a, keys.Single(k => k.Scope == Scope));
        AssertSameKey(b, keys.Single(k => k.Scope == OtherRegion));
    }

    [SkippableFact]
    public async Task A_reopened_store_has_the_same_id_and_everything_that_was_saved()
    {
        var key = Key(KeyA, Scope) with { Tags = [new KeyTag("b", "2"), new KeyTag("a", "1")] };
        var alias = new AliasRecord(Scope, "alias/app", KeyA, T0, T0.AddSeconds(1));
        var grant = Grant(KeyA);
        await Store.SaveKeyAsync(key);
        await Store.SaveAliasAsync(alias, [new KeyVersion(Scope, KeyA, 2)]);
        await Store.SaveGrantAsync(new KeyVersion(Scope, KeyA, 3), grant);

        var reopened = await ReopenStoreAsync();
        var snapshot = await reopened.LoadAsync();

        Assert.Equal(Store.StoreId, reopened.StoreId);
        AssertSameKey(key with { Grants = KeyRecord.NoGrants.Add(grant.GrantId, grant), Version = 3 }, Assert.Single(snapshot.Keys));
        Assert.Equal(alias, Assert.Single(snapshot.Aliases));
    }

    [SkippableFact]
    public async Task Saving_a_key_again_replaces_its_state_description_deletion_date_policy_and_tags()
    {
        var key = Key(KeyA, Scope) with { Tags = [new KeyTag("a", "1"), new KeyTag("b", "2")] };
        await Store.SaveKeyAsync(key);
        var changed = key with
        {
            Description = "changed",
            KeyState = KeyState.PendingDeletion,
            DeletionDate = T0.AddDays(30),
            PendingDeletionWindowInDays = 30,
            Policy = """{"Version":"2012-10-17","Statement":[]}""",
            Tags = [new KeyTag("c", "3"), new KeyTag("a", "changed")],
            Version = 2,
        };

        await Store.SaveKeyAsync(changed);
        AssertSameKey(changed, Assert.Single((await Store.LoadAsync()).Keys));

        // ... and back: a cancelled deletion clears the date, an emptied tag list loads empty.
        var restored = changed with { KeyState = KeyState.Disabled, DeletionDate = null, PendingDeletionWindowInDays = null, Tags = [], Version = 3 };
        await Store.SaveKeyAsync(restored);
        AssertSameKey(restored, Assert.Single((await Store.LoadAsync()).Keys));
    }

    [SkippableFact]
    public async Task Saving_a_key_with_a_new_material_version_adds_it_and_keeps_the_old_one()
    {
        var key = Key(KeyA, Scope);
        await Store.SaveKeyAsync(key);
        var rotated = key with { Materials = [.. key.Materials, Material(KeyA, 2, T0.AddDays(365))], CurrentMaterialVersion = 2, Version = 2 };

        await Store.SaveKeyAsync(rotated);

        var loaded = Assert.Single((await Store.LoadAsync()).Keys);
        AssertSameKey(rotated, loaded);
        Assert.Equal([1, 2], loaded.Materials.Select(m => m.Version));
    }

    [SkippableFact]
    public async Task Saving_a_key_again_leaves_its_grants_and_aliases_alone()
    {
        var key = Key(KeyA, Scope);
        var grant = Grant(KeyA);
        var alias = new AliasRecord(Scope, "alias/app", KeyA, T0, T0);
        await Store.SaveKeyAsync(key);
        await Store.SaveGrantAsync(new KeyVersion(Scope, KeyA, 2), grant);
        await Store.SaveAliasAsync(alias, [new KeyVersion(Scope, KeyA, 3)]);

        await Store.SaveKeyAsync(key with { KeyState = KeyState.Disabled, Description = "disabled", Version = 4 });

        var snapshot = await Store.LoadAsync();
        AssertSameGrants([grant], Assert.Single(snapshot.Keys).Grants.Values);
        Assert.Equal(alias, Assert.Single(snapshot.Aliases));
    }

    [SkippableFact]
    public async Task A_key_id_in_another_account_or_region_is_another_key()
    {
        var here = Key(KeyA, Scope) with { Description = "here" };
        var region = Key(KeyA, OtherRegion) with { Description = "other region" };
        var account = Key(KeyA, OtherAccount) with { Description = "other account" };
        await Store.SaveKeyAsync(here);
        await Store.SaveKeyAsync(region);
        await Store.SaveKeyAsync(account);

        await Store.SaveKeyAsync(here with { Description = "changed", Tags = [new KeyTag("only", "here")], Version = 2 });
        await Store.DeleteKeyAsync(new KeyVersion(OtherAccount, KeyA, 1));

        var keys = (await Store.LoadAsync()).Keys;
        Assert.Equal(2, keys.Count);
        AssertSameKey(here with { Description = "changed", Tags = [new KeyTag("only", "here")], Version = 2 }, keys.Single(k => k.Scope == Scope));
        AssertSameKey(region, keys.Single(k => k.Scope == OtherRegion));
    }

    // ---------------------------------------------------------------- policies

    [SkippableFact]
    public async Task A_policy_loads_exactly_as_written_and_keys_sharing_a_policy_text_each_load_it()
    {
        // Whitespace, key order, escapes and non-ASCII text are the caller's: GetKeyPolicy returns the text as given.
        var written = "{\n  \"Version\" : \"2012-10-17\",\r\n\t\"Statement\":[{\"Sid\":\"Ä \\u00e9 \\\"q\\\"\",\"Effect\":\"Allow\","
            + "\"Principal\":{\"AWS\":\"*\"},\"Action\":\"kms:*\",\"Resource\":\"*\"}] ,\"Pad\":\"" + new string('x', 30_000) + "\"}  ";
        await Store.SaveKeyAsync(Key(KeyA, Scope) with { Policy = written });
        await Store.SaveKeyAsync(Key(KeyB, Scope) with { Policy = written });
        var other = Key(KeyA, OtherRegion) with { Policy = "{}" };
        await Store.SaveKeyAsync(other);

        var keys = (await Store.LoadAsync()).Keys;

        Assert.Equal(written, keys.Single(k => k.Scope == Scope && k.KeyId == KeyA).Policy);
        Assert.Equal(written, keys.Single(k => k.KeyId == KeyB).Policy);
        Assert.Equal("{}", keys.Single(k => k.Scope == OtherRegion).Policy);
    }

    [SkippableFact]
    public async Task A_replaced_policy_loads_as_the_new_text_and_only_on_its_key()
    {
        await Store.SaveKeyAsync(Key(KeyA, Scope) with { Policy = "{\"a\":1}" });
        await Store.SaveKeyAsync(Key(KeyB, Scope) with { Policy = "{\"a\":1}" });

        await Store.SaveKeyAsync(Key(KeyA, Scope) with { Policy = "{\"b\":2}", Version = 2 });

        var keys = (await Store.LoadAsync()).Keys;
        Assert.Equal("{\"b\":2}", keys.Single(k => k.KeyId == KeyA).Policy);
        Assert.Equal("{\"a\":1}", keys.Single(k => k.KeyId == KeyB).Policy);
    }

    // ---------------------------------------------------------------- aliases

    [SkippableFact]
    public async Task An_alias_loads_as_written_and_saving_it_again_points_it_at_another_key()
    {
        await Store.SaveKeyAsync(Key(KeyA, Scope));
        await Store.SaveKeyAsync(Key(KeyB, Scope));
        var alias = new AliasRecord(Scope, "alias/app", KeyA, T0, T0);
        await Store.SaveAliasAsync(alias, [new KeyVersion(Scope, KeyA, 2)]);
        Assert.Equal(alias, Assert.Single((await Store.LoadAsync()).Aliases));

        var moved = alias with { TargetKeyId = KeyB, LastUpdatedDate = T0.AddHours(1) };
        await Store.SaveAliasAsync(moved, [new KeyVersion(Scope, KeyA, 3), new KeyVersion(Scope, KeyB, 2)]);

        Assert.Equal(moved, Assert.Single((await Store.LoadAsync()).Aliases));
    }

    [SkippableFact]
    public async Task Deleting_an_alias_removes_only_that_alias_of_that_account_and_region()
    {
        await Store.SaveKeyAsync(Key(KeyA, Scope));
        await Store.SaveKeyAsync(Key(KeyA, OtherRegion));
        var gone = new AliasRecord(Scope, "alias/app", KeyA, T0, T0);
        var sibling = new AliasRecord(Scope, "alias/app-2", KeyA, T0, T0);
        var sameNameElsewhere = new AliasRecord(OtherRegion, "alias/app", KeyA, T0, T0);
        await Store.SaveAliasAsync(gone, [new KeyVersion(Scope, KeyA, 2)]);
        await Store.SaveAliasAsync(sibling, [new KeyVersion(Scope, KeyA, 3)]);
        await Store.SaveAliasAsync(sameNameElsewhere, [new KeyVersion(OtherRegion, KeyA, 2)]);

        await Store.DeleteAliasAsync(new KeyVersion(Scope, KeyA, 4), "alias/app");

        var snapshot = await Store.LoadAsync();
        Assert.Equal([sameNameElsewhere, sibling], snapshot.Aliases.OrderBy(a => a.AliasName, StringComparer.Ordinal).ThenBy(a => a.Scope.Region, StringComparer.Ordinal));
        Assert.Equal(2, snapshot.Keys.Count);
    }

    [SkippableFact]
    public async Task Deleting_everything_leaves_an_empty_store_with_the_same_id_that_takes_new_keys()
    {
        var id = Store.StoreId;
        var parameters = new ImportParameters("ab".PadRight(64, 'c'), "kmsemu/test/wrap-1", "RSA_3072", "RSA_AES_KEY_WRAP_SHA_256", T0, T0.AddHours(24));
        await Store.SaveKeyAsync(Key(KeyA, Scope) with { Origin = OriginType.EXTERNAL, ImportParameters = [parameters] });
        await Store.SaveKeyAsync(Key(KeyB, OtherRegion));
        await Store.SaveAliasAsync(new AliasRecord(Scope, "alias/app", KeyA, T0, T0), [new KeyVersion(Scope, KeyA, 2)]);
        await Store.SaveGrantAsync(new KeyVersion(Scope, KeyA, 3), Grant(KeyA));

        Assert.Equal((2, 1), await Store.DeleteAllAsync());

        var snapshot = await Store.LoadAsync();
        Assert.Empty(snapshot.Keys);
        Assert.Empty(snapshot.Aliases);
        AssertNoRowsNaming(await CountRowsNamingKeyAsync(Scope, KeyA));
        AssertNoRowsNaming(await CountRowsNamingKeyAsync(OtherRegion, KeyB));
        Assert.Equal(id, Store.StoreId);
        Assert.Equal((0, 0), await Store.DeleteAllAsync());

        await Store.SaveKeyAsync(Key(KeyA, Scope));
        var reopened = await ReopenStoreAsync();
        Assert.Equal(KeyA, Assert.Single((await reopened.LoadAsync()).Keys).KeyId);
    }

    // ---------------------------------------------------------------- grants

    [SkippableFact]
    public async Task A_grant_loads_with_every_field_as_written()
    {
        await Store.SaveKeyAsync(Key(KeyA, Scope));
        var equals = Grant(KeyA) with
        {
            Name = "equals",
            RetiringPrincipal = "arn:aws:iam::111122223333:user/erin",
            Operations = [GrantOperation.Encrypt, GrantOperation.Decrypt, GrantOperation.RetireGrant],
            Constraint = GrantConstraint.Of(GrantConstraintKind.EncryptionContextEquals, [KeyValuePair.Create("tenant", "acme"), KeyValuePair.Create("Stage", "Prod")]),
        };
        var subset = Grant(KeyA) with
        {
            Name = null,
            GranteePrincipal = "arn:aws:iam::444455556666:root",
            Operations = [GrantOperation.GenerateDataKey],
            Constraint = GrantConstraint.Of(GrantConstraintKind.EncryptionContextSubset, [KeyValuePair.Create("app", "billing")]),
            IssuingAccount = OtherAccount.AccountId,
        };
        var service = Grant(KeyA) with
        {
            Name = "service",
            GranteePrincipal = null,
            GranteeServicePrincipal = "logs.us-east-1.amazonaws.com",
            RetiringServicePrincipal = "logs.us-east-1.amazonaws.com",
            SourceArn = "arn:aws:logs:us-east-1:111122223333:log-group:app",
            Operations = [GrantOperation.Decrypt, GrantOperation.DescribeKey],
        };

        var version = 1;
        foreach (var grant in new[] { equals, subset, service })
        {
            await Store.SaveGrantAsync(new KeyVersion(Scope, KeyA, ++version), grant);
        }

        AssertSameGrants([equals, subset, service], Assert.Single((await Store.LoadAsync()).Keys).Grants.Values);
    }

    [SkippableFact]
    public async Task Deleting_a_grant_removes_only_that_grant()
    {
        await Store.SaveKeyAsync(Key(KeyA, Scope));
        await Store.SaveKeyAsync(Key(KeyB, Scope));
        var gone = Grant(KeyA);
        var kept = Grant(KeyA);
        var onOtherKey = Grant(KeyB);
        await Store.SaveGrantAsync(new KeyVersion(Scope, KeyA, 2), gone);
        await Store.SaveGrantAsync(new KeyVersion(Scope, KeyA, 3), kept);
        await Store.SaveGrantAsync(new KeyVersion(Scope, KeyB, 2), onOtherKey);

        await Store.DeleteGrantAsync(new KeyVersion(Scope, KeyA, 4), gone.GrantId);

        var keys = (await Store.LoadAsync()).Keys;
        AssertSameGrants([kept], keys.Single(k => k.KeyId == KeyA).Grants.Values);
        AssertSameGrants([onOtherKey], keys.Single(k => k.KeyId == KeyB).Grants.Values);
    }

    // ---------------------------------------------------------------- uniqueness and references

    [SkippableFact]
    public async Task A_grant_id_belongs_to_one_grant_across_all_keys()
    {
        await Store.SaveKeyAsync(Key(KeyA, Scope));
        await Store.SaveKeyAsync(Key(KeyB, Scope));
        await Store.SaveKeyAsync(Key(KeyA, OtherRegion));
        var grant = Grant(KeyA);
        await Store.SaveGrantAsync(new KeyVersion(Scope, KeyA, 2), grant);

        await Assert.ThrowsAnyAsync<Exception>(() => Store.SaveGrantAsync(new KeyVersion(Scope, KeyA, 3), grant with { Name = "again" }));
        await Assert.ThrowsAnyAsync<Exception>(() => Store.SaveGrantAsync(new KeyVersion(Scope, KeyB, 2), grant with { Name = "other key" }));
        await Assert.ThrowsAnyAsync<Exception>(() => Store.SaveGrantAsync(new KeyVersion(OtherRegion, KeyA, 2), grant with { Name = "other region" }));

        var keys = (await Store.LoadAsync()).Keys;
        AssertSameGrants([grant], keys.Single(k => k.Scope == Scope && k.KeyId == KeyA).Grants.Values);
        Assert.Empty(keys.Single(k => k.KeyId == KeyB).Grants);
        Assert.Empty(keys.Single(k => k.Scope == OtherRegion).Grants);
    }

    [SkippableFact]
    public async Task An_HSM_label_belongs_to_one_key_and_a_key_that_reuses_one_is_not_saved()
    {
        var owner = Key(KeyA, Scope);
        await Store.SaveKeyAsync(owner);
        var thief = Key(KeyB, Scope) with { Materials = [owner.Materials[0] with { MaterialId = new string('b', 64) }] };

        await Assert.ThrowsAnyAsync<Exception>(() => Store.SaveKeyAsync(thief));

        AssertSameKey(owner, Assert.Single((await Store.LoadAsync()).Keys));
        AssertNoRowsNaming(await CountRowsNamingKeyAsync(Scope, KeyB));
    }

    [SkippableTheory]
    [InlineData("a new material version whose HSM label another key has")]
    [InlineData("the same tag key twice")]
    public async Task A_save_of_an_existing_key_that_fails_changes_nothing(string fault)
    {
        var key = Key(KeyA, Scope) with { Tags = [new KeyTag("a", "1"), new KeyTag("b", "2")] };
        var other = Key(KeyB, Scope);
        await Store.SaveKeyAsync(key);
        await Store.SaveKeyAsync(other);
        var changed = key with { Description = "changed", KeyState = KeyState.Disabled, Policy = "{\"changed\":true}", Tags = [new KeyTag("c", "3")], Version = 2 };
        var broken = fault switch
        {
            "a new material version whose HSM label another key has" => changed with
            {
                Materials = [.. key.Materials, Material(KeyA, 2, T0) with { HsmLabel = other.Materials[0].HsmLabel }],
                CurrentMaterialVersion = 2,
            },
            "the same tag key twice" => changed with { Tags = [new KeyTag("c", "3"), new KeyTag("c", "4")] },
            _ => throw new ArgumentOutOfRangeException(nameof(fault)),
        };

        await Assert.ThrowsAnyAsync<Exception>(() => Store.SaveKeyAsync(broken));

        var keys = (await Store.LoadAsync()).Keys;
        AssertSameKey(key, keys.Single(k => k.KeyId == KeyA));
        AssertSameKey(other, keys.Single(k => k.KeyId == KeyB));
    }

    [SkippableFact]
    public async Task An_alias_or_a_grant_of_a_key_that_is_not_in_the_store_is_refused()
    {
        // The key exists, but in another region: aliases and grants stay within their account and region.
        await Store.SaveKeyAsync(Key(KeyA, OtherRegion));

        await Assert.ThrowsAnyAsync<Exception>(() => Store.SaveAliasAsync(new AliasRecord(Scope, "alias/nowhere", KeyA, T0, T0), [new KeyVersion(Scope, KeyA, 2)]));
        await Assert.ThrowsAnyAsync<Exception>(() => Store.SaveGrantAsync(new KeyVersion(Scope, KeyA, 2), Grant(KeyA)));

        var snapshot = await Store.LoadAsync();
        Assert.Empty(snapshot.Aliases);
        Assert.Empty(Assert.Single(snapshot.Keys).Grants);
        AssertNoRowsNaming(await CountRowsNamingKeyAsync(Scope, KeyA));
    }

    // ---------------------------------------------------------------- deletion

    [SkippableFact]
    public async Task Deleting_a_key_leaves_no_row_that_names_it_and_no_row_of_another_key_goes()
    {
        var doomed = await SaveKeyWithEverythingAsync(Scope, KeyA, "doomed");
        // The same key id in another region and another key of the same account and region: both must survive.
        var twin = await SaveKeyWithEverythingAsync(OtherRegion, KeyA, "twin");
        var neighbour = await SaveKeyWithEverythingAsync(Scope, KeyB, "neighbour");
        var before = await CountRowsNamingKeyAsync(Scope, KeyA);
        var twinBefore = await CountRowsNamingKeyAsync(OtherRegion, KeyA);
        var neighbourBefore = await CountRowsNamingKeyAsync(Scope, KeyB);

        // Positive control: the count sees the key's rows in every place, so zero afterwards means they went.
        Assert.NotEmpty(before);
        Assert.All(before, place => Assert.True(place.Value > 0, $"The key has no rows in {place.Key} before the delete: the test does not exercise it."));

        await Store.DeleteKeyAsync(KeyVersion.Of(doomed.Key));

        AssertNoRowsNaming(await CountRowsNamingKeyAsync(Scope, KeyA));
        AssertSameCounts(twinBefore, await CountRowsNamingKeyAsync(OtherRegion, KeyA));
        AssertSameCounts(neighbourBefore, await CountRowsNamingKeyAsync(Scope, KeyB));
        var snapshot = await Store.LoadAsync();
        Assert.DoesNotContain(snapshot.Keys, k => k.Scope == doomed.Key.Scope && k.KeyId == doomed.Key.KeyId);
        AssertSameKey(twin.Key, snapshot.Keys.Single(k => k.Scope == OtherRegion));
        AssertSameKey(neighbour.Key, snapshot.Keys.Single(k => k.KeyId == KeyB));
        Assert.Equal(
            twin.Aliases.Concat(neighbour.Aliases).OrderBy(a => a.Arn, StringComparer.Ordinal),
            snapshot.Aliases.OrderBy(a => a.Arn, StringComparer.Ordinal));
    }

    [SkippableFact]
    public async Task Deleting_a_key_alias_or_grant_that_is_not_there_changes_nothing()
    {
        var kept = await SaveKeyWithEverythingAsync(Scope, KeyA, "kept");

        await Store.DeleteKeyAsync(new KeyVersion(Scope, KeyB, 1));
        await Store.DeleteKeyAsync(new KeyVersion(OtherRegion, KeyA, 1));
        await Store.DeleteAliasAsync(KeyVersion.Of(kept.Key).Next, "alias/none");
        await Store.DeleteAliasAsync(new KeyVersion(OtherRegion, KeyA, 2), kept.Aliases[0].AliasName);
        await Store.DeleteGrantAsync(KeyVersion.Of(kept.Key).Next, Grant(KeyA).GrantId);
        await Store.DeleteGrantAsync(new KeyVersion(Scope, KeyB, 2), kept.Key.Grants.Keys.First());

        var snapshot = await Store.LoadAsync();
        AssertSameKey(kept.Key, Assert.Single(snapshot.Keys));
        Assert.Equal(kept.Aliases.OrderBy(a => a.AliasName, StringComparer.Ordinal), snapshot.Aliases.OrderBy(a => a.AliasName, StringComparer.Ordinal));
    }

    // ---------------------------------------------------------------- concurrent writers

    /// <summary>
    /// Two instances over the same data (two emulators sharing a store) each compute a write to one key from the same
    /// version and make it at the same moment: exactly one is made, the other throws KeyVersionConflictException and
    /// changes nothing, round after round.
    /// </summary>
    [SkippableTheory]
    [InlineData("SaveKey", "SaveKey")]
    [InlineData("SaveGrant", "SaveGrant")]
    [InlineData("SaveAlias", "SaveGrant")]
    [InlineData("SaveKey", "DeleteAlias")]
    [InlineData("SaveKeys", "SaveKey")]
    public async Task Two_instances_writing_one_key_at_once_make_exactly_one_write_and_the_other_gets_a_version_conflict(string first, string second)
    {
        const int Rounds = 10;
        var other = await ReopenStoreAsync();
        var key = Key(KeyA, Scope);
        await Store.SaveKeyAsync(key);
        var wins = new Dictionary<string, int>(StringComparer.Ordinal) { ["first"] = 0, ["second"] = 0 };
        for (var round = 0; round < Rounds; round++)
        {
            // Each side works from the key as it is now; an alias for DeleteAlias to find is saved first.
            await Store.SaveAliasAsync(new AliasRecord(Scope, $"alias/shared-{round}", KeyA, T0, T0), [KeyVersion.Of(key).Next]);
            key = key with { Version = key.Version + 1 };
            var writes = new (string Side, IKmsStore Store, string Kind)[] { ("first", Store, first), ("second", other, second) };
            var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var attempts = writes.Select(w => Task.Run(async () =>
            {
                await go.Task;
                try
                {
                    await ConcurrentWriteAsync(w.Store, w.Kind, w.Side, round, key);
                    return (w.Side, Conflict: (KeyVersionConflictException?)null);
                }
                catch (KeyVersionConflictException conflict)
                {
                    return (w.Side, Conflict: conflict);
                }
            })).ToList();
            go.SetResult();
            var outcomes = await Task.WhenAll(attempts);

            var made = Assert.Single(outcomes, o => o.Conflict is null);
            var refused = Assert.Single(outcomes, o => o.Conflict is not null);
            Assert.Equal(key.Version, refused.Conflict!.Expected);
            Assert.Equal(key.Version + 1, refused.Conflict.Stored);
            wins[made.Side]++;

            // The store holds the winner's change and nothing of the loser's, and both instances read the same.
            var snapshot = await Store.LoadAsync();
            var stored = Assert.Single(snapshot.Keys);
            Assert.Equal(key.Version + 1, stored.Version);
            var madeKind = made.Side == "first" ? first : second;
            var refusedKind = refused.Side == "first" ? first : second;
            Assert.True(HasWrite(snapshot, madeKind, made.Side, round), $"round {round}: the {madeKind} that was made is not in the store");
            Assert.False(HasWrite(snapshot, refusedKind, refused.Side, round), $"round {round}: the {refusedKind} that was refused is in the store");
            var seenByOther = await other.LoadAsync();
            Assert.Equal(stored.Version, Assert.Single(seenByOther.Keys).Version);
            Assert.Equal(snapshot.Aliases.Count, seenByOther.Aliases.Count);
            key = stored;
        }

        Assert.Equal(Rounds, wins["first"] + wins["second"]);
    }

    /// <summary>One side's write in a round of the race, computed from <paramref name="key"/>.</summary>
    private static Task ConcurrentWriteAsync(IKmsStore store, string kind, string side, int round, KeyRecord key)
    {
        var next = KeyVersion.Of(key).Next;
        return kind switch
        {
            "SaveKey" => store.SaveKeyAsync(key with { Description = $"{side}-{round}", Version = next.Version }),
            "SaveKeys" => store.SaveKeysAsync([key with { Description = $"{side}-{round}", Version = next.Version }]),
            "SaveGrant" => store.SaveGrantAsync(next, Grant(KeyA) with { Name = $"{side}-{round}" }),
            "SaveAlias" => store.SaveAliasAsync(new AliasRecord(Scope, $"alias/{side}-{round}", KeyA, T0, T0), [next]),
            "DeleteAlias" => store.DeleteAliasAsync(next, $"alias/shared-{round}"),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
    }

    /// <summary>Whether the store shows the write <paramref name="kind"/> of <paramref name="side"/> in <paramref name="round"/>.</summary>
    private static bool HasWrite(StoreSnapshot snapshot, string kind, string side, int round) => kind switch
    {
        "SaveKey" or "SaveKeys" => snapshot.Keys.Single().Description == $"{side}-{round}",
        "SaveGrant" => snapshot.Keys.Single().Grants.Values.Any(g => g.Name == $"{side}-{round}"),
        "SaveAlias" => snapshot.Aliases.Any(a => a.AliasName == $"alias/{side}-{round}"),
        "DeleteAlias" => snapshot.Aliases.All(a => a.AliasName != $"alias/shared-{round}"),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    // ---------------------------------------------------------------- change feed

    /// <summary>
    /// Every write appends what it changed, in the order of the writes: the keys whose rows it changed or deleted, the
    /// aliases it wrote or deleted, and "everything" for the reset; a delete that finds nothing appends nothing. A load
    /// reports the number of the last change it includes, and another instance over the same data reads the same feed.
    /// </summary>
    [SkippableFact]
    public async Task Every_write_appends_what_it_changed_to_the_change_feed_in_order()
    {
        var start = (await Store.LoadAsync()).ChangeSequence;
        Assert.Empty((await Store.ReadChangesAsync(start, 100)).Changes);

        var a = Key(KeyA, Scope);
        var b = Key(KeyB, Scope);
        await Store.SaveKeyAsync(a);
        await Store.SaveKeysAsync([b, Key(KeyA, OtherRegion)]);
        var grant = Grant(KeyA);
        await Store.SaveGrantAsync(KeyVersion.Of(a).Next, grant);
        a = a with { Version = 2 };
        await Store.SaveAliasAsync(new AliasRecord(Scope, "alias/feed", KeyA, T0, T0), [KeyVersion.Of(a).Next]);
        a = a with { Version = 3 };
        // Moved: both keys step.
        await Store.SaveAliasAsync(new AliasRecord(Scope, "alias/feed", KeyB, T0, T0), [KeyVersion.Of(a).Next, KeyVersion.Of(b).Next]);
        a = a with { Version = 4 };
        b = b with { Version = 2 };
        await Store.DeleteAliasAsync(KeyVersion.Of(b).Next, "alias/feed");
        b = b with { Version = 3 };
        await Store.DeleteGrantAsync(KeyVersion.Of(a).Next, grant.GrantId);
        a = a with { Version = 5 };
        // Nothing to delete: nothing changes, nothing is appended.
        await Store.DeleteAliasAsync(KeyVersion.Of(a).Next, "alias/none");
        Assert.False(await Store.DeleteKeyAsync(new KeyVersion(OtherAccount, KeyA, 1)));
        Assert.True(await Store.DeleteKeyAsync(KeyVersion.Of(b)));
        await Store.DeleteAllAsync();

        var found = await Store.ReadChangesAsync(start, 100);
        Assert.True(found.Complete);
        string Describe(StoreChange c) =>
            c.Everything ? "everything" : $"{c.Scope!.Value.Region} " + (c.KeyId is { } id ? (id == KeyA ? "A" : "B") : c.AliasName);
        Assert.Equal(
            [
                "us-east-1 A",
                "us-east-1 B", "eu-west-1 A",
                "us-east-1 A",
                "us-east-1 A", "us-east-1 alias/feed",
                "us-east-1 A", "us-east-1 B", "us-east-1 alias/feed",
                "us-east-1 B", "us-east-1 alias/feed",
                "us-east-1 A",
                "us-east-1 B",
                "everything",
            ],
            found.Changes.Select(Describe).ToList());
        Assert.Equal(found.Changes.Select(c => c.Sequence).Order().ToList(), found.Changes.Select(c => c.Sequence).ToList());
        Assert.Equal(found.Changes.Count, found.Changes.Select(c => c.Sequence).Distinct().Count());
        Assert.All(found.Changes, c => Assert.True(c.Sequence > start));

        var last = found.Changes[^1].Sequence;
        Assert.Equal(last, (await Store.LoadAsync()).ChangeSequence);
        Assert.Empty((await Store.ReadChangesAsync(last, 100)).Changes);
        var other = await ReopenStoreAsync();
        Assert.Equal(found.Changes, (await other.ReadChangesAsync(start, 100)).Changes);
        Assert.Equal(found.Changes.Skip(3), (await other.ReadChangesAsync(found.Changes[2].Sequence, 100)).Changes);
    }

    /// <summary>
    /// A read of the feed is incomplete (the reader must load everything) when it was limited or when the entries after
    /// the reader's number were pruned; pruning keeps the newest entries and never restarts the numbers.
    /// </summary>
    [SkippableFact]
    public async Task A_limited_or_pruned_read_of_the_change_feed_says_it_is_incomplete()
    {
        var start = (await Store.LoadAsync()).ChangeSequence;
        var key = Key(KeyA, Scope);
        await Store.SaveKeyAsync(key);
        for (var i = 0; i < 5; i++)
        {
            key = key with { Description = $"change {i}", Version = key.Version + 1 };
            await Store.SaveKeyAsync(key);
        }

        var all = await Store.ReadChangesAsync(start, 6);
        Assert.Equal(6, all.Changes.Count);
        Assert.False(all.Complete); // as many as the limit: there may be more
        Assert.True((await Store.ReadChangesAsync(start, 7)).Complete);
        var limited = await Store.ReadChangesAsync(start, 2);
        Assert.False(limited.Complete);
        Assert.Equal(all.Changes.Take(2), limited.Changes);

        await Store.PruneChangesAsync(keep: 2);
        var kept = await Store.ReadChangesAsync(all.Changes[3].Sequence, 100);
        Assert.True(kept.Complete);
        Assert.Equal(all.Changes.Skip(4), kept.Changes);
        // A reader that last saw an entry that is gone missed some: it is told so.
        Assert.False((await Store.ReadChangesAsync(all.Changes[2].Sequence, 100)).Complete);
        Assert.False((await Store.ReadChangesAsync(start, 100)).Complete);

        // Pruning keeps at least the newest entry, so numbers go on from it; a reader that saw it is complete.
        await Store.PruneChangesAsync(keep: 0);
        Assert.True((await Store.ReadChangesAsync(all.Changes[^1].Sequence, 100)).Complete);
        key = key with { Description = "after pruning", Version = key.Version + 1 };
        await Store.SaveKeyAsync(key);
        var next = Assert.Single((await Store.ReadChangesAsync(all.Changes[^1].Sequence, 100)).Changes);
        Assert.True(next.Sequence > all.Changes[^1].Sequence);
        Assert.Equal(next.Sequence, (await Store.LoadAsync()).ChangeSequence);
    }

    /// <summary>LoadSomeAsync reads exactly the keys (every region, with grants, materials and tags) and aliases named.</summary>
    [SkippableFact]
    public async Task Some_keys_and_aliases_load_by_id_and_name_as_a_full_load_has_them()
    {
        var a = Key(KeyA, Scope) with { Tags = [new KeyTag("b", "2"), new KeyTag("a", "1")] };
        var west = Key(KeyA, OtherRegion);
        await Store.SaveKeysAsync([a, west, Key(KeyB, Scope)]);
        await Store.SaveGrantAsync(KeyVersion.Of(a).Next, Grant(KeyA));
        await Store.SaveAliasAsync(new AliasRecord(Scope, "alias/one", KeyA, T0, T0), [new KeyVersion(Scope, KeyA, 3)]);
        await Store.SaveAliasAsync(new AliasRecord(Scope, "alias/two", KeyB, T0, T0), [new KeyVersion(Scope, KeyB, 2)]);
        var full = await Store.LoadAsync();

        var some = await Store.LoadSomeAsync([KeyA], ["alias/two", "alias/missing"]);

        Assert.Equal(2, some.Keys.Count);
        foreach (var key in some.Keys)
        {
            AssertSameKey(full.Keys.Single(k => k.Scope == key.Scope && k.KeyId == key.KeyId), key);
        }

        Assert.Equal(full.Aliases.Where(x => x.AliasName == "alias/two"), some.Aliases);
        var none = await Store.LoadSomeAsync([], []);
        Assert.Empty(none.Keys);
        Assert.Empty(none.Aliases);
    }

    /// <summary>
    /// The feed's numbers follow the order in which writes became visible: a reader that follows it (asking for what
    /// comes after the last entry it saw) while two instances write many keys at once misses no write.
    /// </summary>
    [SkippableFact]
    public async Task A_reader_following_the_feed_while_two_instances_write_at_once_misses_no_write()
    {
        const int KeysPerWriter = 40;
        var other = await ReopenStoreAsync();
        var start = (await Store.LoadAsync()).ChangeSequence;
        using var done = new CancellationTokenSource();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var follower = Task.Run(async () =>
        {
            var after = start;
            while (true)
            {
                var stopping = done.IsCancellationRequested;
                var found = await Store.ReadChangesAsync(after, 1000);
                Assert.True(found.Complete);
                foreach (var change in found.Changes)
                {
                    seen.Add(change.KeyId!);
                    after = change.Sequence;
                }

                if (stopping)
                {
                    return;
                }
            }
        });

        var written = new[] { Store, other }.Select((store, writer) => Task.Run(async () =>
        {
            for (var i = 0; i < KeysPerWriter; i++)
            {
                var keyId = $"{writer:D8}-0000-0000-0000-{i:D12}";
                await store.SaveKeyAsync(Key(keyId, Scope));
            }
        })).ToList();
        await Task.WhenAll(written);
        await done.CancelAsync();
        await follower;

        Assert.Equal(2 * KeysPerWriter, seen.Count);
    }

    // ---------------------------------------------------------------- helpers

    /// <summary>A key with two material versions, tags, two aliases and two grants (one constrained), all saved.</summary>
    private async Task<(KeyRecord Key, AliasRecord[] Aliases)> SaveKeyWithEverythingAsync(KeyScope scope, string keyId, string name)
    {
        var key = Key(keyId, scope) with
        {
            Description = name,
            Materials = [Material(keyId, 1, T0, scope), Material(keyId, 2, T0.AddDays(1), scope)],
            CurrentMaterialVersion = 2,
            Tags = [new KeyTag("name", name), new KeyTag("team", "payments")],
            ImportParameters = [new ImportParameters("0f".PadRight(64, '0'), $"wrap/{scope.AccountId}/{scope.Region}/{keyId}", "RSA_2048", "RSAES_OAEP_SHA_256", T0, T0.AddHours(24))],
        };
        await Store.SaveKeyAsync(key);
        var grants = new[]
        {
            Grant(keyId),
            Grant(keyId) with { Constraint = GrantConstraint.Of(GrantConstraintKind.EncryptionContextSubset, [KeyValuePair.Create("name", name)]) },
        };
        var version = key.Version;
        foreach (var grant in grants)
        {
            await Store.SaveGrantAsync(new KeyVersion(scope, keyId, ++version), grant);
        }

        AliasRecord[] aliases = [new(scope, $"alias/{name}", keyId, T0, T0), new(scope, $"alias/{name}-2", keyId, T0, T0)];
        foreach (var alias in aliases)
        {
            await Store.SaveAliasAsync(alias, [new KeyVersion(scope, keyId, ++version)]);
        }

        return (key with { Grants = KeyRecord.NoGrants.AddRange(grants.Select(g => KeyValuePair.Create(g.GrantId, g))), Version = version }, aliases);
    }

    private static KeyRecord Key(string keyId, KeyScope scope) => new()
    {
        Scope = scope,
        KeyId = keyId,
        Description = string.Empty,
        KeySpec = KeySpec.SYMMETRIC_DEFAULT,
        KeyUsage = KeyUsageType.ENCRYPT_DECRYPT,
        Origin = OriginType.AWS_KMS,
        KeyState = KeyState.Enabled,
        CreationDate = T0,
        Policy = "{}",
        Materials = [Material(keyId, 1, T0, scope)],
        CurrentMaterialVersion = 1,
    };

    /// <summary>A material version whose label is unique per account, region, key and version.</summary>
    private static KeyMaterialVersion Material(string keyId, int version, DateTimeOffset createdAt, KeyScope? scope = null)
    {
        var where = scope ?? Scope;
        var label = $"kmsemu/test/{where.AccountId}/{where.Region}/{keyId}/{version}";
        var materialId = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(label)));
        return new KeyMaterialVersion(version, materialId, label, createdAt);
    }

    private static GrantRecord Grant(string keyId) => new()
    {
        GrantId = GrantToken.NewGrantId(),
        Name = "grant-on-" + keyId,
        GranteePrincipal = "arn:aws:iam::111122223333:user/dave",
        Operations = [GrantOperation.Decrypt, GrantOperation.Encrypt],
        IssuingAccount = Scope.AccountId,
        CreationDate = T0.AddMinutes(5),
    };

    /// <summary>Every field of the key, its materials and tags in order, and its grants.</summary>
    protected static void AssertSameKey(KeyRecord expected, KeyRecord actual)
    {
        // ImmutableArray and ImmutableSortedDictionary compare by reference: the collections are compared apart.
        Assert.Equal(
            expected with { Materials = [], Tags = [], Grants = KeyRecord.NoGrants, ImportParameters = [] },
            actual with { Materials = [], Tags = [], Grants = KeyRecord.NoGrants, ImportParameters = [] });
        Assert.Equal(expected.Materials.ToArray(), actual.Materials.ToArray());
        Assert.Equal(expected.ImportParameters.ToArray(), actual.ImportParameters.ToArray());
        Assert.Equal(expected.Tags.ToArray(), actual.Tags.ToArray());
        AssertSameGrants(expected.Grants.Values, actual.Grants.Values);
    }

    /// <summary>The same grants (in any order), each with every field, its operations in order and its constraint.</summary>
    protected static void AssertSameGrants(IEnumerable<GrantRecord> expected, IEnumerable<GrantRecord> actual)
    {
        var want = expected.OrderBy(g => g.GrantId, StringComparer.Ordinal).ToList();
        var got = actual.OrderBy(g => g.GrantId, StringComparer.Ordinal).ToList();
        Assert.Equal(want.Select(g => g.GrantId), got.Select(g => g.GrantId));
        foreach (var (w, g) in want.Zip(got))
        {
            Assert.Equal(w with { Operations = [], Constraint = null }, g with { Operations = [], Constraint = null });
            Assert.Equal(w.Operations.ToArray(), g.Operations.ToArray());
            Assert.Equal(w.Constraint?.Kind, g.Constraint?.Kind);
            Assert.Equal(w.Constraint?.Pairs.ToArray(), g.Constraint?.Pairs.ToArray());
        }
    }

    private static void AssertSameCounts(IReadOnlyDictionary<string, long> expected, IReadOnlyDictionary<string, long> actual) =>
        Assert.Equal(expected.OrderBy(p => p.Key, StringComparer.Ordinal), actual.OrderBy(p => p.Key, StringComparer.Ordinal));

    private static void AssertNoRowsNaming(IReadOnlyDictionary<string, long> counts)
    {
        Assert.NotEmpty(counts);
        Assert.All(counts, place => Assert.True(place.Value == 0, $"{place.Value} row(s) in {place.Key} still name the key."));
    }
}
