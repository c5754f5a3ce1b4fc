namespace KmsEmulator.Policy;

/// <summary>The outcome of a KMS authorization, named after the reason AWS gives in AccessDeniedException.</summary>
public enum KmsDecision
{
    /// <summary>The request is authorized.</summary>
    Allow,

    /// <summary>A Deny statement of the key policy matched.</summary>
    ExplicitDenyInResourcePolicy,

    /// <summary>A Deny statement of one of the caller's identity policies matched.</summary>
    ExplicitDenyInIdentityPolicy,

    /// <summary>The key policy does not allow the caller (and no grant does).</summary>
    NoResourcePolicyAllows,

    /// <summary>The key policy allows only with the caller's IAM permission (delegation or cross-account), which is missing.</summary>
    NoIdentityPolicyAllows,
}

/// <summary>What made an allowed request allowed.</summary>
public enum KmsAllowSource
{
    /// <summary>Not allowed.</summary>
    None,

    /// <summary>The key policy alone (it names the caller, its role, <c>*</c>, or the caller is the account root).</summary>
    KeyPolicy,

    /// <summary>The key policy (directly or through the account principal) together with an identity policy.</summary>
    KeyPolicyAndIdentityPolicy,

    /// <summary>Identity policies alone, for operations without a key resource (see <see cref="KmsAuthorization.DecideWithoutKey"/>).</summary>
    IdentityPolicy,

    /// <summary>A grant (the caller passed <c>allowedByGrant: true</c>).</summary>
    Grant,
}

/// <summary>A KMS authorization decision with the evaluations behind it (statement Sids for diagnostics).</summary>
public readonly record struct KmsAuthorizationResult(
    KmsDecision Decision,
    KmsAllowSource AllowedBy,
    PolicyEvaluation KeyPolicy,
    PolicyEvaluation IdentityPolicies)
{
    /// <summary>The request is authorized.</summary>
    public bool IsAllowed => Decision == KmsDecision.Allow;

    /// <summary>An explicit Deny decided; grants cannot override it.</summary>
    public bool IsExplicitDeny => Decision is KmsDecision.ExplicitDenyInResourcePolicy or KmsDecision.ExplicitDenyInIdentityPolicy;

    /// <summary>The statement that decided (the deny, or the allowing key-policy/identity statement), if any.</summary>
    public PolicyStatement? DecidingStatement => Decision switch
    {
        KmsDecision.ExplicitDenyInResourcePolicy => KeyPolicy.DenyingStatement,
        KmsDecision.ExplicitDenyInIdentityPolicy => IdentityPolicies.DenyingStatement,
        KmsDecision.Allow when AllowedBy == KmsAllowSource.IdentityPolicy => IdentityPolicies.AllowingStatement,
        KmsDecision.Allow when AllowedBy != KmsAllowSource.Grant => KeyPolicy.AllowingStatement,
        _ => null,
    };

    /// <summary>
    /// The AccessDeniedException message AWS uses for this decision, e.g. <c>User: arn:... is not authorized to perform:
    /// kms:Decrypt on resource: arn:... because no identity-based policy allows the kms:Decrypt action</c>; null when allowed.
    /// </summary>
    public string? AccessDeniedMessage(PolicyRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var reason = Decision switch
        {
            KmsDecision.ExplicitDenyInResourcePolicy => "with an explicit deny in a resource-based policy",
            KmsDecision.ExplicitDenyInIdentityPolicy => "with an explicit deny in an identity-based policy",
            KmsDecision.NoResourcePolicyAllows => $"because no resource-based policy allows the {request.Action} action",
            KmsDecision.NoIdentityPolicyAllows => $"because no identity-based policy allows the {request.Action} action",
            _ => null,
        };
        return reason is null ? null : $"User: {request.PrincipalArn} is not authorized to perform: {request.Action} on resource: {request.Resource} {reason}";
    }
}

/// <summary>
/// Combines a key policy and the caller's identity policies the way KMS does. Grants are evaluated elsewhere: pass
/// <c>allowedByGrant</c>, or call without it and consult grants only when the result is neither allowed nor an explicit
/// deny (<c>!r.IsAllowed &amp;&amp; !r.IsExplicitDeny</c>), since no grant overrides an explicit deny.
/// </summary>
public static class KmsAuthorization
{
    /// <summary>Decides a request on a KMS key.</summary>
    /// <param name="keyPolicy">The key's policy (parsed once and cached by the caller); null means none, which allows nothing.</param>
    /// <param name="identityPolicies">The caller's IAM identity policies (empty for roots, services and unknown callers).</param>
    /// <param name="request">The request; its Resource is the key ARN.</param>
    /// <param name="keyOwnerAccount">The account that owns the key.</param>
    /// <param name="crossAccountAllowed">
    /// Whether the operation can be allowed to a caller from another account at all (the API reference's "Cross-account
    /// use"; the emulator keeps it in each operation's row).
    /// </param>
    /// <param name="allowedByGrant">True when a grant on the key allows this operation for the caller.</param>
    /// <remarks>
    /// An explicit deny anywhere wins (the key policy's is reported first). Otherwise the key policy must allow: a
    /// statement that names the caller (its ARN, its role, <c>*</c>, or the account of a root caller) suffices for a
    /// caller in the key's account; a statement that matches only through the caller's account principal delegates
    /// to IAM, so an identity policy must allow too; a caller from another account always needs its identity policy
    /// as well, and is refused any operation that is not <paramref name="crossAccountAllowed"/>. Account roots need no identity policy.
    /// </remarks>
    public static KmsAuthorizationResult Decide(
        PolicyDocument? keyPolicy,
        IReadOnlyList<PolicyDocument>? identityPolicies,
        PolicyRequest request,
        string keyOwnerAccount,
        bool crossAccountAllowed,
        bool allowedByGrant = false)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(keyOwnerAccount);
        var key = keyPolicy?.Evaluate(request, PolicyType.Resource) ?? PolicyEvaluation.NotApplicable;
        var identity = EvaluateIdentityPolicies(identityPolicies, request);

        if (key.IsExplicitDeny)
        {
            return new(KmsDecision.ExplicitDenyInResourcePolicy, KmsAllowSource.None, key, identity);
        }

        if (identity.IsExplicitDeny)
        {
            return new(KmsDecision.ExplicitDenyInIdentityPolicy, KmsAllowSource.None, key, identity);
        }

        var crossAccount = !string.Equals(request.PrincipalAccount, keyOwnerAccount, StringComparison.Ordinal);
        if (crossAccount && !crossAccountAllowed)
        {
            // Permissions on other operations are ignored for callers from another account, whatever the policies say.
            return new(KmsDecision.NoResourcePolicyAllows, KmsAllowSource.None, key, identity);
        }

        if (key.IsAllowed)
        {
            var needsIdentity = key.AllowedOnlyThroughAccountPrincipal || (crossAccount && request.HasIdentityPolicies);
            if (!needsIdentity)
            {
                return new(KmsDecision.Allow, KmsAllowSource.KeyPolicy, key, identity);
            }

            if (identity.IsAllowed || request.PrincipalType == PrincipalType.Root)
            {
                return new(KmsDecision.Allow, KmsAllowSource.KeyPolicyAndIdentityPolicy, key, identity);
            }

            return allowedByGrant
                ? new(KmsDecision.Allow, KmsAllowSource.Grant, key, identity)
                : new(KmsDecision.NoIdentityPolicyAllows, KmsAllowSource.None, key, identity);
        }

        return allowedByGrant
            ? new(KmsDecision.Allow, KmsAllowSource.Grant, key, identity)
            : new(KmsDecision.NoResourcePolicyAllows, KmsAllowSource.None, key, identity);
    }

    /// <summary>
    /// Decides an operation that has no key resource (CreateKey, ListKeys, ListAliases, GenerateRandom, custom key
    /// store operations): identity policies only, with Resource <c>*</c>. Account roots are allowed unless denied.
    /// </summary>
    public static KmsAuthorizationResult DecideWithoutKey(IReadOnlyList<PolicyDocument>? identityPolicies, PolicyRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var identity = EvaluateIdentityPolicies(identityPolicies, request);
        if (identity.IsExplicitDeny)
        {
            return new(KmsDecision.ExplicitDenyInIdentityPolicy, KmsAllowSource.None, PolicyEvaluation.NotApplicable, identity);
        }

        return identity.IsAllowed || request.PrincipalType == PrincipalType.Root
            ? new(KmsDecision.Allow, KmsAllowSource.IdentityPolicy, PolicyEvaluation.NotApplicable, identity)
            : new(KmsDecision.NoIdentityPolicyAllows, KmsAllowSource.None, PolicyEvaluation.NotApplicable, identity);
    }

    /// <summary>Evaluates several identity policies as one: the first deny, else the first allow.</summary>
    public static PolicyEvaluation EvaluateIdentityPolicies(IReadOnlyList<PolicyDocument>? policies, PolicyRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (policies is null)
        {
            return PolicyEvaluation.NotApplicable;
        }

        PolicyStatement? allow = null;
        for (var i = 0; i < policies.Count; i++)
        {
            var result = policies[i].Evaluate(request, PolicyType.Identity);
            if (result.IsExplicitDeny)
            {
                return new PolicyEvaluation(result.DenyingStatement, allow ?? result.AllowingStatement, false);
            }

            allow ??= result.AllowingStatement;
        }

        return new PolicyEvaluation(null, allow, false);
    }
}
