using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Policy;

namespace KmsEmulator.Api.Hosting;

/// <summary>What one seed run did: keys and aliases it created.</summary>
public sealed record SeedOutcome(int KeysCreated, int AliasesCreated, int Unchanged);

/// <summary>
/// Applies a parsed seed at start-up, after the catalogue is loaded and the HSM reconciled, before the emulator is ready.
/// Every entry is first compared with the catalogue; any conflict fails the start with nothing written. Then missing keys
/// are created (material made in the HSM through <see cref="KeyWriter"/>, as CreateKey does) and missing aliases
/// added. If a write fails, what this run created is removed again (aliases, then keys: rows and HSM objects).
/// </summary>
/// <remarks>
/// A key that exists is never changed: a field the entry gives (spec, usage, description, tags, policy, rotation,
/// enabled) that differs from the key's is a conflict (docs/seeding.md says why). Aliases the entry names that do not
/// exist are created, so that a deleted key or alias comes back on the next start.
/// </remarks>
public sealed class SeedApplier(KeyWriter writer, KeyCatalog catalog, KeyLifecycle lifecycle, KeyLifecycleService keys)
{
    public async Task<SeedOutcome> ApplyAsync(string path, IReadOnlyList<SeedKey> seed, CancellationToken cancellationToken)
    {
        var newKeys = new List<SeedKey>();
        var newAliases = new List<(SeedKey Key, string Alias)>();
        foreach (var entry in seed)
        {
            if (catalog.FindKey(entry.Scope, entry.KeyId) is { } existing)
            {
                CheckUnchanged(path, entry, existing);
            }
            else if (catalog.AllKeys.FirstOrDefault(k => k.KeyId == entry.KeyId) is { } elsewhere)
            {
                throw Conflict(path, entry, "AccountId/Region", $"the key id exists in {elsewhere.Scope.AccountId}/{elsewhere.Scope.Region}");
            }
            else
            {
                newKeys.Add(entry);
            }

            foreach (var alias in entry.Aliases)
            {
                var current = catalog.FindAlias(entry.Scope, alias);
                if (current is null || lifecycle.FindLive(entry.Scope, current.TargetKeyId) is null)
                {
                    newAliases.Add((entry, alias));
                }
                else if (current.TargetKeyId != entry.KeyId)
                {
                    throw Conflict(path, entry, "Aliases", $"{alias} points at key {current.TargetKeyId}");
                }
            }
        }

        var createdKeys = new List<KeyRecord>();
        var createdAliases = new List<(KeyScope Scope, string Alias)>();
        try
        {
            foreach (var entry in newKeys)
            {
                createdKeys.Add(await writer.CreateKeyAsync(NewRecord(entry), cancellationToken));
            }

            foreach (var (entry, alias) in newAliases)
            {
                var now = lifecycle.Now;
                await writer.PutAliasAsync(entry.Scope, alias, _ => new AliasRecord(entry.Scope, alias, entry.KeyId, now, now), cancellationToken);
                createdAliases.Add((entry.Scope, alias));
            }
        }
        catch (Exception e)
        {
            await RollBackAsync(createdKeys, createdAliases);
            throw new SeedException($"Seed file {path}: applying it failed ({e.Message}); nothing of it was kept.");
        }

        return new SeedOutcome(createdKeys.Count, createdAliases.Count, seed.Count - newKeys.Count);
    }

    private async Task RollBackAsync(List<KeyRecord> keys, List<(KeyScope Scope, string Alias)> aliases)
    {
        foreach (var (scope, alias) in Enumerable.Reverse(aliases))
        {
            await writer.DeleteAliasAsync(scope, alias, a => a ?? throw new InvalidOperationException($"Alias {alias} is gone."), CancellationToken.None);
        }

        foreach (var key in Enumerable.Reverse(keys))
        {
            await writer.DeleteKeyAsync(key, _ => true, CancellationToken.None);
        }
    }

    private KeyRecord NewRecord(SeedKey entry)
    {
        var rotation = entry.RotationEnabled == true;
        var key = keys.NewRecord(entry.Scope, entry.KeyId, new NewKey(
            entry.Description ?? string.Empty,
            entry.KeySpec,
            entry.KeyUsage,
            OriginType.AWS_KMS,
            MultiRegion: false,
            entry.Policy ?? DefaultKeyPolicy.For(entry.Scope.RootArn),
            entry.Tags ?? []));
        return key with
        {
            KeyState = entry.Enabled == false ? KeyState.Disabled : KeyState.Enabled,
            RotationEnabled = rotation,
            RotationPeriodInDays = rotation ? entry.RotationPeriodInDays : null,
            NextRotationDate = rotation ? key.CreationDate.AddDays(entry.RotationPeriodInDays ?? 365) : null,
        };
    }

    /// <summary>Throws a conflict naming the first field the entry gives whose value the existing key does not have.</summary>
    private static void CheckUnchanged(string path, SeedKey entry, KeyRecord key)
    {
        if (key.Origin != OriginType.AWS_KMS || key.MultiRegion)
        {
            throw Conflict(path, entry, "KeyId", $"the existing key is not a single-Region AWS_KMS key (Origin {key.Origin.ToWire()})");
        }

        if (key.KeySpec != entry.KeySpec)
        {
            throw Conflict(path, entry, "KeySpec", $"the key exists with {key.KeySpec.ToWire()}, the seed says {entry.KeySpec.ToWire()}");
        }

        if (key.KeyUsage != entry.KeyUsage)
        {
            throw Conflict(path, entry, "KeyUsage", $"the key exists with {key.KeyUsage.ToWire()}, the seed says {entry.KeyUsage.ToWire()}");
        }

        if (entry.Description is { } description && key.Description != description)
        {
            throw Conflict(path, entry, "Description", "the key's description differs");
        }

        if (entry.Tags is { } tags && !SameTags(tags, key.Tags))
        {
            throw Conflict(path, entry, "Tags", "the key's tags differ");
        }

        if (entry.Policy is { } policy && key.Policy != policy)
        {
            throw Conflict(path, entry, "Policy", "the key's policy differs");
        }

        if (entry.RotationEnabled is { } rotation && (key.RotationEnabled != rotation || (rotation && key.RotationPeriodInDays != entry.RotationPeriodInDays)))
        {
            throw Conflict(path, entry, "Rotation", $"the key's rotation is {(key.RotationEnabled ? $"on every {key.RotationPeriodInDays} days" : "off")}");
        }

        if (key.KeyState is not (KeyState.Enabled or KeyState.Disabled))
        {
            throw Conflict(path, entry, "Enabled", $"the key is {key.KeyState.ToWire()}");
        }

        if (entry.Enabled is { } enabled && (key.KeyState == KeyState.Enabled) != enabled)
        {
            throw Conflict(path, entry, "Enabled", $"the key is {key.KeyState.ToWire()}");
        }
    }

    private static bool SameTags(IReadOnlyList<KeyTag> seed, IReadOnlyList<KeyTag> existing) =>
        seed.Count == existing.Count && seed.All(t => existing.Contains(t));

    private static SeedException Conflict(string path, SeedKey entry, string field, string problem) =>
        new($"Seed file {path}: {entry.Name}, field {field} conflicts with the existing key: {problem}. Nothing of the seed was applied.");
}
