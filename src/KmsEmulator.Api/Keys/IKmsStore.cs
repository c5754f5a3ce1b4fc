namespace KmsEmulator.Api.Keys;

/// <summary>
/// Durable key metadata, aliases, tags and grants. Every method is one transaction. Key bytes never pass through here.
/// </summary>
/// <remarks>
/// Optimistic concurrency: every key row has a version (<see cref="KeyRecord.Version"/>, 1 for a new key) and every
/// write to a key, whatever it changes (state, description, policy, tags, material, aliases, grants), moves it from
/// one version to the next. Each write names the version it leaves the key at (<c>next</c>); the store makes the
/// write only when the key is still at the version before it (no row at all for version 1), and otherwise throws
/// <see cref="KeyVersionConflictException"/> and changes nothing. A writer that read a stale copy therefore fails
/// instead of overwriting a change it never saw. A delete that finds nothing to delete (no such key, alias or grant)
/// changes nothing, the version included, and is not an error.
/// <para>
/// Change feed: every write that changes something also appends, in its transaction, what it changed to a sequence of
/// changes (<see cref="ReadChangesAsync"/>): one entry per key whose row it changed or deleted, one per alias it wrote
/// or deleted, and one naming everything for <see cref="DeleteAllAsync"/>. Entries are numbered in the order their
/// writes committed, so a reader that has seen entry N has seen every write numbered before it. Emulators that share a
/// store read it to bring their catalogues up to date; the entries name keys and aliases, never their contents.
/// </para>
/// </remarks>
public interface IKmsStore
{
    /// <summary>Identifies this store; HSM object labels carry it so that several stores can share a token.</summary>
    string StoreId { get; }

    /// <summary>
    /// Everything, for the in-memory catalogue (each key with its grants and its version), and the number of the last
    /// change the snapshot includes (<see cref="StoreSnapshot.ChangeSequence"/>), all read at one moment.
    /// </summary>
    Task<StoreSnapshot> LoadAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// The keys whose id is one of <paramref name="keyIds"/> (in every account and region, each with its grants,
    /// materials, tags and version) and the aliases whose name is one of <paramref name="aliasNames"/> (in every account
    /// and region), read at one moment. <see cref="StoreSnapshot.ChangeSequence"/> is 0: the caller knows which changes it reads for.
    /// </summary>
    Task<StoreSnapshot> LoadSomeAsync(IReadOnlyCollection<string> keyIds, IReadOnlyCollection<string> aliasNames, CancellationToken cancellationToken = default);

    /// <summary>
    /// The changes numbered after <paramref name="after"/>, in order, at most <paramref name="limit"/>.
    /// <see cref="StoreChanges.Complete"/> is false when the store no longer holds some of them (pruned) or there are
    /// more than <paramref name="limit"/>: the reader must then load everything again.
    /// </summary>
    Task<StoreChanges> ReadChangesAsync(long after, int limit, CancellationToken cancellationToken = default);

    /// <summary>Deletes the oldest changes, keeping the newest <paramref name="keep"/> (at least one).</summary>
    Task PruneChangesAsync(int keep, CancellationToken cancellationToken = default);

    /// <summary>
    /// Writes a key with its material versions and tags at <c>key.Version</c>: inserts it when that is 1, otherwise
    /// replaces the row that is at <c>key.Version - 1</c>. Material rows are only ever added.
    /// </summary>
    Task SaveKeyAsync(KeyRecord key, CancellationToken cancellationToken = default);

    /// <summary>
    /// Writes several keys as <see cref="SaveKeyAsync"/> does, in one transaction: all or none (a multi-Region key's
    /// primary and replicas when they change together, e.g. a rotation that adds the same material version to each).
    /// </summary>
    Task SaveKeysAsync(IReadOnlyList<KeyRecord> keys, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes a key that is still at <paramref name="current"/>'s version, with its material rows, tags, aliases and
    /// grants; nothing when there is no such key. True when it deleted the key, false when there was none (another
    /// writer deleted it first).
    /// </summary>
    Task<bool> DeleteKeyAsync(KeyVersion current, CancellationToken cancellationToken = default);

    /// <summary>
    /// Inserts or replaces an alias. <paramref name="next"/> names every key whose aliases this changes (the target, and
    /// for a moved alias the key it pointed at before) at the version the write leaves it at.
    /// </summary>
    Task SaveAliasAsync(AliasRecord alias, IReadOnlyList<KeyVersion> next, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes an alias of the key <paramref name="next"/> names, leaving that key at <paramref name="next"/>'s version;
    /// nothing when there is no such alias.
    /// </summary>
    Task DeleteAliasAsync(KeyVersion next, string aliasName, CancellationToken cancellationToken = default);

    /// <summary>Inserts a grant on a key, leaving the key at <paramref name="next"/>'s version.</summary>
    Task SaveGrantAsync(KeyVersion next, GrantRecord grant, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes a grant of a key (retired or revoked), leaving the key at <paramref name="next"/>'s version; nothing when
    /// the key has no such grant.
    /// </summary>
    Task DeleteGrantAsync(KeyVersion next, string grantId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes every key with its material rows, tags, aliases, grants and import parameters, in one transaction (the
    /// emulator's reset). The store's identity and schema stay. Returns how many keys and aliases there were.
    /// </summary>
    Task<(int Keys, int Aliases)> DeleteAllAsync(CancellationToken cancellationToken = default);
}

/// <summary>The whole store (or the part asked for) at one moment, and the number of the last change it includes.</summary>
public sealed record StoreSnapshot(IReadOnlyList<KeyRecord> Keys, IReadOnlyList<AliasRecord> Aliases, long ChangeSequence = 0);

/// <summary>One entry of the change feed: a key (<see cref="KeyId"/>), an alias (<see cref="AliasName"/>), or everything (neither).</summary>
public sealed record StoreChange(long Sequence, KeyScope? Scope, string? KeyId, string? AliasName)
{
    /// <summary>The reset: every key and alias may have changed.</summary>
    public bool Everything => KeyId is null && AliasName is null;
}

/// <summary>
/// What <see cref="IKmsStore.ReadChangesAsync"/> found: the changes in order, and whether they are all the changes after
/// the number asked for (false: some were pruned, or there were more than the limit).
/// </summary>
public sealed record StoreChanges(IReadOnlyList<StoreChange> Changes, bool Complete);

/// <summary>A key and one version of it: what a store write names for each key it changes.</summary>
public readonly record struct KeyVersion(KeyScope Scope, string KeyId, long Version)
{
    public static KeyVersion Of(KeyRecord key) => new(key.Scope, key.KeyId, key.Version);

    /// <summary>The same key at the following version.</summary>
    public KeyVersion Next => this with { Version = Version + 1 };
}

/// <summary>
/// A store write found a key at another version than the one it was computed from (another process changed the key,
/// or the row was edited by hand). Nothing was written. Not a KMS error: the caller gets KMSInternalException.
/// </summary>
public sealed class KeyVersionConflictException(KeyScope scope, string keyId, long expected, long? stored)
    : Exception(
        $"Key {keyId} in {scope.AccountId}/{scope.Region} is " + (stored is { } v ? $"at version {v}" : "not") +
        $" in the store, but the write expected " + (expected == 0 ? "no such key" : $"version {expected}") +
        ": another writer changed it since it was read, so this write was not made.")
{
    public KeyScope Scope { get; } = scope;

    public string KeyId { get; } = keyId;

    /// <summary>The version the write expected the key to be at; 0 when it expected no key (an insert).</summary>
    public long Expected { get; } = expected;

    /// <summary>The version the store holds; null when it holds no such key.</summary>
    public long? Stored { get; } = stored;
}
