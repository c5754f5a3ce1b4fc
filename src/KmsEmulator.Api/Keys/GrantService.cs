namespace KmsEmulator.Api.Keys;

/// <summary>
/// Grants: create (idempotent by Name), find, list, retire and revoke. Grants take effect at once. Writes go through
/// <see cref="KeyWriter"/>, whose lock makes the checks here and the write one step.
/// </summary>
public sealed class GrantService(KeyWriter writer, KeyLifecycle lifecycle)
{
    /// <summary>AWS's quota of grants per KMS key.</summary>
    public const int MaxGrantsPerKey = 50_000;

    /// <summary>
    /// Creates a grant, or returns the existing one when a grant with the same name and parameters exists (AWS treats
    /// that request as a retry). Either way the token is new.
    /// </summary>
    public async Task<(GrantRecord Grant, string Token)> CreateGrantAsync(KeyRecord key, NewGrant request, string issuingAccount, CancellationToken cancellationToken)
    {
        GrantRules.Check(key, request);
        var (current, grant) = await writer.AddGrantAsync(
            key,
            current =>
            {
                if (request.Name is not null && current.Grants.Values.FirstOrDefault(g => g.IsSameGrant(request, issuingAccount)) is { } existing)
                {
                    return existing;
                }

                if (current.Grants.Count >= MaxGrantsPerKey)
                {
                    throw KmsErrors.GrantLimitExceeded(current.Arn, MaxGrantsPerKey);
                }

                return new GrantRecord
                {
                    GrantId = GrantToken.NewGrantId(),
                    Name = request.Name,
                    GranteePrincipal = request.GranteePrincipal,
                    GranteeServicePrincipal = request.GranteeServicePrincipal,
                    RetiringPrincipal = request.RetiringPrincipal,
                    RetiringServicePrincipal = request.RetiringServicePrincipal,
                    Operations = request.Operations,
                    Constraint = request.Constraint,
                    SourceArn = request.SourceArn,
                    IssuingAccount = issuingAccount,
                    CreationDate = lifecycle.Now,
                };
            },
            cancellationToken);
        return (grant, GrantToken.Issue(current.Scope, current.KeyId, grant.GrantId));
    }

    /// <summary>Deletes a grant (RetireGrant and RevokeGrant differ only in who may call them).</summary>
    public Task DeleteGrantAsync(KeyRecord key, string grantId, CancellationToken cancellationToken)
    {
        CheckGrantId(grantId);
        return writer.DeleteGrantAsync(key, current => FindGrant(current, grantId), cancellationToken);
    }

    /// <summary>The grant <paramref name="grantId"/> of <paramref name="key"/>: InvalidGrantIdException for a malformed id, NotFoundException for an unknown one.</summary>
    public static GrantRecord FindGrant(KeyRecord key, string grantId)
    {
        CheckGrantId(grantId);
        return key.Grants.GetValueOrDefault(grantId) ?? throw KmsErrors.GrantNotFound(grantId);
    }

    /// <summary>InvalidGrantIdException unless <paramref name="grantId"/> has the form of a grant id.</summary>
    public static void CheckGrantId(string grantId)
    {
        if (!GrantToken.IsGrantId(grantId))
        {
            throw KmsErrors.InvalidGrantId(grantId);
        }
    }

    /// <summary>Grants of a key, in grant-id order, optionally only one grant or one grantee's.</summary>
    public static List<GrantRecord> ListGrants(KeyRecord key, string? grantId, string? granteePrincipal, string? granteeServicePrincipal)
    {
        if (grantId is not null)
        {
            CheckGrantId(grantId);
        }

        return key.Grants.Values
            .Where(g => grantId is null || g.GrantId == grantId)
            .Where(g => granteePrincipal is null || g.GranteePrincipal == granteePrincipal)
            .Where(g => granteeServicePrincipal is null || g.GranteeServicePrincipal == granteeServicePrincipal)
            .ToList();
    }

    /// <summary>Grants on the keys of one account and region whose retiring principal is the one given, in grant-id order.</summary>
    public List<(KeyRecord Key, GrantRecord Grant)> ListRetirableGrants(KeyScope scope, string? retiringPrincipal, string? retiringServicePrincipal) =>
        lifecycle.LiveKeysIn(scope)
            .SelectMany(key => key.Grants.Values.Select(grant => (Key: key, Grant: grant)))
            .Where(x => (retiringPrincipal is not null && x.Grant.RetiringPrincipal == retiringPrincipal)
                || (retiringServicePrincipal is not null && x.Grant.RetiringServicePrincipal == retiringServicePrincipal))
            .OrderBy(x => x.Grant.GrantId, StringComparer.Ordinal)
            .ToList();
}
