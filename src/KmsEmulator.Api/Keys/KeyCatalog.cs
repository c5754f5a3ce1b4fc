using System.Collections.Concurrent;

namespace KmsEmulator.Api.Keys;

/// <summary>
/// The in-memory view of the store that every request reads, so that the cryptographic hot path never touches
/// SQLite. Records are immutable; writers (serialised by <see cref="KeyWriter"/>) persist first, then swap the
/// record in here.
/// </summary>
public sealed class KeyCatalog
{
    private readonly ConcurrentDictionary<(KeyScope Scope, string KeyId), KeyRecord> _keys = new();
    private readonly ConcurrentDictionary<(KeyScope Scope, string AliasName), AliasRecord> _aliases = new();

    public int KeyCount => _keys.Count;

    public void Load(IEnumerable<KeyRecord> keys, IEnumerable<AliasRecord> aliases)
    {
        _keys.Clear();
        _aliases.Clear();
        foreach (var key in keys)
        {
            Put(key);
        }

        foreach (var alias in aliases)
        {
            Put(alias);
        }
    }

    public KeyRecord? FindKey(KeyScope scope, string keyId) => _keys.GetValueOrDefault((scope, keyId));

    public AliasRecord? FindAlias(KeyScope scope, string aliasName) => _aliases.GetValueOrDefault((scope, aliasName));

    public void Put(KeyRecord key) => _keys[(key.Scope, key.KeyId)] = key;

    public void Put(AliasRecord alias) => _aliases[(alias.Scope, alias.AliasName)] = alias;

    public void RemoveKey(KeyScope scope, string keyId)
    {
        _keys.TryRemove((scope, keyId), out _);
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

    /// <summary>Keys in every scope, for the deletion sweep.</summary>
    public IEnumerable<KeyRecord> AllKeys => _keys.Values;
}
