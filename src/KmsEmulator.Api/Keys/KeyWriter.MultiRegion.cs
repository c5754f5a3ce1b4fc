using System.Security.Cryptography;
using KmsEmulator.Api.Generated;

namespace KmsEmulator.Api.Keys;

/// <summary>
/// The writes of multi-Region keys: a replica (its material copied inside the HSM from the primary's), a new primary
/// region, the transient states Creating and Updating settling, and the writes that change a primary and its replicas
/// together (rotation, rotation settings). A multi-Region key is one row per region with the same account and key id
/// (<see cref="KeyCatalog.MultiRegionKeys"/>); every row names the primary's region (<see cref="KeyRecord.PrimaryRegion"/>).
/// The shared properties (key material versions, rotation settings) change on every row in one store transaction.
/// </summary>
public sealed partial class KeyWriter
{
    /// <summary>
    /// A new material version for a key in <paramref name="scope"/>. Multi-Region keys have one copy of each material
    /// version per region, so their labels name the region (and a random part, so that a replica made again in a
    /// region never meets an object of the one before); single-Region keys keep <c>{key id}/{version}</c>.
    /// </summary>
    public KeyMaterialVersion NewMaterial(KeyScope scope, string keyId, int version, DateTimeOffset createdAt) =>
        keyId.StartsWith("mrk-", StringComparison.Ordinal)
            ? new(version, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)),
                $"{HsmLabelPrefix}{keyId}/{scope.Region}/{version}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}", createdAt)
            : NewMaterial(keyId, version, createdAt);

    /// <summary>
    /// ReplicateKey, under the lock: <paramref name="check"/> runs on the primary's current record; every material
    /// version of the primary is copied inside the HSM under the replica's labels (none for imported material, which the
    /// replica gets by its own import, as in AWS); <paramref name="makeReplica"/> builds the replica from the primary and
    /// the copied versions; the replica is committed, or the copies are destroyed again.
    /// </summary>
    public Task<KeyRecord> ReplicateAsync(
        KeyRecord primary,
        string replicaRegion,
        Action<KeyRecord> check,
        Func<KeyRecord, KeyScope, IReadOnlyList<KeyMaterialVersion>, KeyRecord> makeReplica,
        CancellationToken cancellationToken) =>
        ExclusiveAsync(
            async () =>
            {
                var live = Live(primary, catalog.FindKey(primary.Scope, primary.KeyId));
                check(live);
                var scope = live.Scope with { Region = replicaRegion };
                if (catalog.FindKey(scope, live.KeyId) is not null)
                {
                    throw KmsErrors.ReplicaAlreadyExists(scope.KeyArn(live.KeyId));
                }

                var copies = live.Origin == OriginType.EXTERNAL
                    ? []
                    : live.Materials.Select(m => NewMaterial(scope, live.KeyId, m.Version, m.CreatedAt) with { MaterialId = m.MaterialId, RotationType = m.RotationType }).ToList();
                var made = new List<string>(copies.Count);
                try
                {
                    foreach (var copy in copies)
                    {
                        var source = live.FindMaterial(copy.Version)!;
                        await hsm.CopyKeyAsync(source.HsmLabel, DescribeMaterial(live, copy), cancellationToken);
                        made.Add(copy.HsmLabel);
                    }

                    var replica = makeReplica(live, scope, copies);
                    return await CommitKeyAsync(scope, live.KeyId,
                        current => current is null ? replica : throw KmsErrors.ReplicaAlreadyExists(scope.KeyArn(live.KeyId)), cancellationToken);
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
    /// UpdatePrimaryRegion, under the lock: <paramref name="check"/> runs on the primary's and the new primary's current
    /// records; every key of the set then names <paramref name="region"/> as its primary region, and the old and new
    /// primary go to Updating until the next lifecycle sweep settles them back to the state they had. All in one commit.
    /// </summary>
    public Task<IReadOnlyList<KeyRecord>> UpdatePrimaryRegionAsync(KeyRecord primary, string region, Action<KeyRecord, KeyRecord?> check, CancellationToken cancellationToken) =>
        ExclusiveAsync(
            async () =>
            {
                var live = Live(primary, catalog.FindKey(primary.Scope, primary.KeyId));
                var set = LiveSet(live);
                var target = set.FirstOrDefault(k => k.Scope.Region == region);
                check(live, target);
                var changed = set.Select(k => k.Scope.Region == live.Scope.Region || k.Scope.Region == region
                        ? k with { PrimaryRegion = region, KeyState = KeyState.Updating, SettledState = Settled(k) }
                        : k with { PrimaryRegion = region })
                    .ToList();
                return await CommitKeysAsync(changed, cancellationToken);
            },
            cancellationToken);

    /// <summary>
    /// The lifecycle sweep's end of Creating and Updating: every key in one of them takes its settled state. Returns the
    /// keys that changed.
    /// </summary>
    public async Task<IReadOnlyList<KeyRecord>> SettleTransientStatesAsync(CancellationToken cancellationToken)
    {
        var settled = new List<KeyRecord>();
        foreach (var key in catalog.AllKeys.Where(IsTransient).ToList())
        {
            var next = await ExclusiveAsync(
                async () => catalog.FindKey(key.Scope, key.KeyId) is { } live && IsTransient(live)
                    ? await CommitKeyAsync(live.Scope, live.KeyId, current => current! with { KeyState = current.SettledState!.Value, SettledState = null }, cancellationToken)
                    : null,
                cancellationToken);
            if (next is not null)
            {
                settled.Add(next);
            }
        }

        return settled;
    }

    /// <summary>
    /// The rotation settings of a multi-Region primary are shared: after <paramref name="primary"/> changed them, every
    /// replica gets the same (rotation status, period and next date). Empty for other keys.
    /// </summary>
    private List<KeyRecord> ReplicasWithSharedSettings(KeyRecord primary)
    {
        if (!primary.IsMultiRegionPrimary)
        {
            return [];
        }

        return LiveSet(primary)
            .Where(k => k.Scope.Region != primary.Scope.Region)
            .Where(k => k.RotationEnabled != primary.RotationEnabled || k.RotationPeriodInDays != primary.RotationPeriodInDays || k.NextRotationDate != primary.NextRotationDate)
            .Select(k => k with { RotationEnabled = primary.RotationEnabled, RotationPeriodInDays = primary.RotationPeriodInDays, NextRotationDate = primary.NextRotationDate })
            .ToList();
    }

    /// <summary>
    /// Under the lock, for a rotation of a multi-Region primary: copies the new material version into every replica's
    /// region inside the HSM and returns the replicas with it (and with the primary's rotation settings). The labels of
    /// the copies made go to <paramref name="made"/>, so that the caller destroys them if the commit fails.
    /// </summary>
    private async Task<List<KeyRecord>> ReplicasWithNewMaterialAsync(KeyRecord primary, KeyMaterialVersion material, List<string> made, CancellationToken cancellationToken)
    {
        var replicas = new List<KeyRecord>();
        if (!primary.IsMultiRegionPrimary)
        {
            return replicas;
        }

        foreach (var replica in LiveSet(primary).Where(k => k.Scope.Region != primary.Scope.Region))
        {
            var copy = NewMaterial(replica.Scope, replica.KeyId, material.Version, material.CreatedAt) with
            {
                MaterialId = material.MaterialId,
                RotationType = material.RotationType,
            };
            await hsm.CopyKeyAsync(material.HsmLabel, DescribeMaterial(replica, copy), cancellationToken);
            made.Add(copy.HsmLabel);
            replicas.Add(replica with
            {
                Materials = replica.Materials.Add(copy),
                CurrentMaterialVersion = copy.Version,
                RotationEnabled = primary.RotationEnabled,
                RotationPeriodInDays = primary.RotationPeriodInDays,
                NextRotationDate = primary.NextRotationDate,
            });
        }

        return replicas;
    }

    /// <summary>Under the lock: several keys' next versions, committed in one store transaction, then published.</summary>
    private async Task<IReadOnlyList<KeyRecord>> CommitKeysAsync(IReadOnlyList<KeyRecord> changed, CancellationToken cancellationToken)
    {
        var next = changed.Select(k => k with { Version = (catalog.FindKey(k.Scope, k.KeyId)?.Version ?? 0) + 1 }).ToList();
        await store.SaveKeysAsync(next, cancellationToken);
        Publish(() =>
        {
            foreach (var key in next)
            {
                catalog.Put(key);
            }
        });

        return next;
    }

    /// <summary>The keys of <paramref name="key"/>'s multi-Region key that are not past their deletion date.</summary>
    private List<KeyRecord> LiveSet(KeyRecord key) =>
        key.MultiRegion ? catalog.MultiRegionKeys(key.Scope.AccountId, key.KeyId).Where(k => !lifecycle.IsExpired(k)).ToList() : [key];

    private static bool IsTransient(KeyRecord key) => key.KeyState is KeyState.Creating or KeyState.Updating && key.SettledState is not null;

    /// <summary>The state a key returns to after a transient state: the one it had before (or would have settled into).</summary>
    private static KeyState Settled(KeyRecord key) => IsTransient(key) ? key.SettledState!.Value : key.KeyState;
}
