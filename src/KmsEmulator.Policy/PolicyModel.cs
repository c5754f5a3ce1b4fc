using KmsEmulator.Policy.Internal;

namespace KmsEmulator.Policy;

/// <summary>A statement's Effect.</summary>
public enum PolicyEffect
{
    /// <summary>The statement allows what it matches.</summary>
    Allow,

    /// <summary>The statement explicitly denies what it matches; an explicit deny always wins.</summary>
    Deny,
}

/// <summary>How a policy is attached, which decides whether its Principal element is evaluated.</summary>
public enum PolicyType
{
    /// <summary>An IAM identity policy of the caller: Principal/NotPrincipal are ignored (the caller is the principal).</summary>
    Identity,

    /// <summary>A resource-based policy such as a key policy: a statement applies only if its Principal matches.</summary>
    Resource,
}

/// <summary>One principal value as written: <c>Type</c> is <c>*</c>, <c>AWS</c>, <c>Service</c>, <c>Federated</c> or <c>CanonicalUser</c>.</summary>
public readonly record struct PolicyPrincipal(string Type, string Value);

/// <summary>One <c>operator: { key: values }</c> entry of a Condition block, as written (JSON numbers and booleans as text).</summary>
public sealed record PolicyCondition(string Operator, string Key, IReadOnlyList<string> Values);

/// <summary>A parsed, immutable statement. Absent Action/NotAction or Resource/NotResource make it match nothing.</summary>
public sealed class PolicyStatement
{
    private readonly PrincipalMatcher? _principal;
    private readonly GlobPattern[]? _actions;
    private readonly GlobPattern[]? _resources;
    private readonly ConditionEntry[] _conditions;

    internal PolicyStatement(
        int index,
        string? sid,
        PolicyEffect effect,
        IReadOnlyList<PolicyPrincipal>? principals,
        bool isNotPrincipal,
        PrincipalMatcher? principalMatcher,
        IReadOnlyList<string>? actions,
        bool isNotAction,
        IReadOnlyList<string>? resources,
        bool isNotResource,
        bool variables,
        IReadOnlyList<PolicyCondition> conditions,
        ConditionEntry[] compiledConditions)
    {
        Index = index;
        Sid = sid;
        Effect = effect;
        Principals = principals;
        IsNotPrincipal = isNotPrincipal;
        _principal = principalMatcher;
        Actions = actions;
        IsNotAction = isNotAction;
        Resources = resources;
        IsNotResource = isNotResource;
        Conditions = conditions;
        _conditions = compiledConditions;
        _actions = actions?.Select(a => GlobPattern.Compile(a, wildcards: true, variables: false, ignoreCase: true)).ToArray();
        _resources = resources?.Select(r => GlobPattern.Compile(r, wildcards: true, variables, ignoreCase: false)).ToArray();
    }

    /// <summary>Zero-based position in the policy.</summary>
    public int Index { get; }

    /// <summary>The Sid, when the statement has one.</summary>
    public string? Sid { get; }

    /// <summary>The Sid, or <c>Statement[i]</c> (zero-based) when there is none; for diagnostics.</summary>
    public string Label => Sid ?? $"Statement[{Index}]";

    /// <summary>Allow or Deny.</summary>
    public PolicyEffect Effect { get; }

    /// <summary>Principal or NotPrincipal values; null when the statement has neither.</summary>
    public IReadOnlyList<PolicyPrincipal>? Principals { get; }

    /// <summary>True when <see cref="Principals"/> came from NotPrincipal.</summary>
    public bool IsNotPrincipal { get; }

    /// <summary>Action or NotAction values; null when the statement has neither.</summary>
    public IReadOnlyList<string>? Actions { get; }

    /// <summary>True when <see cref="Actions"/> came from NotAction.</summary>
    public bool IsNotAction { get; }

    /// <summary>Resource or NotResource values; null when the statement has neither.</summary>
    public IReadOnlyList<string>? Resources { get; }

    /// <summary>True when <see cref="Resources"/> came from NotResource.</summary>
    public bool IsNotResource { get; }

    /// <summary>The Condition entries (all must hold).</summary>
    public IReadOnlyList<PolicyCondition> Conditions { get; }

    /// <inheritdoc />
    public override string ToString() => $"{Label} ({Effect})";

    internal PrincipalMatch Match(PolicyRequest request, PolicyType type)
    {
        if (_actions is null || _resources is null)
        {
            return PrincipalMatch.None;
        }

        if (AnyMatches(_actions, request.Action, null) == IsNotAction)
        {
            return PrincipalMatch.None;
        }

        PrincipalMatch principal;
        if (type == PolicyType.Identity)
        {
            principal = PrincipalMatch.Direct;
        }
        else if (_principal is null || (principal = _principal.Match(request)) == PrincipalMatch.None)
        {
            return PrincipalMatch.None;
        }

        if (AnyMatches(_resources, request.Resource, request) == IsNotResource)
        {
            return PrincipalMatch.None;
        }

        foreach (var condition in _conditions)
        {
            if (!condition.Evaluate(request))
            {
                return PrincipalMatch.None;
            }
        }

        return principal;
    }

    private static bool AnyMatches(GlobPattern[] patterns, string value, PolicyRequest? request)
    {
        foreach (var pattern in patterns)
        {
            if (pattern.IsMatch(value, request))
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>
/// The outcome of one policy (or, for <see cref="KmsAuthorizationResult.IdentityPolicies"/>, of a set of identity
/// policies) for one request. <see cref="DenyingStatement"/> is the first matching Deny; <see cref="AllowingStatement"/>
/// the first Allow that matched directly, else the first that matched only through the account principal.
/// </summary>
public readonly record struct PolicyEvaluation(PolicyStatement? DenyingStatement, PolicyStatement? AllowingStatement, bool AllowedOnlyThroughAccountPrincipal)
{
    /// <summary>Nothing matched.</summary>
    public static PolicyEvaluation NotApplicable => default;

    /// <summary>A Deny statement matched.</summary>
    public bool IsExplicitDeny => DenyingStatement is not null;

    /// <summary>An Allow statement matched (see <see cref="AllowedOnlyThroughAccountPrincipal"/> for resource policies).</summary>
    public bool IsAllowed => AllowingStatement is not null;

    /// <summary>An Allow matched and not only through the account principal; no explicit deny.</summary>
    public bool IsAllowedDirectly => IsAllowed && !AllowedOnlyThroughAccountPrincipal && !IsExplicitDeny;
}
