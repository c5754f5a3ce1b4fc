using System.Security.Cryptography;
using KmsEmulator.Api.Generated;
using KmsEmulator.Hsm;
using Microsoft.Extensions.Logging;

namespace KmsEmulator.Api.Keys;

/// <summary>
/// A key's life: creation, enabling and disabling, its description, scheduling and cancelling deletion, the sweep that
/// removes keys whose waiting period is over, and the start-up check that store and HSM agree. Writes go through
/// <see cref="KeyWriter"/>; when a key becomes invisible is <see cref="KeyLifecycle"/>'s rule.
/// </summary>
public sealed partial class KeyLifecycleService(
    KeyWriter writer,
    KeyLifecycle lifecycle,
    KeyCatalog catalog,
    IKeyMaterialBackend hsm,
    ILogger<KeyLifecycleService> logger,
    OrphanPolicy? orphans = null)
{
    private readonly OrphanPolicy _orphans = orphans ?? OrphanPolicy.Immediate;

    public async Task<KeyRecord> CreateKeyAsync(KeyScope scope, NewKey request, CancellationToken cancellationToken)
    {
        TagService.ValidateTags(request.Tags, []);
        var keyId = request.MultiRegion
            ? "mrk-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16))
            : Guid.NewGuid().ToString("D");
        return await writer.CreateKeyAsync(NewRecord(scope, keyId, request), cancellationToken);
    }

    /// <summary>
    /// The record of a new key as CreateKey makes it, at the current time: Enabled with its first material version
    /// (to be made in the HSM by <see cref="KeyWriter.CreateKeyAsync"/>), or PendingImport without material for Origin
    /// EXTERNAL. The seed file starts from it too.
    /// </summary>
    public KeyRecord NewRecord(KeyScope scope, string keyId, NewKey request)
    {
        var now = lifecycle.Now;
        var material = request.Origin == OriginType.AWS_KMS ? writer.NewMaterial(scope, keyId, 1, now) : null;
        return new KeyRecord
        {
            Scope = scope,
            KeyId = keyId,
            Description = request.Description,
            KeySpec = request.KeySpec,
            KeyUsage = request.KeyUsage,
            Origin = request.Origin,
            KeyState = material is null ? KeyState.PendingImport : KeyState.Enabled,
            CreationDate = now,
            MultiRegion = request.MultiRegion,
            PrimaryRegion = request.MultiRegion ? scope.Region : null,
            Policy = request.Policy,
            Materials = material is null ? [] : [material],
            CurrentMaterialVersion = material?.Version ?? 0,
            Tags = [.. request.Tags],
        };
    }

    public Task<KeyRecord> EnableAsync(KeyRecord key, CancellationToken cancellationToken) =>
        writer.UpdateKeyAsync(key, KeyStateRule.EnableDisable, k => k with { KeyState = KeyState.Enabled }, cancellationToken);

    public Task<KeyRecord> DisableAsync(KeyRecord key, CancellationToken cancellationToken) =>
        writer.UpdateKeyAsync(key, KeyStateRule.EnableDisable, k => k with { KeyState = KeyState.Disabled }, cancellationToken);

    /// <summary>
    /// Schedules deletion. A multi-Region primary key that still has replicas waits for them in PendingReplicaDeletion,
    /// with no deletion date yet; its window starts when its last replica is deleted (<see cref="StartPrimaryDeletionWindowsAsync"/>).
    /// </summary>
    public Task<KeyRecord> ScheduleDeletionAsync(KeyRecord key, int pendingWindowInDays, CancellationToken cancellationToken) =>
        writer.UpdateKeyAsync(
            key,
            KeyStateRule.ScheduleDeletion,
            k => lifecycle.HasReplicas(k)
                ? k with { KeyState = KeyState.PendingReplicaDeletion, DeletionDate = null, PendingDeletionWindowInDays = pendingWindowInDays, SettledState = null }
                : k with
                {
                    KeyState = KeyState.PendingDeletion,
                    DeletionDate = lifecycle.Now.AddDays(pendingWindowInDays),
                    PendingDeletionWindowInDays = pendingWindowInDays,
                    SettledState = null,
                },
            cancellationToken);

    /// <summary>
    /// Multi-Region primary keys in PendingReplicaDeletion whose last replica is deleted go to PendingDeletion, their
    /// waiting period starting now. Returns the keys that changed.
    /// </summary>
    public async Task<IReadOnlyList<KeyRecord>> StartPrimaryDeletionWindowsAsync(CancellationToken cancellationToken)
    {
        var started = new List<KeyRecord>();
        foreach (var key in catalog.AllKeys.Where(k => k.KeyState == KeyState.PendingReplicaDeletion && !lifecycle.HasReplicas(k)).ToList())
        {
            try
            {
                started.Add(await writer.UpdateKeyAsync(key, KeyStateRule.Any, k => k.KeyState == KeyState.PendingReplicaDeletion && !lifecycle.HasReplicas(k)
                    ? k with { KeyState = KeyState.PendingDeletion, DeletionDate = lifecycle.Now.AddDays(k.PendingDeletionWindowInDays ?? 30) }
                    : throw new NoLongerDueException(), cancellationToken));
            }
            catch (Exception e) when (e is NoLongerDueException || (e is KmsException { Code: KmsErrorCodes.NotFoundException }))
            {
                // Changed or deleted since the scan: nothing to do.
            }
        }

        return started;
    }

    /// <summary>Keys in the transient states Creating and Updating take their settled state (the lifecycle sweep).</summary>
    public Task<IReadOnlyList<KeyRecord>> SettleTransientStatesAsync(CancellationToken cancellationToken) =>
        writer.SettleTransientStatesAsync(cancellationToken);

    public Task<KeyRecord> CancelDeletionAsync(KeyRecord key, CancellationToken cancellationToken) =>
        writer.UpdateKeyAsync(key, KeyStateRule.CancelDeletion, k => k with
        {
            // A key whose imported material was deleted or expired meanwhile has nothing to be disabled with.
            KeyState = k.Origin == OriginType.EXTERNAL && k.Import is not { Present: true } ? KeyState.PendingImport : KeyState.Disabled,
            Import = k.Import is { Present: false } absent ? absent with { StateAfterImport = KeyState.Disabled } : k.Import,
            DeletionDate = null,
            PendingDeletionWindowInDays = null,
            SettledState = null,
        }, cancellationToken);

    public Task<KeyRecord> UpdateDescriptionAsync(KeyRecord key, string description, CancellationToken cancellationToken) =>
        writer.UpdateKeyAsync(key, KeyStateRule.Management, k => k with { Description = description }, cancellationToken);

    /// <summary>
    /// Removes every key whose deletion date has passed (metadata first, then its HSM objects), and destroys the
    /// material of failed writes that could not be destroyed when they failed.
    /// </summary>
    public async Task<IReadOnlyList<KeyRecord>> DeleteExpiredKeysAsync(CancellationToken cancellationToken)
    {
        await writer.DestroyPendingAsync();

        var deleted = new List<KeyRecord>();
        foreach (var key in lifecycle.ExpiredKeys())
        {
            if (await writer.DeleteKeyAsync(key, lifecycle.IsExpired, cancellationToken))
            {
                LogKeyDeleted(key.KeyId, key.Scope.AccountId, key.Scope.Region);
                deleted.Add(key);
            }
        }

        return deleted;
    }

    /// <summary>
    /// Automatic rotation: every enabled key whose rotation is on and due gets a new material version, and its next
    /// rotation date moves one period past now (a clock moved across several periods rotates once, as a key that
    /// was disabled for a while does in AWS). Disabled keys wait until they are enabled again.
    /// </summary>
    public async Task<IReadOnlyList<KeyRecord>> RotateDueKeysAsync(CancellationToken cancellationToken)
    {
        var now = lifecycle.Now;
        var rotated = new List<KeyRecord>();
        foreach (var key in catalog.AllKeys.Where(k => IsDue(k, now)).ToList())
        {
            try
            {
                var after = await writer.RotateAsync(key, RotationTypeWire.ToWire(RotationType.AUTOMATIC), now,
                    live =>
                    {
                        if (!IsDue(live, now))
                        {
                            throw new NoLongerDueException();
                        }
                    },
                    live => live with { NextRotationDate = now.AddDays(live.RotationPeriodInDays ?? 365) },
                    cancellationToken);
                LogKeyRotated(key.KeyId, key.Scope.AccountId, key.Scope.Region);
                rotated.Add(after);
            }
            catch (Exception e) when (e is NoLongerDueException || (e is KmsException { Code: KmsErrorCodes.NotFoundException }))
            {
                // Changed or deleted since the scan: nothing to do.
            }
        }

        return rotated;
    }

    // A multi-Region key rotates at its primary, which copies the new version into every replica.
    private static bool IsDue(KeyRecord key, DateTimeOffset now) =>
        key.RotationEnabled && !key.IsMultiRegionReplica && key.KeyState == KeyState.Enabled && key.NextRotationDate is { } next && next <= now;

    private sealed class NoLongerDueException : Exception;

    /// <summary>
    /// Start-up check that store and HSM agree, in one pass over the token (so that no key's first use searches it):
    /// material objects with no metadata row (left by a crash between the two writes) are destroyed, as
    /// <see cref="OrphanPolicy"/> allows; rows whose material is missing, and keys whose objects are not what was made,
    /// are reported and never used.
    /// </summary>
    /// <remarks>
    /// With a grace period (several nodes on one token and store), an object without a row is destroyed only when it
    /// is older than the grace period by the time its CKA_ID carries (objects made before ids were dated count as old),
    /// and when the store, read once more right before, has no row for it either: a row committed by another node since
    /// this node loaded its catalogue keeps the object. The store is read again only when there is such an object, so
    /// the pass stays one read of the token and of the store in the usual case.
    /// </remarks>
    public async Task<HsmInventory> ReconcileAsync(CancellationToken cancellationToken)
    {
        var expected = new List<HsmKeyDescription>();
        foreach (var key in catalog.AllKeys)
        {
            // Imported material is expected only while the key has it (DeleteImportedKeyMaterial and expiry destroy it).
            foreach (var material in key.Materials)
            {
                if (KeySpecCapabilities.For(key.KeySpec).Material is not null && (key.Origin != OriginType.EXTERNAL || key.Import is { Present: true }))
                {
                    expected.Add(KeyWriter.DescribeMaterial(key, material));
                }
            }

            // The wrapping key pairs of unexpired GetParametersForImport answers (expired ones go with the next sweep).
            foreach (var parameters in key.ImportParameters)
            {
                if (WrappingKeySpecWire.TryParse(parameters.WrappingKeySpec, out var wrappingSpec))
                {
                    expected.Add(new HsmKeyDescription(parameters.HsmLabel, KeyImportService.WrappingSpecOf(wrappingSpec), HsmKeyUsage.ImportWrapping));
                }
            }
        }

        var inventory = await hsm.IndexAsync(writer.HsmLabelPrefix, expected, cancellationToken);
        foreach (var orphan in await OrphansToDestroyAsync(inventory, cancellationToken))
        {
            await hsm.DestroyAsync(orphan, cancellationToken);
            LogOrphanDestroyed(orphan);
        }

        foreach (var missing in inventory.Missing)
        {
            LogMaterialMissing(missing);
        }

        foreach (var defect in inventory.Defective)
        {
            LogMaterialDefective(defect.Label, string.Join("; ", defect.Differences));
        }

        LogReconciled(expected.Count, inventory.KeyObjects, inventory.Unexpected.Count, inventory.Missing.Count, inventory.Defective.Count);
        return inventory;
    }

    /// <summary>The unexpected objects of <paramref name="inventory"/> that <see cref="OrphanPolicy"/> lets go.</summary>
    private async Task<List<string>> OrphansToDestroyAsync(HsmInventory inventory, CancellationToken cancellationToken)
    {
        if (_orphans.GracePeriod <= TimeSpan.Zero || inventory.Unexpected.Count == 0)
        {
            return [.. inventory.Unexpected];
        }

        var now = _orphans.Clock.GetUtcNow();
        var old = new List<string>();
        foreach (var label in inventory.Unexpected)
        {
            if (inventory.CreatedAt.TryGetValue(label, out var made) && now - made < _orphans.GracePeriod)
            {
                LogOrphanKeptYoung(label, made, _orphans.GracePeriod);
                continue;
            }

            old.Add(label);
        }

        if (old.Count == 0)
        {
            return old;
        }

        var referenced = await writer.StoredHsmLabelsAsync(cancellationToken);
        foreach (var label in old.Where(referenced.Contains))
        {
            LogOrphanKeptCommitted(label);
        }

        return [.. old.Where(label => !referenced.Contains(label))];
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Deleted key {KeyId} in {AccountId}/{Region} after its waiting period")]
    private partial void LogKeyDeleted(string keyId, string accountId, string region);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Destroyed HSM object {Label}: no key metadata refers to it (left by an interrupted CreateKey)")]
    private partial void LogOrphanDestroyed(string label);

    [LoggerMessage(Level = LogLevel.Information, Message = "Kept HSM object {Label} without key metadata: made at {MadeAt:O}, within the orphan grace period of {GracePeriod} (another node may be creating its key)")]
    private partial void LogOrphanKeptYoung(string label, DateTimeOffset madeAt, TimeSpan gracePeriod);

    [LoggerMessage(Level = LogLevel.Information, Message = "Kept HSM object {Label}: a key row referring to it was committed after this node loaded the store")]
    private partial void LogOrphanKeptCommitted(string label);

    [LoggerMessage(Level = LogLevel.Error, Message = "Key material {Label} is recorded in the store but missing from the HSM token")]
    private partial void LogMaterialMissing(string label);

    [LoggerMessage(Level = LogLevel.Error, Message = "Key material {Label} is not what was made and will not be used: {Differences}")]
    private partial void LogMaterialDefective(string label, string differences);

    [LoggerMessage(Level = LogLevel.Information, Message = "Rotated key {KeyId} in {AccountId}/{Region} (automatic rotation)")]
    private partial void LogKeyRotated(string keyId, string accountId, string region);

    [LoggerMessage(Level = LogLevel.Information, Message = "HSM index: {Materials} key materials expected, {Objects} key objects on the token; {Orphans} orphans destroyed, {Missing} missing, {Defective} defective")]
    private partial void LogReconciled(int materials, int objects, int orphans, int missing, int defective);
}
