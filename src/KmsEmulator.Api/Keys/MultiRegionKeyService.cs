using KmsEmulator.Api.Generated;

namespace KmsEmulator.Api.Keys;

/// <summary>What ReplicateKey asked for the replica, after defaults and validation.</summary>
public sealed record NewReplica(string Region, string Description, string Policy, IReadOnlyList<KeyTag> Tags);

/// <summary>
/// Multi-Region keys: ReplicateKey and UpdatePrimaryRegion, and what a multi-Region key looks like from one of its
/// keys (DescribeKey's MultiRegionConfiguration). A multi-Region key is one key per region with the same account and
/// key id; they share key material (every version, copied inside the HSM), key spec, usage, origin and rotation
/// settings; policy, description, tags, aliases, grants and key state are each key's own. Writes go through
/// <see cref="KeyWriter"/>.
/// </summary>
public sealed class MultiRegionKeyService(KeyWriter writer, KeyLifecycle lifecycle)
{
    /// <summary>
    /// Creates a replica of the primary key <paramref name="primary"/> in <paramref name="request"/>'s region, in state
    /// Creating until the next lifecycle sweep (then Enabled, or PendingImport for imported material, which the replica
    /// has to import itself, as in AWS).
    /// </summary>
    public Task<KeyRecord> ReplicateAsync(KeyRecord primary, NewReplica request, CancellationToken cancellationToken) =>
        ReplicateAsync(primary, request, KeyStateRule.Replicate, cancellationToken);

    /// <summary>
    /// <see cref="ReplicateAsync(KeyRecord, NewReplica, CancellationToken)"/> with the primary's state checked by
    /// <paramref name="primaryStateRule"/>: the seed file, which declares a multi-Region key as a whole, replicates a
    /// disabled primary too (<see cref="KeyStateRule.Any"/>).
    /// </summary>
    public Task<KeyRecord> ReplicateAsync(KeyRecord primary, NewReplica request, KeyStateRule primaryStateRule, CancellationToken cancellationToken)
    {
        CheckReplicaRegion(primary, request.Region);
        TagService.ValidateTags(request.Tags, []);
        var now = lifecycle.Now;
        return writer.ReplicateAsync(
            primary,
            request.Region,
            live =>
            {
                CheckPrimary(live);
                KeyStateRules.Check(primaryStateRule, live);
            },
            (live, scope, materials) => new KeyRecord
            {
                Scope = scope,
                KeyId = live.KeyId,
                Description = request.Description,
                KeySpec = live.KeySpec,
                KeyUsage = live.KeyUsage,
                Origin = live.Origin,
                KeyState = KeyState.Creating,
                SettledState = live.Origin == OriginType.EXTERNAL ? KeyState.PendingImport : KeyState.Enabled,
                CreationDate = now,
                MultiRegion = true,
                PrimaryRegion = live.Scope.Region,
                Policy = request.Policy,
                Materials = [.. materials],
                CurrentMaterialVersion = materials.Count == 0 ? 0 : live.CurrentMaterialVersion,
                RotationEnabled = live.RotationEnabled,
                RotationPeriodInDays = live.RotationPeriodInDays,
                NextRotationDate = live.NextRotationDate,
                Tags = [.. request.Tags],
                // Imported material: the replica must be given the primary's material (ImportKeyMaterial with
                // EXISTING_KEY_MATERIAL); its check value is what that import is compared with.
                Import = live.Import is { } imported
                    ? new ImportedMaterial(imported.CheckValue, Present: false, null, null, null, KeyState.Enabled)
                    : null,
            },
            cancellationToken);
    }

    /// <summary>
    /// Makes the replica in <paramref name="region"/> the primary key and <paramref name="primary"/> a replica; both are
    /// Updating until the next lifecycle sweep.
    /// </summary>
    public Task<IReadOnlyList<KeyRecord>> UpdatePrimaryRegionAsync(KeyRecord primary, string region, CancellationToken cancellationToken) =>
        writer.UpdatePrimaryRegionAsync(
            primary,
            region,
            (live, target) =>
            {
                CheckPrimary(live);
                KeyStateRules.Check(KeyStateRule.UpdatePrimaryRegion, live);
                if (region == live.Scope.Region)
                {
                    throw KmsErrors.AlreadyPrimaryRegion(live.Arn, region);
                }

                var replica = target ?? throw KmsErrors.KeyDoesNotExist((live.Scope with { Region = region }).KeyArn(live.KeyId));
                // The replica that becomes primary may be disabled (it stays so); not being created, pending
                // deletion or without its material.
                if (replica.KeyState != KeyState.Disabled)
                {
                    KeyStateRules.Check(KeyStateRule.UpdatePrimaryRegion, replica);
                }
            },
            cancellationToken);

    /// <summary>
    /// The multi-Region configuration DescribeKey shows for <paramref name="key"/>: its type, the primary and every
    /// replica (this key included); null for a single-Region key.
    /// </summary>
    public MultiRegionView? ViewOf(KeyRecord key)
    {
        if (!key.MultiRegion)
        {
            return null;
        }

        var primaryRegion = key.PrimaryRegion ?? key.Scope.Region;
        var primaryScope = key.Scope with { Region = primaryRegion };
        var replicas = lifecycle.MultiRegionSet(key)
            .Where(k => k.Scope.Region != primaryRegion)
            .OrderBy(k => k.CreationDate)
            .ThenBy(k => k.Scope.Region, StringComparer.Ordinal)
            .Select(k => (k.Arn, k.Scope.Region))
            .ToList();
        return new MultiRegionView(key.IsMultiRegionPrimary, (primaryScope.KeyArn(key.KeyId), primaryRegion), replicas);
    }

    /// <summary>Only a multi-Region primary key can be replicated or give up its primary role.</summary>
    public static void CheckPrimary(KeyRecord key)
    {
        if (!key.IsMultiRegionPrimary)
        {
            throw KmsErrors.NotMultiRegionPrimary(key.Arn);
        }
    }

    /// <summary>A replica goes into another region of the same partition that KMS has.</summary>
    private static void CheckReplicaRegion(KeyRecord primary, string region)
    {
        if (region == primary.Scope.Region)
        {
            throw KmsErrors.ReplicaRegionIsPrimaryRegion(region);
        }

        if (!AwsRegions.Known.Contains(region))
        {
            throw KmsErrors.ReplicaRegionUnknown(region);
        }

        if (AwsRegions.PartitionOf(region) != primary.Scope.Partition)
        {
            throw KmsErrors.ReplicaRegionOtherPartition(region, primary.Scope.Partition);
        }
    }
}

/// <summary>A multi-Region key as one of its keys sees it.</summary>
/// <param name="IsPrimary">Whether the key is the primary.</param>
/// <param name="Primary">The primary key's ARN and region.</param>
/// <param name="Replicas">Every replica's ARN and region, oldest first.</param>
public sealed record MultiRegionView(bool IsPrimary, (string Arn, string Region) Primary, IReadOnlyList<(string Arn, string Region)> Replicas);
