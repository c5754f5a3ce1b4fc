namespace KmsEmulator.Policy.Internal;

/// <summary>How a statement's Principal matched the caller.</summary>
internal enum PrincipalMatch : byte
{
    None,

    /// <summary>Only through the caller's account principal (account id or <c>:root</c> ARN): delegation to IAM.</summary>
    AccountPrincipal,

    /// <summary>Through <c>*</c>, the caller's own ARN, its role, or (for a root caller) its account.</summary>
    Direct,
}

/// <summary>The identities a caller presents: its own ARN, the role behind a session, and its account.</summary>
[Flags]
internal enum Facets : byte
{
    None = 0,
    Identity = 1,
    Role = 2,
    Account = 4,
    All = Identity | Role | Account,
}

internal enum EntryKind : byte { Any, Account, User, Role, Session, FederatedUser, Service, Exact }

/// <summary>One compiled principal value.</summary>
internal sealed record PrincipalEntry(EntryKind Kind, string Value, string Account = "", string Name = "")
{
    public Facets Covers(PolicyRequest request)
    {
        var type = request.PrincipalType;
        var arn = request.PrincipalArn.AsSpan();
        switch (Kind)
        {
            case EntryKind.Any:
                return Facets.All;
            case EntryKind.Account:
                return type is not (PrincipalType.Anonymous or PrincipalType.AWSService)
                       && string.Equals(request.PrincipalAccount, Account, StringComparison.Ordinal)
                    ? Facets.Account
                    : Facets.None;
            case EntryKind.User:
                return type == PrincipalType.IAMUser && arn.Equals(Value, StringComparison.Ordinal) ? Facets.Identity : Facets.None;
            case EntryKind.Role:
                if (!string.Equals(request.PrincipalAccount, Account, StringComparison.Ordinal))
                {
                    return Facets.None;
                }

                var roleName = request.CallerRoleName;
                return roleName.Length > 0 && string.Equals(roleName, Name, StringComparison.Ordinal) ? Facets.Role : Facets.None;
            case EntryKind.Session:
                return type == PrincipalType.AssumedRole && arn.Equals(Value, StringComparison.Ordinal) ? Facets.Identity : Facets.None;
            case EntryKind.FederatedUser:
                return type == PrincipalType.FederatedUser && arn.Equals(Value, StringComparison.Ordinal) ? Facets.Identity : Facets.None;
            case EntryKind.Service:
                return type == PrincipalType.AWSService && arn.Equals(Value, StringComparison.OrdinalIgnoreCase) ? Facets.Identity : Facets.None;
            default:
                return arn.Equals(Value, StringComparison.Ordinal) ? Facets.Identity : Facets.None;
        }
    }

    /// <summary>Compiles one value of <c>"AWS"</c>; null when AWS would call it an invalid principal.</summary>
    public static PrincipalEntry? ParseAws(string value)
    {
        if (value == "*")
        {
            return new PrincipalEntry(EntryKind.Any, value);
        }

        if (Arns.IsAccountId(value))
        {
            return new PrincipalEntry(EntryKind.Account, value, value);
        }

        if (value.AsSpan().IndexOfAny('*', '?') >= 0 || !Arns.TrySplit(value, out var parts))
        {
            return null;
        }

        var span = value.AsSpan();
        var account = parts.Account(span);
        if (parts.Partition(span).IsEmpty || !parts.Region(span).IsEmpty || !Arns.IsAccountId(account))
        {
            return null;
        }

        var resource = parts.Resource(span);
        var service = parts.Service(span);
        var acct = account.ToString();
        if (service is "iam")
        {
            if (resource is "root")
            {
                return new PrincipalEntry(EntryKind.Account, value, acct);
            }

            if (resource.StartsWith("user/", StringComparison.Ordinal) && HasName(resource))
            {
                return new PrincipalEntry(EntryKind.User, value, acct);
            }

            if (resource.StartsWith("role/", StringComparison.Ordinal) && HasName(resource))
            {
                return new PrincipalEntry(EntryKind.Role, value, acct, Arns.LastSegment(resource).ToString());
            }
        }
        else if (service is "sts")
        {
            if (resource.StartsWith("assumed-role/", StringComparison.Ordinal) && !Arns.RoleNameOfSession(span).IsEmpty && HasName(resource))
            {
                return new PrincipalEntry(EntryKind.Session, value, acct);
            }

            if (resource.StartsWith("federated-user/", StringComparison.Ordinal) && HasName(resource))
            {
                return new PrincipalEntry(EntryKind.FederatedUser, value, acct);
            }
        }

        return null;

        static bool HasName(ReadOnlySpan<char> resource) => !Arns.LastSegment(resource).IsEmpty;
    }
}

/// <summary>A statement's Principal or NotPrincipal, compiled.</summary>
internal sealed class PrincipalMatcher(PrincipalEntry[] entries, bool negated)
{
    public PrincipalMatch Match(PolicyRequest request)
    {
        var covered = Facets.None;
        foreach (var entry in entries)
        {
            covered |= entry.Covers(request);
            if (!negated && (covered & (Facets.Identity | Facets.Role)) != 0)
            {
                return PrincipalMatch.Direct;
            }
        }

        if (negated)
        {
            // NotPrincipal excludes a caller only when every identity it presents is listed (AWS: list the session,
            // its role and the account), so the statement applies as soon as one of them is missing.
            var required = Required(request.PrincipalType);
            return (required & ~covered) == 0 ? PrincipalMatch.None : PrincipalMatch.Direct;
        }

        if ((covered & Facets.Account) != 0)
        {
            return request.PrincipalType == PrincipalType.Root ? PrincipalMatch.Direct : PrincipalMatch.AccountPrincipal;
        }

        return PrincipalMatch.None;
    }

    private static Facets Required(PrincipalType type) => type switch
    {
        PrincipalType.Root => Facets.Account,
        PrincipalType.Role => Facets.Role | Facets.Account,
        PrincipalType.AssumedRole => Facets.All,
        PrincipalType.IAMUser or PrincipalType.FederatedUser => Facets.Identity | Facets.Account,
        _ => Facets.Identity,
    };
}
