namespace KmsEmulator.Policy.Internal;

/// <summary>Small, allocation-free helpers for the ARN shapes principals take.</summary>
internal static class Arns
{
    /// <summary>Splits <c>arn:partition:service:region:account:resource</c>; the resource keeps any further colons.</summary>
    public static bool TrySplit(ReadOnlySpan<char> arn, out ArnParts parts)
    {
        parts = default;
        Span<int> colons = stackalloc int[5];
        var found = 0;
        for (var i = 0; i < arn.Length && found < 5; i++)
        {
            if (arn[i] == ':')
            {
                colons[found++] = i;
            }
        }

        if (found < 5 || !arn.StartsWith("arn:", StringComparison.Ordinal))
        {
            return false;
        }

        parts = new ArnParts(colons[0], colons[1], colons[2], colons[3], colons[4]);
        return true;
    }

    public static bool IsAccountId(ReadOnlySpan<char> value)
    {
        if (value.Length != 12)
        {
            return false;
        }

        foreach (var c in value)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The account of an ARN, or empty.</summary>
    public static ReadOnlySpan<char> Account(ReadOnlySpan<char> arn) =>
        TrySplit(arn, out var parts) ? parts.Account(arn) : default;

    /// <summary>The text after the last '/' of an ARN's resource part (user or role name).</summary>
    public static ReadOnlySpan<char> LastSegment(ReadOnlySpan<char> arn)
    {
        var slash = arn.LastIndexOf('/');
        return slash < 0 ? default : arn[(slash + 1)..];
    }

    /// <summary>The role name of <c>arn:...:sts::acct:assumed-role/&lt;role&gt;/&lt;session&gt;</c>, or empty.</summary>
    public static ReadOnlySpan<char> RoleNameOfSession(ReadOnlySpan<char> sessionArn)
    {
        if (!TrySplit(sessionArn, out var parts))
        {
            return default;
        }

        var resource = parts.Resource(sessionArn);
        const string prefix = "assumed-role/";
        if (!resource.StartsWith(prefix, StringComparison.Ordinal))
        {
            return default;
        }

        resource = resource[prefix.Length..];
        var slash = resource.IndexOf('/');
        return slash <= 0 ? default : resource[..slash];
    }

    /// <summary>Infers the principal type and account from a caller ARN (or service name, or <c>*</c>).</summary>
    public static (PrincipalType Type, string Account) Describe(string principal)
    {
        if (principal is "" or "*" or "anonymous")
        {
            return (PrincipalType.Anonymous, string.Empty);
        }

        if (!TrySplit(principal, out var parts))
        {
            return (PrincipalType.AWSService, string.Empty);
        }

        var span = principal.AsSpan();
        var account = parts.Account(span).ToString();
        var service = parts.Service(span);
        var resource = parts.Resource(span);
        if (service is "iam")
        {
            if (resource is "root")
            {
                return (PrincipalType.Root, account);
            }

            if (resource.StartsWith("user/", StringComparison.Ordinal))
            {
                return (PrincipalType.IAMUser, account);
            }

            if (resource.StartsWith("role/", StringComparison.Ordinal))
            {
                return (PrincipalType.Role, account);
            }
        }
        else if (service is "sts")
        {
            if (resource.StartsWith("assumed-role/", StringComparison.Ordinal))
            {
                return (PrincipalType.AssumedRole, account);
            }

            if (resource.StartsWith("federated-user/", StringComparison.Ordinal))
            {
                return (PrincipalType.FederatedUser, account);
            }
        }

        throw new ArgumentException($"'{principal}' is not a principal ARN this evaluator understands.", nameof(principal));
    }
}

/// <summary>Positions of the five separating colons of an ARN.</summary>
internal readonly record struct ArnParts(int C0, int C1, int C2, int C3, int C4)
{
    public ReadOnlySpan<char> Partition(ReadOnlySpan<char> arn) => arn[(C0 + 1)..C1];

    public ReadOnlySpan<char> Service(ReadOnlySpan<char> arn) => arn[(C1 + 1)..C2];

    public ReadOnlySpan<char> Region(ReadOnlySpan<char> arn) => arn[(C2 + 1)..C3];

    public ReadOnlySpan<char> Account(ReadOnlySpan<char> arn) => arn[(C3 + 1)..C4];

    public ReadOnlySpan<char> Resource(ReadOnlySpan<char> arn) => arn[(C4 + 1)..];

    public ReadOnlySpan<char> Component(ReadOnlySpan<char> arn, int index) => index switch
    {
        0 => arn[..C0],
        1 => Partition(arn),
        2 => Service(arn),
        3 => Region(arn),
        4 => Account(arn),
        _ => Resource(arn),
    };
}
