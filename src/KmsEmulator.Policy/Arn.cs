using KmsEmulator.Policy.Internal;

namespace KmsEmulator.Policy;

/// <summary>
/// An Amazon Resource Name, <c>arn:partition:service:region:account:resource</c> (the resource keeps any further colons).
/// The one ARN parser of the emulator: key and alias ARNs, principal ARNs in policies and grants, configured principals.
/// </summary>
public readonly record struct Arn(string Partition, string Service, string Region, string Account, string Resource)
{
    /// <summary>Splits an ARN into its six parts; false when it does not start with <c>arn:</c> or has fewer than six.</summary>
    public static bool TryParse(string? text, out Arn arn)
    {
        arn = default;
        if (text is null || !Arns.TrySplit(text, out var parts))
        {
            return false;
        }

        var span = text.AsSpan();
        arn = new Arn(parts.Partition(span).ToString(), parts.Service(span).ToString(), parts.Region(span).ToString(),
            parts.Account(span).ToString(), parts.Resource(span).ToString());
        return true;
    }

    /// <summary>A 12-digit AWS account id.</summary>
    public static bool IsAccountId(ReadOnlySpan<char> value) => Arns.IsAccountId(value);

    /// <summary>An AWS partition name: <c>aws</c>, <c>aws-cn</c>, <c>aws-us-gov</c>, <c>aws-iso-b</c>, ...</summary>
    public bool InAwsPartition => Partition == "aws" || (Partition.StartsWith("aws-", StringComparison.Ordinal) && Partition.Length > 4 && Partition.AsSpan(4).IndexOfAnyExcept("abcdefghijklmnopqrstuvwxyz-") < 0);

    /// <summary>An IAM or STS ARN with the empty region and a 12-digit account, as every principal ARN has.</summary>
    public bool IsPrincipal => InAwsPartition && Service is "iam" or "sts" && Region.Length == 0 && IsAccountId(Account);

    /// <summary><c>arn:partition:iam::account:root</c>.</summary>
    public bool IsAccountRoot => IsPrincipal && Service == "iam" && Resource == "root";

    /// <summary>
    /// For a role session, <c>arn:partition:sts::account:assumed-role/role/session</c>: the role's ARN
    /// (<c>arn:partition:iam::account:role/role</c>); otherwise null.
    /// </summary>
    public string? RoleOfSession()
    {
        const string prefix = "assumed-role/";
        if (!IsPrincipal || Service != "sts" || !Resource.StartsWith(prefix, StringComparison.Ordinal))
        {
            return null;
        }

        var rest = Resource.AsSpan(prefix.Length);
        var slash = rest.IndexOf('/');
        return slash <= 0 || slash == rest.Length - 1 ? null : $"arn:{Partition}:iam::{Account}:role/{rest[..slash]}";
    }

    public override string ToString() => $"arn:{Partition}:{Service}:{Region}:{Account}:{Resource}";
}
