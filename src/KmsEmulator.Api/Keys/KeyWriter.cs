using System.Collections.Concurrent;
using System.Security.Cryptography;
using KmsEmulator.Api.Generated;
using KmsEmulator.Hsm;
using Microsoft.Extensions.Logging;

namespace KmsEmulator.Api.Keys;

/// <summary>
/// The one way keys, aliases and grants are written, and the only code that changes the store or (with <see cref="CatalogSync"/> for other processes' writes) the catalogue.
/// </summary>
/// <remarks>
/// <para>
/// It owns the write lock, which serialises writers (readers never wait), and the order every write follows:
/// </para>
/// <list type="number">
/// <item>material: new key material is made in the HSM first, outside the lock (a key pair can take seconds);</item>
/// <item>commit: under the lock, the change is computed from the key's current record (so that the callers' checks,
/// <c>decide</c> and <c>change</c>, see the latest state) and committed to the store, which checks and steps the
/// key's version (<see cref="IKmsStore"/>);</item>
/// <item>publish: the committed records go into the <see cref="KeyCatalog"/>, where requests see them.</item>
/// </list>
/// <para>
/// A write that does not commit leaves no trace: nothing is published, and material made for it is destroyed; a
/// destroy that fails (a full token, say) is remembered and retried by the deletion sweep
/// (<see cref="DestroyPendingAsync"/>). A commit the store refuses because it holds a newer version of the key
/// reloads the catalogue from the store and fails the request as an internal error. Deletion runs the other way
/// round: the row goes first, then the material, so that a crash in between leaves only orphaned HSM objects, which
/// start-up reconciliation destroys.
/// </para>
/// <para>
/// CreateKey brings material through <see cref="CommitWithNewMaterialAsync"/>; rotation, imported material and replica
/// keys (<c>KeyWriter.MultiRegion.cs</c>, whose material is copied inside the HSM) make theirs under the lock.
/// </para>
/// </remarks>
public sealed partial class KeyWriter(
    KeyCatalog catalog,
    KeyLifecycle lifecycle,
    IKmsStore store,
    IKeyMaterialBackend hsm,
    ILogger<KeyWriter> logger,
    CatalogSync? sync = null) : IDisposable
{
    /// <summary>How often a write computed from a copy another process made stale is computed again from the store's.</summary>
    private const int MaxAttempts = 8;

    private readonly SemaphoreSlim _lock = new(1, 1);

    /// <summary>HSM objects of writes that never committed and could not be destroyed at once.</summary>
    private readonly ConcurrentDictionary<string, byte> _pendingDestroys = new(StringComparer.Ordinal);

    /// <summary>Labels of uncommitted material still waiting to be destroyed (retried by the sweep).</summary>
    public IReadOnlyCollection<string> PendingDestroys => (IReadOnlyCollection<string>)_pendingDestroys.Keys;

    /// <summary>Prefix of the HSM labels of this store's key material.</summary>
    public string HsmLabelPrefix => $"kmsemu/{store.StoreId}/";

    public void Dispose() => _lock.Dispose();

    // ---------------------------------------------------------------- the catalogue

    /// <summary>Whether other processes write to the store: then the catalogue changes only by catching up with it.</summary>
    private bool Shared => sync?.Shared == true;

    /// <summary>Fills the catalogue at start-up, before any request, from the snapshot read while the HSM opened.</summary>
    public void LoadCatalog(StoreSnapshot snapshot)
    {
        catalog.Load(snapshot);
        sync?.Loaded(snapshot);
    }

    /// <summary>
    /// Brings the catalogue up to date with the store, with writes held off: reloads it whole when this process is the
    /// store's only writer, and catches up with the store's changes when the store is shared.
    /// </summary>
    public Task RefreshCatalogAsync(CancellationToken cancellationToken) =>
        ExclusiveAsync(
            async () =>
            {
                if (Shared)
                {
                    await sync!.CatchUpAsync(cancellationToken);
                }
                else
                {
                    catalog.Load(await store.LoadAsync(cancellationToken));
                }

                return catalog;
            },
            cancellationToken);

    /// <summary>
    /// The HSM labels every key row in the store refers to now (material versions and import wrapping keys), read from
    /// the store itself rather than the catalogue: the start-up reconciliation's last look before it destroys objects
    /// that another node sharing the store may have committed a row for meanwhile.
    /// </summary>
    public async Task<IReadOnlySet<string>> StoredHsmLabelsAsync(CancellationToken cancellationToken)
    {
        var snapshot = await store.LoadAsync(cancellationToken);
        var labels = new HashSet<string>(StringComparer.Ordinal);
        foreach (var key in snapshot.Keys)
        {
            labels.UnionWith(key.Materials.Select(m => m.HsmLabel));
            labels.UnionWith(key.ImportParameters.Select(p => p.HsmLabel));
        }

        return labels;
    }

    // ---------------------------------------------------------------- keys

    /// <summary>A new material version for <paramref name="keyId"/>: a fresh KeyMaterialId and the HSM label it will have.</summary>
    public KeyMaterialVersion NewMaterial(string keyId, int version, DateTimeOffset createdAt) =>
        new(version, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)), $"{HsmLabelPrefix}{keyId}/{version}", createdAt);

    /// <summary>Adds a new key at version 1, after making the HSM objects of its materials (none for a key pending import).</summary>
    public Task<KeyRecord> CreateKeyAsync(KeyRecord key, CancellationToken cancellationToken) =>
        CommitWithNewMaterialAsync(
            key,
            key.Materials,
            current => current is null ? key : throw new InvalidOperationException($"Key id {key.KeyId} is taken."),
            cancellationToken);

    /// <summary>
    /// Rotates a key: a new material version made in the HSM becomes current (older versions keep decrypting their
    /// ciphertexts). <paramref name="check"/> runs on the key's current record (state, limits) and
    /// <paramref name="change"/> adds what else changes (the next automatic rotation date). Unlike CreateKey, the
    /// material is made under the writer's lock: the new version's number and HSM label come from the current record,
    /// so two rotations of one key must not overlap (rotations are rare; the lock is held for one key generation).
    /// </summary>
    public Task<KeyRecord> RotateAsync(KeyRecord key, string rotationType, DateTimeOffset now, Action<KeyRecord> check,
        Func<KeyRecord, KeyRecord> change, CancellationToken cancellationToken) =>
        ExclusiveAsync(
            async () =>
            {
                var live = Live(key, catalog.FindKey(key.Scope, key.KeyId));
                check(live);
                var version = (live.Materials.IsEmpty ? 0 : live.Materials.Max(m => m.Version)) + 1;
                var material = NewMaterial(live.Scope, live.KeyId, version, now) with { RotationType = rotationType };
                await CreateMaterialAsync(material.HsmLabel, live.KeySpec, live.KeyUsage, cancellationToken);
                var made = new List<string> { material.HsmLabel };
                try
                {
                    var next = change(live) with { Materials = live.Materials.Add(material), CurrentMaterialVersion = version };

                    // A multi-Region primary shares its material: every replica gets a copy of the new version, made
                    // inside the HSM, in the same commit, so that a ciphertext of any region decrypts in every other.
                    var replicas = await ReplicasWithNewMaterialAsync(next, material, made, cancellationToken);
                    return (await CommitKeysAsync([next, .. replicas], cancellationToken))[0];
                }
                catch
                {
                    foreach (var label in made)
                    {
                        await DestroyUncommittedAsync(label);
                    }

                    throw;
                }
            },
            cancellationToken);

    /// <summary>
    /// Applies <paramref name="change"/> to the key's current record, after checking again that the key still exists and
    /// that its state (which may have changed since the pipeline looked) still allows the operation.
    /// </summary>
    public Task<KeyRecord> UpdateKeyAsync(KeyRecord key, KeyStateRule rule, Func<KeyRecord, KeyRecord> change, CancellationToken cancellationToken) =>
        ExclusiveAsync(
            async () =>
            {
                var live = Live(key, catalog.FindKey(key.Scope, key.KeyId));
                KeyStateRules.Check(rule, live);
                var next = change(live);

                // Rotation settings are shared by a multi-Region key: a change on the primary reaches every replica.
                var replicas = ReplicasWithSharedSettings(next);
                return replicas.Count == 0
                    ? await CommitKeyAsync(live.Scope, live.KeyId, _ => next, cancellationToken)
                    : (await CommitKeysAsync([next, .. replicas], cancellationToken))[0];
            },
            cancellationToken);

    /// <summary>
    /// Deletes a key when <paramref name="decide"/> still says so of its current record: the row first, then its HSM
    /// objects. False when the key is gone already or <paramref name="decide"/> declined.
    /// </summary>
    public async Task<bool> DeleteKeyAsync(KeyRecord key, Func<KeyRecord, bool> decide, CancellationToken cancellationToken)
    {
        var deleted = await ExclusiveAsync(
            async () =>
            {
                if (catalog.FindKey(key.Scope, key.KeyId) is not { } current || !decide(current))
                {
                    return null;
                }

                if (!await store.DeleteKeyAsync(KeyVersion.Of(current), cancellationToken))
                {
                    // Another process deleted it first, and destroys its material.
                    Publish(() => catalog.RemoveKey(current.Scope, current.KeyId));
                    return null;
                }

                Publish(() => catalog.RemoveKey(current.Scope, current.KeyId));
                return current;
            },
            cancellationToken);
        if (deleted is null)
        {
            return false;
        }

        // A crash here leaves orphaned HSM objects, which the next start-up reconciliation destroys.
        foreach (var label in deleted.Materials.Select(m => m.HsmLabel).Concat(deleted.ImportParameters.Select(p => p.HsmLabel)))
        {
            await hsm.DestroyAsync(label, cancellationToken);
        }

        return true;
    }

    /// <summary>Destroys the material of writes that failed and could not destroy it at once (the deletion sweep calls this).</summary>
    public async Task DestroyPendingAsync()
    {
        foreach (var label in _pendingDestroys.Keys)
        {
            _pendingDestroys.TryRemove(label, out _);
            await DestroyUncommittedAsync(label);
        }
    }

    /// <summary>
    /// The protocol of a write that brings a new key's material (CreateKey; rotation, import and replicas make theirs
    /// under the lock instead, as the class remarks say): makes <paramref name="materials"/> in the HSM as <paramref name="basis"/>'s spec and usage say, outside the lock;
    /// then under the lock applies <paramref name="change"/> to the key's current record (null for a key that does not
    /// exist yet), commits the result at the key's next version and publishes it. Whatever stops the commit (the
    /// change's own checks, the store, a stale version, cancellation), the material made here is destroyed again.
    /// </summary>
    private async Task<KeyRecord> CommitWithNewMaterialAsync(
        KeyRecord basis, IReadOnlyList<KeyMaterialVersion> materials, Func<KeyRecord?, KeyRecord> change, CancellationToken cancellationToken)
    {
        var made = new List<string>(materials.Count);
        try
        {
            foreach (var material in materials)
            {
                await CreateMaterialAsync(material.HsmLabel, basis.KeySpec, basis.KeyUsage, cancellationToken);
                made.Add(material.HsmLabel);
            }

            return await ExclusiveAsync(() => CommitKeyAsync(basis.Scope, basis.KeyId, change, cancellationToken), cancellationToken);
        }
        catch
        {
            // The metadata never committed, so nothing refers to the new material: remove it again. If even that fails
            // (the same full disk, say), the sweep tries again; the original failure is what the caller gets.
            foreach (var label in made)
            {
                await DestroyUncommittedAsync(label);
            }

            throw;
        }
    }

    /// <summary>Under the lock: the key's next version from its current record, committed, then published.</summary>
    private async Task<KeyRecord> CommitKeyAsync(KeyScope scope, string keyId, Func<KeyRecord?, KeyRecord> change, CancellationToken cancellationToken)
    {
        var current = catalog.FindKey(scope, keyId);
        var next = change(current) with { Version = (current?.Version ?? 0) + 1 };
        await store.SaveKeyAsync(next, cancellationToken);
        Publish(() => catalog.Put(next));
        return next;
    }

    // ---------------------------------------------------------------- aliases

    /// <summary>
    /// Creates or moves an alias. <paramref name="decide"/> gets the alias as it is now (null when there is none, or
    /// whatever the catalogue holds) and returns the alias to store, or throws. The versions of the keys it pointed at
    /// and points at step.
    /// </summary>
    public Task PutAliasAsync(KeyScope scope, string aliasName, Func<AliasRecord?, AliasRecord> decide, CancellationToken cancellationToken) =>
        ExclusiveAsync(
            async () =>
            {
                var existing = catalog.FindAlias(scope, aliasName);
                var alias = decide(existing);
                var keys = new[] { existing?.TargetKeyId, alias.TargetKeyId }
                    .OfType<string>()
                    .Distinct(StringComparer.Ordinal)
                    .Select(keyId => catalog.FindKey(scope, keyId))
                    .OfType<KeyRecord>()
                    .Select(key => key with { Version = key.Version + 1 })
                    .ToList();
                await store.SaveAliasAsync(alias, keys.ConvertAll(KeyVersion.Of), cancellationToken);
                Publish(() =>
                {
                    foreach (var key in keys)
                    {
                        catalog.Put(key);
                    }

                    catalog.Put(alias);
                });
                return alias;
            },
            cancellationToken);

    /// <summary>
    /// Deletes an alias. <paramref name="decide"/> gets the alias as it is now and returns it when it may go, or throws.
    /// The version of the key it pointed at steps.
    /// </summary>
    public Task DeleteAliasAsync(KeyScope scope, string aliasName, Func<AliasRecord?, AliasRecord> decide, CancellationToken cancellationToken) =>
        ExclusiveAsync(
            async () =>
            {
                var alias = decide(catalog.FindAlias(scope, aliasName));
                var target = catalog.FindKey(scope, alias.TargetKeyId) ?? throw new InvalidOperationException($"Alias {alias.Arn} points at no key.");
                var next = target with { Version = target.Version + 1 };
                await store.DeleteAliasAsync(KeyVersion.Of(next), alias.AliasName, cancellationToken);
                Publish(() =>
                {
                    catalog.Put(next);
                    catalog.RemoveAlias(scope, alias.AliasName);
                });
                return alias;
            },
            cancellationToken);

    // ---------------------------------------------------------------- grants

    /// <summary>
    /// Adds a grant to a key that still exists. <paramref name="decide"/> gets the key's current record and returns the
    /// grant to add, or a grant the key already has (then nothing is written), or throws.
    /// </summary>
    public Task<(KeyRecord Key, GrantRecord Grant)> AddGrantAsync(KeyRecord key, Func<KeyRecord, GrantRecord> decide, CancellationToken cancellationToken) =>
        ExclusiveAsync(
            async () =>
            {
                var current = Live(key, catalog.FindKey(key.Scope, key.KeyId));
                var grant = decide(current);
                if (current.Grants.ContainsKey(grant.GrantId))
                {
                    return (current, grant);
                }

                var next = current with { Grants = current.Grants.Add(grant.GrantId, grant), Version = current.Version + 1 };
                await store.SaveGrantAsync(KeyVersion.Of(next), grant, cancellationToken);
                Publish(() => catalog.Put(next));
                return (next, grant);
            },
            cancellationToken);

    /// <summary>
    /// Deletes a grant of a key that still exists. <paramref name="decide"/> gets the key's current record and returns
    /// the grant to delete, or throws.
    /// </summary>
    public Task DeleteGrantAsync(KeyRecord key, Func<KeyRecord, GrantRecord> decide, CancellationToken cancellationToken) =>
        ExclusiveAsync(
            async () =>
            {
                var current = Live(key, catalog.FindKey(key.Scope, key.KeyId));
                var grant = decide(current);
                var next = current with { Grants = current.Grants.Remove(grant.GrantId), Version = current.Version + 1 };
                await store.DeleteGrantAsync(KeyVersion.Of(next), grant.GrantId, cancellationToken);
                Publish(() => catalog.Put(next));
                return grant;
            },
            cancellationToken);

    // ---------------------------------------------------------------- material

    /// <summary>What the HSM holds for one material version of a key, to create it or to check it.</summary>
    public static HsmKeyDescription DescribeMaterial(KeyRecord key, KeyMaterialVersion material) =>
        DescribeMaterial(material.HsmLabel, key.KeySpec, key.KeyUsage) with { Imported = key.Origin == OriginType.EXTERNAL };

    private static HsmKeyDescription DescribeMaterial(string label, KeySpec spec, KeyUsageType usage)
    {
        var capability = KeySpecCapabilities.For(spec);
        return capability.Material is { } material
            ? new HsmKeyDescription(label, material, AlgorithmCapabilities.HsmUsage(usage))
            : throw KmsErrors.UnsupportedKeySpec(spec, capability.UnsupportedReason);
    }

    /// <summary>Creates the HSM object(s) of one material version: AES key, HMAC secret or key pair.</summary>
    private async Task CreateMaterialAsync(string label, KeySpec spec, KeyUsageType usage, CancellationToken cancellationToken)
    {
        var material = DescribeMaterial(label, spec, usage);
        if (material.Spec == HsmKeySpec.Aes256)
        {
            await hsm.CreateAesKeyAsync(label, cancellationToken);
        }
        else if (material.Usage == HsmKeyUsage.GenerateVerifyMac)
        {
            await hsm.CreateHmacKeyAsync(label, material.Spec, cancellationToken);
        }
        else
        {
            await hsm.CreateKeyPairAsync(label, material.Spec, material.Usage, cancellationToken);
        }
    }

    /// <summary>Destroys material that no committed key refers to; on failure it is kept for the next sweep.</summary>
    private async Task DestroyUncommittedAsync(string label)
    {
        try
        {
            await hsm.DestroyAsync(label, CancellationToken.None);
        }
        catch (Exception e) when (e is HsmException or ObjectDisposedException)
        {
            _pendingDestroys[label] = 0;
            LogDestroyDeferred(label, e.Message);
        }
    }

    // ---------------------------------------------------------------- helpers

    /// <summary>
    /// Runs one write under the lock. When the store finds the catalogue's copy of a key stale:
    /// <list type="bullet">
    /// <item>with a store shared by several processes (another one wrote the key since this one caught up), the
    /// catalogue catches up and the write runs again from the store's state, so that its checks see the change it
    /// missed: it then answers as AWS would after that change (a disabled key's error, a deletion already done) or
    /// succeeds; after <see cref="MaxAttempts"/> tries it fails as an internal error;</item>
    /// <item>with a store only this process writes (a hand edit), the catalogue is reloaded and the write fails as
    /// KMSInternalException, so that the next request works from the store's state.</item>
    /// </list>
    /// With a shared store, the catalogue learns of a committed write by catching up before the lock is released (never
    /// by putting records, which could overwrite a newer copy that a request's catch-up brought in meanwhile).
    /// </summary>
    private async Task<T> ExclusiveAsync<T>(Func<Task<T>> write, CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken);
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                T result;
                try
                {
                    result = await write();
                }
                catch (KeyVersionConflictException conflict) when (Shared && attempt < MaxAttempts)
                {
                    LogChangedElsewhere(conflict.KeyId, conflict.Scope.AccountId, conflict.Scope.Region, conflict.Expected, conflict.Stored, attempt);
                    await sync!.CatchUpAsync(cancellationToken);
                    continue;
                }
                catch (KeyVersionConflictException conflict)
                {
                    LogStale(conflict.KeyId, conflict.Scope.AccountId, conflict.Scope.Region, conflict.Expected, conflict.Stored);
                    try
                    {
                        if (Shared)
                        {
                            await sync!.CatchUpAsync(CancellationToken.None);
                        }
                        else
                        {
                            catalog.Load(await store.LoadAsync(CancellationToken.None));
                        }
                    }
                    catch (Exception e)
                    {
                        LogRefreshFailed(e);
                    }

                    throw;
                }

                if (Shared)
                {
                    await PublishCommittedAsync();
                }

                return result;
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>With a store only this process writes: puts a committed change into the catalogue.</summary>
    private void Publish(Action publish)
    {
        if (!Shared)
        {
            publish();
        }
    }

    /// <summary>
    /// With a shared store, after a commit: catches up, which brings in the write just made. The write is committed
    /// whatever happens here; if the store cannot be read now, the next request catches up before it reads (or fails).
    /// </summary>
    private async Task PublishCommittedAsync()
    {
        try
        {
            await sync!.CatchUpAsync(CancellationToken.None);
        }
        catch (Exception e)
        {
            LogRefreshFailed(e);
        }
    }

    /// <summary>The key's current record, unless it is gone (deleted, or past its deletion date).</summary>
    private KeyRecord Live(KeyRecord key, KeyRecord? current) =>
        current is not null && !lifecycle.IsExpired(current) ? current : throw KmsErrors.KeyDoesNotExist(key.Arn);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not destroy the HSM objects {Label} of a key that was never committed ({Reason}); the deletion sweep tries again")]
    private partial void LogDestroyDeferred(string label, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The store holds key {KeyId} in {AccountId}/{Region} at another version than the catalogue's copy (expected {Expected}, stored {Stored}); the write was refused and the catalogue is reloaded from the store")]
    private partial void LogStale(string keyId, string accountId, string region, long expected, long? stored);

    [LoggerMessage(Level = LogLevel.Information, Message = "Key {KeyId} in {AccountId}/{Region} was changed by another emulator sharing the store (expected version {Expected}, stored {Stored}); the write is computed again from the store's state (attempt {Attempt})")]
    private partial void LogChangedElsewhere(string keyId, string accountId, string region, long expected, long? stored, int attempt);

    [LoggerMessage(Level = LogLevel.Error, Message = "Reloading the key catalogue from the store failed; it stays as it was")]
    private partial void LogRefreshFailed(Exception exception);
}
