using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Pipeline;
using KmsEmulator.Policy;

namespace KmsEmulator.Api.Hosting;

/// <summary>What one seed run did: keys, aliases and grants it created, imported materials, and keys already there.</summary>
public sealed record SeedOutcome(int KeysCreated, int AliasesCreated, int GrantsCreated, int MaterialsImported, int Unchanged);

/// <summary>
/// Applies a parsed seed at start-up, after the catalogue is loaded and the HSM reconciled, before the emulator is ready.
/// Every entry is first compared with the catalogue and checked (policies get CreateKey's lockout safety check, grants
/// CreateGrant's checks); any conflict or refusal fails the start with nothing written. Then, through the paths the API
/// uses: missing keys are created (<see cref="KeyWriter"/>, as CreateKey does), imported material goes into the HSM
/// through ImportKeyMaterial's own path (<see cref="KeyImportService.ImportPlaintextAsync"/>), missing replicas of
/// multi-Region keys are made as ReplicateKey makes them, then missing aliases and grants are added. If a write fails,
/// everything this run wrote is undone in reverse order (grants, aliases, imported material, replicas, keys: rows and
/// HSM objects).
/// </summary>
/// <remarks>
/// A key that exists is never changed: a field the entry gives (spec, usage, origin, description, tags, policy,
/// rotation, enabled, key material, expiration) that differs from the key's is a conflict (docs/seeding.md says why).
/// Things the entry declares that are missing are made again: a deleted alias, grant or replica, and imported material
/// that was deleted or expired. Imported material is compared by its check value, computed from the seed's material
/// inside the HSM (or, for key pairs, from the public key), never by reading the key's material out of the HSM.
/// </remarks>
public sealed class SeedApplier(
    KeyWriter writer,
    KeyCatalog catalog,
    KeyLifecycle lifecycle,
    KeyLifecycleService keys,
    KeyImportService imports,
    MultiRegionKeyService multiRegion,
    GrantService grants,
    IAuthorizer authorizer)
{
    /// <summary>What one entry needs written.</summary>
    private sealed class Plan(SeedKey entry)
    {
        public SeedKey Entry { get; } = entry;

        /// <summary>The primary (or only) key to create, or null when it exists.</summary>
        public KeyRecord? NewKey { get; set; }

        /// <summary>Keys that exist and wait for their imported material (deleted or expired): it is imported again.</summary>
        public List<KeyRecord> Reimports { get; } = [];

        public List<string> NewReplicaRegions { get; } = [];

        public List<(KeyScope Scope, string Alias)> NewAliases { get; } = [];

        public List<SeedGrant> NewGrants { get; } = [];

        public int Existing { get; set; }
    }

    public async Task<SeedOutcome> ApplyAsync(string path, IReadOnlyList<SeedKey> seed, CancellationToken cancellationToken)
    {
        var plans = new List<Plan>();
        foreach (var entry in seed)
        {
            plans.Add(await PlanAsync(path, entry, cancellationToken));
        }

        var undo = new List<(string What, Func<Task> Action)>();
        int keysCreated = 0, aliasesCreated = 0, grantsCreated = 0, imported = 0;
        try
        {
            foreach (var plan in plans)
            {
                var entry = plan.Entry;
                if (plan.NewKey is { } record)
                {
                    var created = await writer.CreateKeyAsync(record, cancellationToken);
                    undo.Add(($"key {created.Arn}", () => writer.DeleteKeyAsync(created, _ => true, CancellationToken.None)));
                    keysCreated++;
                    if (entry.Material is { } material)
                    {
                        await imports.ImportPlaintextAsync(created, material.Bytes, ExpirationModelOf(entry), entry.ValidTo, cancellationToken);
                        imported++;
                    }
                }

                foreach (var key in plan.Reimports)
                {
                    var after = await imports.ImportPlaintextAsync(key, entry.Material!.Bytes, ExpirationModelOf(entry), entry.ValidTo, cancellationToken);
                    undo.Add(($"the imported material of {after.Arn}", () => imports.DeleteMaterialAsync(after, null, CancellationToken.None)));
                    imported++;
                }

                foreach (var region in plan.NewReplicaRegions)
                {
                    var primary = catalog.FindKey(entry.Scope, entry.KeyId) ?? throw KmsErrors.KeyDoesNotExist(entry.Scope.KeyArn(entry.KeyId));
                    var replica = await ReplicateAsync(entry, primary, region, cancellationToken);
                    undo.Add(($"key {replica.Arn}", () => writer.DeleteKeyAsync(replica, _ => true, CancellationToken.None)));
                    keysCreated++;
                    if (entry.Material is { } material)
                    {
                        await imports.ImportPlaintextAsync(replica, material.Bytes, ExpirationModelOf(entry), entry.ValidTo, cancellationToken);
                        imported++;
                    }
                }
            }

            foreach (var plan in plans)
            {
                foreach (var (scope, alias) in plan.NewAliases)
                {
                    var now = lifecycle.Now;
                    await writer.PutAliasAsync(scope, alias, _ => new AliasRecord(scope, alias, plan.Entry.KeyId, now, now), cancellationToken);
                    undo.Add(($"alias {scope.AliasArn(alias)}", () => writer.DeleteAliasAsync(scope, alias, a => a ?? throw new InvalidOperationException($"Alias {alias} is gone."), CancellationToken.None)));
                    aliasesCreated++;
                }

                foreach (var grant in plan.NewGrants)
                {
                    var entry = plan.Entry;
                    var key = catalog.FindKey(entry.Scope, entry.KeyId) ?? throw KmsErrors.KeyDoesNotExist(entry.Scope.KeyArn(entry.KeyId));
                    var (made, _) = await grants.CreateGrantAsync(key, grant.ToNewGrant(), entry.Scope.AccountId, cancellationToken);
                    undo.Add(($"grant {grant.Name} of {key.Arn}", () => grants.DeleteGrantAsync(key, made.GrantId, CancellationToken.None)));
                    grantsCreated++;
                }
            }
        }
        catch (Exception e)
        {
            var failures = await UndoAsync(undo);
            throw new SeedException($"Seed file {path}: applying it failed ({e.Message}); "
                + (failures.Count == 0 ? "nothing of it was kept." : $"undoing what it wrote failed for {string.Join(", ", failures)}."));
        }

        return new SeedOutcome(keysCreated, aliasesCreated, grantsCreated, imported, plans.Sum(p => p.Existing));
    }

    /// <summary>Compares one entry with what exists and decides what to write; throws for a conflict or a refused entry.</summary>
    private async Task<Plan> PlanAsync(string path, SeedKey entry, CancellationToken cancellationToken)
    {
        var plan = new Plan(entry);
        string? checkValue = null;
        if (entry.Material is { } material)
        {
            try
            {
                checkValue = await imports.CheckValueOfAsync(entry.KeySpec, material.Bytes, cancellationToken);
            }
            catch (KmsException e)
            {
                throw Invalid(path, entry, material.Field, e.Message);
            }
        }

        var primary = catalog.FindKey(entry.Scope, entry.KeyId);
        if (primary is not null)
        {
            CheckUnchanged(path, entry, primary, checkValue, replicaRegion: null);
            NoteMaterial(path, entry, plan, primary);
            plan.Existing++;
        }
        else if (catalog.AllKeys.FirstOrDefault(k => k.KeyId == entry.KeyId) is { } elsewhere)
        {
            throw Conflict(path, entry, "AccountId/Region", $"the key id exists in {elsewhere.Scope.AccountId}/{elsewhere.Scope.Region}");
        }
        else
        {
            CheckPolicy(path, entry, entry.Scope);
            plan.NewKey = NewRecord(entry, checkValue);
        }

        foreach (var region in entry.ReplicaRegions)
        {
            var scope = entry.Scope with { Region = region };
            if (catalog.FindKey(scope, entry.KeyId) is not { } replica)
            {
                CheckPolicy(path, entry, scope);
                plan.NewReplicaRegions.Add(region);
                continue;
            }

            if (!replica.IsMultiRegionReplica || replica.PrimaryRegion != entry.Scope.Region)
            {
                throw Conflict(path, entry, "ReplicaRegions", replica.IsMultiRegionPrimary
                    ? $"the key in {region} is the primary key of the multi-Region key"
                    : $"the key in {region} is a replica of the primary key in {replica.PrimaryRegion}");
            }

            CheckUnchanged(path, entry, replica, checkValue, region);
            NoteMaterial(path, entry, plan, replica);
            plan.Existing++;
        }

        foreach (var scope in entry.Scopes)
        {
            foreach (var alias in entry.Aliases)
            {
                var current = catalog.FindAlias(scope, alias);
                if (current is null || lifecycle.FindLive(scope, current.TargetKeyId) is null)
                {
                    plan.NewAliases.Add((scope, alias));
                }
                else if (current.TargetKeyId != entry.KeyId)
                {
                    throw Conflict(path, entry, "Aliases", $"{alias} points at key {current.TargetKeyId}" + (scope == entry.Scope ? string.Empty : $" in {scope.Region}"));
                }
            }
        }

        var target = primary ?? plan.NewKey!;
        foreach (var grant in entry.Grants)
        {
            var request = grant.ToNewGrant();
            try
            {
                GrantRules.Check(target, request);
            }
            catch (KmsException e)
            {
                throw Invalid(path, entry, grant.Field, e.Message);
            }

            var named = target.Grants.Values.Where(g => g.Name == grant.Name).ToList();
            if (named.Any(g => g.IsSameGrant(request, entry.Scope.AccountId)))
            {
                continue;
            }

            if (named.Count > 0)
            {
                throw Conflict(path, entry, grant.Field, $"the key has a grant named {grant.Name} with other parameters (grant id {named[0].GrantId}); revoke it to take the seed's");
            }

            plan.NewGrants.Add(grant);
        }

        return plan;
    }

    /// <summary>
    /// An existing EXTERNAL key whose material is gone (deleted through the API, or expired) gets it imported again, if the
    /// seed's ValidTo still allows an import.
    /// </summary>
    private void NoteMaterial(string path, SeedKey entry, Plan plan, KeyRecord key)
    {
        if (entry.Material is null || key.KeyState != KeyState.PendingImport)
        {
            return;
        }

        try
        {
            KeyImportService.CheckExpiration(ExpirationModelOf(entry), entry.ValidTo, importType: null, keyMaterialId: null, lifecycle.Now);
        }
        catch (KmsException e)
        {
            throw Invalid(path, entry, "ValidTo", $"the material of {key.Arn} has to be imported again, and {e.Message}");
        }

        plan.Reimports.Add(key);
    }

    /// <summary>CreateKey's policy checks for a key about to be made: the principals it names exist, and unless bypassed, the lockout safety check.</summary>
    private void CheckPolicy(string path, SeedKey entry, KeyScope scope)
    {
        if (entry.Policy is not { } policy)
        {
            return;
        }

        // The seed acts as the key's account root, the principal an unsigned request (or an unknown access key of the
        // account) is in permissive mode: the policy must let it call PutKeyPolicy later.
        var caller = new CallerIdentity(scope.AccountId, scope.RootArn, null, PrincipalType.Root);
        var request = new KmsRequestContext("seed", KmsOperation.CreateKey, caller, scope.Region, lifecycle.Now, null, null);
        try
        {
            authorizer.CheckNewKeyPolicy(request, policy, scope.KeyArn(entry.KeyId), scope.AccountId, entry.BypassPolicyLockoutSafetyCheck);
        }
        catch (KmsException e)
        {
            throw Invalid(path, entry, "Policy", (scope == entry.Scope ? string.Empty : $"for the replica in {scope.Region}: ") + e.Message);
        }
    }

    private KeyRecord NewRecord(SeedKey entry, string? checkValue)
    {
        var rotation = entry.RotationEnabled == true;
        var state = entry.Enabled == false ? KeyState.Disabled : KeyState.Enabled;
        var key = keys.NewRecord(entry.Scope, entry.KeyId, new NewKey(
            entry.Description ?? string.Empty,
            entry.KeySpec,
            entry.KeyUsage,
            entry.Origin,
            entry.MultiRegion,
            entry.Policy ?? DefaultKeyPolicy.For(entry.Scope.RootArn),
            entry.Tags ?? []));
        return key with
        {
            // Imported material: the key waits for it knowing which material it is (as a replica of an imported key
            // does), so that the import refuses any other, and takes the declared state once it is there.
            KeyState = checkValue is null ? state : KeyState.PendingImport,
            Import = checkValue is null ? null : new ImportedMaterial(checkValue, Present: false, null, null, null, state),
            RotationEnabled = rotation,
            RotationPeriodInDays = rotation ? entry.RotationPeriodInDays : null,
            NextRotationDate = rotation ? key.CreationDate.AddDays(entry.RotationPeriodInDays ?? 365) : null,
        };
    }

    /// <summary>
    /// A replica made as ReplicateKey makes it (its own description, policy and tags: the entry's), then settled at once
    /// instead of at the next lifecycle sweep: into the declared state, or PendingImport until its material is imported.
    /// The primary may be disabled: a seed declares the set as a whole.
    /// </summary>
    private async Task<KeyRecord> ReplicateAsync(SeedKey entry, KeyRecord primary, string region, CancellationToken cancellationToken)
    {
        var scope = entry.Scope with { Region = region };
        var replica = await multiRegion.ReplicateAsync(
            primary,
            new NewReplica(region, entry.Description ?? string.Empty, entry.Policy ?? DefaultKeyPolicy.For(scope.RootArn), entry.Tags ?? []),
            KeyStateRule.Any,
            cancellationToken);
        var state = entry.Enabled == false ? KeyState.Disabled : KeyState.Enabled;
        return await writer.UpdateKeyAsync(replica, KeyStateRule.Any, k => k with
        {
            KeyState = k.Import is null ? state : KeyState.PendingImport,
            SettledState = null,
            Import = k.Import is { } import ? import with { StateAfterImport = state } : null,
        }, cancellationToken);
    }

    private static async Task<List<string>> UndoAsync(List<(string What, Func<Task> Action)> undo)
    {
        var failures = new List<string>();
        foreach (var (what, action) in Enumerable.Reverse(undo))
        {
            try
            {
                await action();
            }
            catch (Exception e)
            {
                failures.Add($"{what} ({e.Message})");
            }
        }

        return failures;
    }

    private static ExpirationModelType ExpirationModelOf(SeedKey entry) => entry.ExpirationModel ?? ExpirationModelType.KEY_MATERIAL_DOES_NOT_EXPIRE;

    /// <summary>Throws a conflict naming the first field the entry gives whose value the existing key does not have.</summary>
    private static void CheckUnchanged(string path, SeedKey entry, KeyRecord key, string? checkValue, string? replicaRegion)
    {
        var of = replicaRegion is null ? string.Empty : $"the replica in {replicaRegion}: ";
        SeedException Differs(string field, string problem) => Conflict(path, entry, field, of + problem);

        if (key.Origin != entry.Origin)
        {
            throw Differs("Origin", $"the key exists with Origin {key.Origin.ToWire()}, the seed says {entry.Origin.ToWire()}");
        }

        if (key.MultiRegion != entry.MultiRegion)
        {
            throw Differs("MultiRegion", $"the key exists as a {(key.MultiRegion ? "multi" : "single")}-Region key");
        }

        if (replicaRegion is null && key.MultiRegion && !key.IsMultiRegionPrimary)
        {
            throw Differs("Region", $"the primary key of the multi-Region key is in {key.PrimaryRegion} now");
        }

        if (key.KeySpec != entry.KeySpec)
        {
            throw Differs("KeySpec", $"the key exists with {key.KeySpec.ToWire()}, the seed says {entry.KeySpec.ToWire()}");
        }

        if (key.KeyUsage != entry.KeyUsage)
        {
            throw Differs("KeyUsage", $"the key exists with {key.KeyUsage.ToWire()}, the seed says {entry.KeyUsage.ToWire()}");
        }

        if (entry.Description is { } description && key.Description != description)
        {
            throw Differs("Description", "the key's description differs");
        }

        if (entry.Tags is { } tags && !SameTags(tags, key.Tags))
        {
            throw Differs("Tags", "the key's tags differ");
        }

        if (entry.Policy is { } policy && key.Policy != policy)
        {
            throw Differs("Policy", "the key's policy differs");
        }

        // Rotation settings are the primary's (replicas share them).
        if (replicaRegion is null && entry.RotationEnabled is { } rotation && (key.RotationEnabled != rotation || (rotation && key.RotationPeriodInDays != entry.RotationPeriodInDays)))
        {
            throw Differs("Rotation", $"the key's rotation is {(key.RotationEnabled ? $"on every {key.RotationPeriodInDays} days" : "off")}");
        }

        if (checkValue is not null && key.Import?.CheckValue is { } existing && existing != checkValue)
        {
            throw Differs(entry.Material!.Field, "the key's imported key material is other material (compared by check value)");
        }

        if (key.Import is { Present: true } import && entry.ExpirationModel is { } model)
        {
            if (import.ExpirationModel != model.ToWire())
            {
                throw Differs("ExpirationModel", $"the key's material was imported with {import.ExpirationModel}");
            }

            if (import.ValidTo != entry.ValidTo)
            {
                throw Differs("ValidTo", $"the key's material expires at {import.ValidTo:O}");
            }
        }

        // An imported key whose material is gone takes the state it had once the seed imports its material again.
        var state = key.Origin == OriginType.EXTERNAL && key.KeyState == KeyState.PendingImport
            ? key.Import?.StateAfterImport ?? KeyState.Enabled
            : key.KeyState;
        if (state is not (KeyState.Enabled or KeyState.Disabled))
        {
            throw Differs("Enabled", $"the key is {key.KeyState.ToWire()}");
        }

        if (entry.Enabled is { } enabled && (state == KeyState.Enabled) != enabled)
        {
            throw Differs("Enabled", key.KeyState == state ? $"the key is {state.ToWire()}" : $"the key returns to {state.ToWire()} when its material is imported again");
        }
    }

    private static bool SameTags(IReadOnlyList<KeyTag> seed, IReadOnlyList<KeyTag> existing) =>
        seed.Count == existing.Count && seed.All(t => existing.Contains(t));

    private static SeedException Conflict(string path, SeedKey entry, string field, string problem) =>
        new($"Seed file {path}: {entry.Name}, field {field} conflicts with the existing key: {problem}. Nothing of the seed was applied.");

    private static SeedException Invalid(string path, SeedKey entry, string field, string problem) =>
        new($"Seed file {path}: {entry.Name}, field {field}: {problem.TrimEnd('.')}. Nothing of the seed was applied.");
}
