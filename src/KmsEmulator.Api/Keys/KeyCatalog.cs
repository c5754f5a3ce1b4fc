using System.Collections.Concurrent;
using System.Collections.Immutable;

namespace KmsEmulator.Api.Keys;

/// <summary>
/// An in-memory cache of the store (<see cref="IKmsStore"/>): every key and alias, which every request reads so that
/// the cryptographic hot path never touches SQLite. The store is the truth; this is a copy of it.
/// </summary>
/// <remarks>
/// <para>
/// Only <see cref="KeyWriter"/> (and, with a store other processes write to, <see cref="CatalogSync"/>) changes it: it fills it from the store at start-up (<see cref="KeyWriter.LoadCatalog"/>),
/// publishes each write here after the store has committed it, and reloads it from the store
/// (<see cref="KeyWriter.RefreshCatalogAsync"/>) when a write finds that the store holds a newer version of a key than
/// this copy did. Records are immutable and carry the version of the stored key they copy
/// (<see cref="KeyRecord.Version"/>), so a reader always sees a whole key, at one version, and never waits.
/// </para>
/// <para>
/// With the embedded SQLite store this process is the only writer, so the copy is loaded once and kept current by
/// its own writes. With a store shared by several emulator processes (PostgreSQL) only <see cref="CatalogSync"/>
/// changes it after start-up, from the store's change feed, before each request reads it; readers and handlers do not change.
/// </para>
/// </remarks>
public sealed class KeyCatalog
{
    private readonly ConcurrentDictionary<(KeyScope Scope, string KeyId), KeyRecord> _keys = new();
    private readonly ConcurrentDictionary<(KeyScope Scope, string AliasName), AliasRecord> _aliases = new();

    /// <summary>The regions that hold a key of each multi-Region key (account, key id): its primary and replicas.</summary>
    private readonly ConcurrentDictionary<(string AccountId, string KeyId), ImmutableSortedSet<string>> _multiRegion = new();

    /// <summary>
    /// Makes the cache hold exactly <paramref name="snapshot"/>. Entries are replaced one by one, never cleared first:
    /// a reader meanwhile sees each key either as it was or as it is in the snapshot, never missing.
    /// </summary>
    public void Load(StoreSnapshot snapshot)
    {
        var keys = new HashSet<(KeyScope, string)>();
        foreach (var key in snapshot.Keys)
        {
            Put(key);
            keys.Add((key.Scope, key.KeyId));
        }

        var aliases = new HashSet<(KeyScope, string)>();
        foreach (var alias in snapshot.Aliases)
        {
            Put(alias);
            aliases.Add((alias.Scope, alias.AliasName));
        }

        foreach (var id in _keys.Keys.Where(id => !keys.Contains(id)))
        {
            RemoveKey(id.Scope, id.KeyId);
        }

        foreach (var id in _aliases.Keys.Where(id => !aliases.Contains(id)))
        {
            _aliases.TryRemove(id, out _);
        }
    }

    public KeyRecord? FindKey(KeyScope scope, string keyId) => _keys.GetValueOrDefault((scope, keyId));

    public AliasRecord? FindAlias(KeyScope scope, string aliasName) => _aliases.GetValueOrDefault((scope, aliasName));

    public void Put(KeyRecord key)
    {
        _keys[(key.Scope, key.KeyId)] = key;
        if (key.MultiRegion)
        {
            _multiRegion.AddOrUpdate(
                (key.Scope.AccountId, key.KeyId),
                _ => ImmutableSortedSet.Create(StringComparer.Ordinal, key.Scope.Region),
                (_, regions) => regions.Add(key.Scope.Region));
        }
    }

    public void Put(AliasRecord alias) => _aliases[(alias.Scope, alias.AliasName)] = alias;

    public void RemoveKey(KeyScope scope, string keyId)
    {
        _keys.TryRemove((scope, keyId), out _);
        if (_multiRegion.TryGetValue((scope.AccountId, keyId), out var regions))
        {
            var rest = regions.Remove(scope.Region);
            if (rest.IsEmpty)
            {
                _multiRegion.TryRemove(KeyValuePair.Create((scope.AccountId, keyId), regions));
            }
            else
            {
                _multiRegion.TryUpdate((scope.AccountId, keyId), rest, regions);
            }
        }

        foreach (var alias in AliasesOf(scope, keyId))
        {
            RemoveAlias(scope, alias.AliasName);
        }
    }

    public void RemoveAlias(KeyScope scope, string aliasName) => _aliases.TryRemove((scope, aliasName), out _);

    /// <summary>Keys of one account and region, ordered by key id (the paging order of ListKeys).</summary>
    public List<KeyRecord> KeysIn(KeyScope scope) =>
        _keys.Values.Where(k => k.Scope == scope).OrderBy(k => k.KeyId, StringComparer.Ordinal).ToList();

    /// <summary>Aliases of one account and region, ordered by name (the paging order of ListAliases).</summary>
    public List<AliasRecord> AliasesIn(KeyScope scope) =>
        _aliases.Values.Where(a => a.Scope == scope).OrderBy(a => a.AliasName, StringComparer.Ordinal).ToList();

    /// <summary>Names of the aliases that point at a key (kms:ResourceAliases).</summary>
    public IEnumerable<string> AliasNamesOf(KeyScope scope, string keyId) => AliasesOf(scope, keyId).Select(a => a.AliasName);

    public List<AliasRecord> AliasesOf(KeyScope scope, string keyId) =>
        _aliases.Values.Where(a => a.Scope == scope && a.TargetKeyId == keyId).OrderBy(a => a.AliasName, StringComparer.Ordinal).ToList();

    /// <summary>
    /// Every key of the multi-Region key <paramref name="keyId"/> of an account, the primary and its replicas, ordered
    /// by region; empty for a single-Region key.
    /// </summary>
    public List<KeyRecord> MultiRegionKeys(string accountId, string keyId) =>
        _multiRegion.TryGetValue((accountId, keyId), out var regions)
            ? regions.Select(region => FindKey(new KeyScope(accountId, region), keyId)).OfType<KeyRecord>().ToList()
            : [];

    /// <summary>Keys in every scope, for the deletion sweep.</summary>
    public IEnumerable<KeyRecord> AllKeys => _keys.Values;

    public IEnumerable<AliasRecord> AllAliases => _aliases.Values;
}
