using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Policy;

namespace KmsEmulator.Api.Pipeline;

/// <summary>
/// Grants as AWS KMS applies them. A grant on the key allows an access when its grantee is the caller, its operations
/// include the access's grant operation, and its encryption context constraint holds for the request (constraints apply
/// only to operations that take an encryption context). Two operations have rules of their own:
/// <list type="bullet">
/// <item>CreateGrant through a grant: the new grant's operations must be among the parent grant's and its constraint at
/// least as strict.</item>
/// <item>RetireGrant is decided by the grant being retired: its retiring principal, its grantee when it includes
/// RetireGrant, or the account that created it.</item>
/// </list>
/// Grants take effect as soon as CreateGrant returns (the emulator has no propagation delay), so grant tokens are not
/// needed for that. The policy authorizer consults this only when no policy allows and none denies.
/// </summary>
public sealed class GrantEvaluator : IGrantEvaluator
{
    public bool Allows(KmsRequestContext request, KeyAccess access, OperationRequest operationRequest)
    {
        var key = access.Key.Key;
        if (key.Grants.Count == 0 || !GrantOperationWire.TryParse(access.Operation, out var operation))
        {
            return false;
        }

        var caller = request.Caller;
        if (operation == GrantOperation.RetireGrant && operationRequest.Body is RetireGrantRequest retire)
        {
            return AllowsRetire(caller, key, retire, access.Action);
        }

        foreach (var grant in key.Grants.Values)
        {
            if (grant.Allows(operation)
                && IsGrantee(grant, caller, access.Action, key.Arn)
                && ConstraintHolds(grant, operation, access.Action, operationRequest))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether the caller is the grant's grantee principal.</summary>
    public static bool IsGrantee(GrantRecord grant, CallerIdentity caller, string action, string keyArn) =>
        grant.GranteePrincipal is { } grantee && PrincipalMatches(grantee, caller, action, keyArn);

    /// <summary>
    /// Whether <paramref name="principal"/> (a grantee or retiring principal) names the caller: its own ARN; for a role
    /// session, the role's ARN; for an account principal (<c>arn:aws:iam::&lt;account&gt;:root</c>), the account's
    /// root, or a principal of that account whose identity policies allow the action (the account delegating, as
    /// with an account principal in a key policy).
    /// </summary>
    public static bool PrincipalMatches(string principal, CallerIdentity caller, string action, string keyArn)
    {
        if (string.Equals(principal, caller.Arn, StringComparison.Ordinal))
        {
            return true;
        }

        if (!Arn.TryParse(principal, out var named) || !named.IsPrincipal || named.Service != "iam" || named.Account != caller.AccountId)
        {
            return false;
        }

        if (named.IsAccountRoot)
        {
            return AccountDelegates(caller, action, keyArn);
        }

        // A role (with or without a path) matches its sessions, whose ARNs carry only the role's name.
        return named.Resource.StartsWith("role/", StringComparison.Ordinal)
            && Arn.TryParse(caller.Arn, out var session) && session.RoleOfSession() is { } sessionRole
            && LastSegment(sessionRole) == LastSegment(named.Resource);
    }

    /// <summary>Whether the constraint of <paramref name="grant"/> allows this request.</summary>
    public static bool ConstraintHolds(GrantRecord grant, GrantOperation operation, string action, OperationRequest request)
    {
        if (operation == GrantOperation.CreateGrant)
        {
            return request.Body is CreateGrantRequest child && ChildGrantFits(grant, child);
        }

        if (grant.Constraint is not { } constraint || !GrantRules.TakesEncryptionContext(operation))
        {
            return true;
        }

        return constraint.IsSatisfiedBy(request.EncryptionContext(action));
    }

    /// <summary>A grant made through a grant's CreateGrant permission: no operation the parent lacks, a constraint at least as strict.</summary>
    private static bool ChildGrantFits(GrantRecord parent, CreateGrantRequest child)
    {
        foreach (var name in child.Operations ?? [])
        {
            if (!GrantOperationWire.TryParse(name, out var op) || !parent.Allows(op))
            {
                return false;
            }
        }

        return GrantConstraint.IsAtLeastAsStrict(ConstraintOf(child.Constraints), parent.Constraint);
    }

    private static bool AllowsRetire(CallerIdentity caller, KeyRecord key, RetireGrantRequest retire, string action)
    {
        var grantId = retire.GrantToken is { } token
            ? (GrantToken.TryParse(token, out var target) ? target.GrantId : null)
            : retire.GrantId;
        if (grantId is null || key.Grants.GetValueOrDefault(grantId) is not { } grant)
        {
            return false;
        }

        return (grant.RetiringPrincipal is { } retiring && PrincipalMatches(retiring, caller, action, key.Arn))
            || (grant.Allows(GrantOperation.RetireGrant) && IsGrantee(grant, caller, action, key.Arn))
            || (caller.AccountId == grant.IssuingAccount && AccountDelegates(caller, action, key.Arn));
    }

    /// <summary>The encryption context constraint of a CreateGrant request (both kinds at once are rejected before this runs).</summary>
    public static GrantConstraint? ConstraintOf(GrantConstraints? constraints) => constraints switch
    {
        { EncryptionContextEquals: { } pairs } => GrantConstraint.Of(GrantConstraintKind.EncryptionContextEquals, pairs),
        { EncryptionContextSubset: { } pairs } => GrantConstraint.Of(GrantConstraintKind.EncryptionContextSubset, pairs),
        _ => null,
    };

    /// <summary>An account principal covers its root, and its other principals as far as their identity policies allow.</summary>
    private static bool AccountDelegates(CallerIdentity caller, string action, string keyArn)
    {
        if (caller.PrincipalType == PrincipalType.Root)
        {
            return true;
        }

        var evaluation = KmsAuthorization.EvaluateIdentityPolicies(caller.IdentityPolicies, new PolicyRequest(caller.Arn, caller.AccountId, caller.PrincipalType, action, keyArn));
        return evaluation.IsAllowed && !evaluation.IsExplicitDeny;
    }

    private static string LastSegment(string path) => path[(path.LastIndexOf('/') + 1)..];
}
