using KmsEmulator.Policy.Internal;

namespace KmsEmulator.Policy;

/// <summary>
/// What a policy is evaluated against: who calls (<see cref="PrincipalArn"/>, <see cref="PrincipalAccount"/>,
/// <see cref="PrincipalType"/>), what they do (<see cref="Action"/>, e.g. <c>kms:Encrypt</c>), on what
/// (<see cref="Resource"/>: the key ARN, or <c>*</c> for operations without a key) and the request's condition keys.
/// </summary>
/// <remarks>
/// When <see cref="Keys"/> lacks them, these keys are derived from the principal: <c>aws:PrincipalArn</c> (the role
/// ARN, without path, for a role session), <c>aws:PrincipalAccount</c>, <c>kms:CallerAccount</c>,
/// <c>aws:PrincipalType</c>, <c>aws:PrincipalIsAWSService</c>, <c>aws:username</c> (IAM users) and <c>aws:userid</c>
/// (root: the account id). Values the pipeline puts in <see cref="Keys"/> always win. Equality is structural, so a
/// request can key a decision cache together with the policy texts.
/// </remarks>
public sealed record PolicyRequest
{
    private string _principalArn = string.Empty;
    private string _principalAccount = string.Empty;
    private PrincipalType _principalType;
    private Derived? _derived;

    /// <param name="principalArn">Caller ARN; for <see cref="PrincipalType.AWSService"/> the service name.</param>
    /// <param name="principalAccount">The caller's account id (empty for anonymous and service callers).</param>
    /// <param name="principalType">The caller's kind.</param>
    /// <param name="action">The action, e.g. <c>kms:Decrypt</c>.</param>
    /// <param name="resource">The key ARN, or <c>*</c> for operations that have no key resource.</param>
    /// <param name="keys">Condition keys; null means none.</param>
    public PolicyRequest(string principalArn, string principalAccount, PrincipalType principalType, string action, string resource, ContextKeys? keys = null)
    {
        PrincipalArn = principalArn;
        PrincipalAccount = principalAccount;
        PrincipalType = principalType;
        Action = action;
        Resource = resource;
        Keys = keys ?? ContextKeys.Empty;
    }

    /// <summary>Builds a request inferring the principal type and account from the caller ARN.</summary>
    /// <exception cref="ArgumentException">The ARN is not a root, user, role, assumed-role or federated-user ARN.</exception>
    public static PolicyRequest Create(string principalArn, string action, string resource, ContextKeys? keys = null)
    {
        ArgumentNullException.ThrowIfNull(principalArn);
        var (type, account) = Arns.Describe(principalArn);
        return new PolicyRequest(principalArn, account, type, action, resource, keys);
    }

    /// <summary>The caller ARN (session ARN for role sessions; service name for service principals).</summary>
    public string PrincipalArn
    {
        get => _principalArn;
        init
        {
            ArgumentNullException.ThrowIfNull(value);
            _principalArn = value;
            _derived = null;
        }
    }

    /// <summary>The caller's account id.</summary>
    public string PrincipalAccount
    {
        get => _principalAccount;
        init
        {
            ArgumentNullException.ThrowIfNull(value);
            _principalAccount = value;
            _derived = null;
        }
    }

    /// <summary>The caller's kind.</summary>
    public PrincipalType PrincipalType
    {
        get => _principalType;
        init
        {
            _principalType = value;
            _derived = null;
        }
    }

    /// <summary>The action, e.g. <c>kms:Encrypt</c> (matched case-insensitively).</summary>
    public string Action
    {
        get;
        init => field = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>The resource ARN (matched case-sensitively), or <c>*</c>.</summary>
    public string Resource
    {
        get;
        init => field = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>The request's condition keys (null becomes <see cref="ContextKeys.Empty"/>).</summary>
    public ContextKeys Keys
    {
        get;
        init => field = value ?? ContextKeys.Empty;
    }

    /// <summary>True for callers that have IAM identity policies (users, roles, sessions, federated users).</summary>
    public bool HasIdentityPolicies => PrincipalType is PrincipalType.IAMUser or PrincipalType.Role or PrincipalType.AssumedRole or PrincipalType.FederatedUser;

    /// <inheritdoc />
    public bool Equals(PolicyRequest? other) =>
        other is not null
        && _principalType == other._principalType
        && string.Equals(_principalArn, other._principalArn, StringComparison.Ordinal)
        && string.Equals(_principalAccount, other._principalAccount, StringComparison.Ordinal)
        && string.Equals(Action, other.Action, StringComparison.Ordinal)
        && string.Equals(Resource, other.Resource, StringComparison.Ordinal)
        && Keys.Equals(other.Keys);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(_principalArn, _principalAccount, _principalType, Action, Resource, Keys);

    /// <summary>The values of a condition key: the request's own, else a value derived from the principal.</summary>
    internal ValueList GetValues(string key)
    {
        var values = Keys.Find(key);
        if (values is not null)
        {
            return new ValueList(values);
        }

        return new ValueList(DerivedValue(key));
    }

    /// <summary>A policy variable resolves only to a single-valued key.</summary>
    internal bool TryResolveVariable(string key, out string value)
    {
        var values = GetValues(key);
        if (values.Count == 1)
        {
            value = values[0];
            return true;
        }

        value = string.Empty;
        return false;
    }

    /// <summary>The role name of a session or role caller (without path), computed once; empty for other callers.</summary>
    internal string CallerRoleName => (_derived ??= new Derived(this)).RoleName;

    private string? DerivedValue(string key)
    {
        // Cheap pre-filter: every derived key starts with "aws:" or "kms:".
        if (key.Length < 10 || key[3] != ':')
        {
            return null;
        }

        var derived = _derived ??= new Derived(this);
        if (key.Equals("aws:PrincipalArn", StringComparison.OrdinalIgnoreCase))
        {
            return derived.PrincipalArn;
        }

        if (key.Equals("aws:PrincipalAccount", StringComparison.OrdinalIgnoreCase) || key.Equals("kms:CallerAccount", StringComparison.OrdinalIgnoreCase))
        {
            return derived.Account;
        }

        if (key.Equals("aws:PrincipalType", StringComparison.OrdinalIgnoreCase))
        {
            return derived.Type;
        }

        if (key.Equals("aws:PrincipalIsAWSService", StringComparison.OrdinalIgnoreCase))
        {
            return _principalType == PrincipalType.AWSService ? "true" : "false";
        }

        if (key.Equals("aws:username", StringComparison.OrdinalIgnoreCase))
        {
            return derived.UserName;
        }

        if (key.Equals("aws:userid", StringComparison.OrdinalIgnoreCase))
        {
            return derived.UserId;
        }

        return null;
    }

    private sealed class Derived
    {
        public Derived(PolicyRequest request)
        {
            var arn = request._principalArn;
            var type = request._principalType;
            Account = request._principalAccount.Length == 0 ? null : request._principalAccount;
            Type = type switch
            {
                PrincipalType.Root => "Account",
                PrincipalType.IAMUser => "User",
                PrincipalType.AssumedRole or PrincipalType.Role => "AssumedRole",
                PrincipalType.FederatedUser => "FederatedUser",
                PrincipalType.Anonymous => "Anonymous",
                _ => null,
            };
            PrincipalArn = type switch
            {
                PrincipalType.AssumedRole when Arns.TrySplit(arn, out var parts) && !Arns.RoleNameOfSession(arn).IsEmpty =>
                    $"arn:{parts.Partition(arn)}:iam::{parts.Account(arn)}:role/{Arns.RoleNameOfSession(arn)}",
                PrincipalType.Anonymous or PrincipalType.AWSService => null,
                _ => arn,
            };
            UserName = type == PrincipalType.IAMUser ? Arns.LastSegment(arn).ToString() : null;
            RoleName = type switch
            {
                PrincipalType.AssumedRole => Arns.RoleNameOfSession(arn).ToString(),
                PrincipalType.Role => Arns.LastSegment(arn).ToString(),
                _ => string.Empty,
            };
            UserId = type == PrincipalType.Root ? Account : null;
        }

        public string? Account { get; }

        public string? Type { get; }

        public string? PrincipalArn { get; }

        public string? UserName { get; }

        public string? UserId { get; }

        public string RoleName { get; }
    }
}

/// <summary>Zero, one or many values of a condition key, without allocating for the single-value case.</summary>
internal readonly struct ValueList
{
    private readonly string[]? _many;
    private readonly string? _one;

    public ValueList(string[] many)
    {
        _many = many;
        _one = null;
    }

    public ValueList(string? one)
    {
        _many = null;
        _one = one;
    }

    public int Count => _many?.Length ?? (_one is null ? 0 : 1);

    public string this[int index] => _many is null ? _one! : _many[index];
}
