using KmsEmulator.Api.Generated;

namespace KmsEmulator.Api.Keys;

/// <summary>One entry of ListAliases: a predefined AWS managed alias without a key yet has no target and no dates.</summary>
public sealed record AliasListing(string AliasName, string Arn, string? TargetKeyId, DateTimeOffset? CreationDate, DateTimeOffset? LastUpdatedDate);

/// <summary>
/// Aliases: create, move to another key, delete, list. An alias whose key is gone (deleted, or past its deletion date)
/// no longer exists for callers. Writes go through <see cref="KeyWriter"/>, whose lock makes the checks here and the
/// write one step.
/// </summary>
public sealed class AliasService(KeyWriter writer, KeyCatalog catalog, KeyLifecycle lifecycle)
{
    public async Task CreateAliasAsync(KeyScope scope, string aliasName, KeyRecord target, CancellationToken cancellationToken)
    {
        CheckAliasName(aliasName);
        await writer.PutAliasAsync(
            scope,
            aliasName,
            existing =>
            {
                CheckAliasTarget(scope, target);
                if (existing is not null && lifecycle.FindLive(scope, existing.TargetKeyId) is not null)
                {
                    throw KmsErrors.AliasAlreadyExists(scope.AliasArn(aliasName));
                }

                var now = lifecycle.Now;
                return new AliasRecord(scope, aliasName, target.KeyId, now, now);
            },
            cancellationToken);
    }

    public async Task UpdateAliasAsync(KeyScope scope, string aliasName, KeyRecord newTarget, CancellationToken cancellationToken)
    {
        CheckAliasName(aliasName);
        await writer.PutAliasAsync(
            scope,
            aliasName,
            existing =>
            {
                var alias = Live(scope, existing) ?? throw KmsErrors.AliasNotFound(scope.AliasArn(aliasName));
                CheckAliasTarget(scope, newTarget);
                var current = catalog.FindKey(scope, alias.TargetKeyId);
                if (current is not null && !SameKeyType(current, newTarget))
                {
                    throw KmsErrors.AliasTargetTypeChange(alias.Arn, current.KeySpec, current.KeyUsage, newTarget.KeySpec, newTarget.KeyUsage);
                }

                return alias with { TargetKeyId = newTarget.KeyId, LastUpdatedDate = lifecycle.Now };
            },
            cancellationToken);
    }

    public async Task DeleteAliasAsync(KeyScope scope, string aliasName, CancellationToken cancellationToken)
    {
        CheckAliasName(aliasName);
        await writer.DeleteAliasAsync(
            scope,
            aliasName,
            existing => Live(scope, existing) ?? throw KmsErrors.AliasNotFound(scope.AliasArn(aliasName)),
            cancellationToken);
    }

    /// <summary>
    /// Aliases of a scope (or of one key) whose target key still exists, ordered by name. For a whole scope the list also
    /// has the predefined AWS managed aliases whose key has not been created yet, without a target, as AWS lists them.
    /// </summary>
    public List<AliasListing> ListAliases(KeyScope scope, string? keyId)
    {
        var live = (keyId is null ? catalog.AliasesIn(scope) : catalog.AliasesOf(scope, keyId))
            .Where(a => lifecycle.FindLive(scope, a.TargetKeyId) is not null)
            .Select(a => new AliasListing(a.AliasName, a.Arn, a.TargetKeyId, a.CreationDate, a.LastUpdatedDate))
            .ToList();
        if (keyId is null)
        {
            var named = live.Select(a => a.AliasName).ToHashSet(StringComparer.Ordinal);
            live.AddRange(AwsManagedKeys.Services.Keys
                .Where(name => !named.Contains(name))
                .Select(name => new AliasListing(name, scope.AliasArn(name), null, null, null)));
            live.Sort((a, b) => string.CompareOrdinal(a.AliasName, b.AliasName));
        }

        return live;
    }

    /// <summary>The alias, unless it points at a key that is gone.</summary>
    private AliasRecord? Live(KeyScope scope, AliasRecord? alias) =>
        alias is not null && lifecycle.FindLive(scope, alias.TargetKeyId) is not null ? alias : null;

    /// <summary>
    /// Under the write lock: an alias's key must be in the alias's own account and Region, still exist, and be in a
    /// state that allows aliasing (not pending deletion) at the moment the alias is written.
    /// </summary>
    private void CheckAliasTarget(KeyScope scope, KeyRecord target)
    {
        if (target.Scope != scope)
        {
            throw KmsErrors.AliasTargetInOtherScope(target.Arn, scope.AccountId, scope.Region);
        }

        var live = lifecycle.FindLive(target.Scope, target.KeyId) ?? throw KmsErrors.KeyDoesNotExist(target.Arn);
        KeyStateRules.Check(KeyStateRule.Management, live);
    }

    private static void CheckAliasName(string aliasName)
    {
        if (!aliasName.StartsWith("alias/", StringComparison.Ordinal))
        {
            throw KmsErrors.AliasMissingPrefix();
        }

        if (aliasName.StartsWith("alias/aws/", StringComparison.Ordinal))
        {
            throw KmsErrors.ReservedAlias(aliasName);
        }

        if (aliasName.Length == "alias/".Length)
        {
            throw KmsErrors.AliasNameEmpty();
        }
    }

    private static bool SameKeyType(KeyRecord a, KeyRecord b) =>
        a.KeyUsage == b.KeyUsage && (a.KeySpec == KeySpec.SYMMETRIC_DEFAULT) == (b.KeySpec == KeySpec.SYMMETRIC_DEFAULT);
}
