using System.Collections.Frozen;
using System.Text.RegularExpressions;
using KmsEmulator.Api.Pipeline;
using KmsEmulator.Policy;
using Microsoft.Extensions.Configuration;

namespace KmsEmulator.Api.Protocol;

/// <summary>
/// A configured IAM principal: who it is (with its identity policies in <see cref="CallerIdentity.IdentityPolicies"/>)
/// and its credentials.
/// </summary>
public sealed record ConfiguredPrincipal(
    CallerIdentity Identity,
    string SecretAccessKey,
    string? SessionToken,
    DateTimeOffset? SessionExpiration);

/// <summary>
/// The principals declared under <c>Kms:Principals</c>, indexed by access key id. Each entry has Arn, AccessKeyId,
/// SecretAccessKey, optional SessionToken and SessionExpiration, optional IdentityPolicies (IAM policy documents,
/// as JSON objects or as JSON strings) and an optional ViaService (the kms:ViaService its requests carry). Invalid entries stop start-up with a message naming the entry.
/// </summary>
/// <remarks>
/// Each identity policy is one configuration value holding its JSON text: JSON files keep a policy written as a JSON
/// object as that value (<see cref="Hosting.KmsJsonConfigurationSource"/>); other sources give it as a string.
/// </remarks>
public sealed partial class PrincipalDirectory
{
    public const string Section = "Kms:Principals";

    private readonly FrozenDictionary<string, ConfiguredPrincipal> _byAccessKey;

    public PrincipalDirectory(IEnumerable<ConfiguredPrincipal> principals) =>
        _byAccessKey = principals.ToFrozenDictionary(p => p.Identity.AccessKeyId!, StringComparer.Ordinal);

    public int Count => _byAccessKey.Count;

    public ConfiguredPrincipal? Find(string accessKeyId) => _byAccessKey.GetValueOrDefault(accessKeyId);

    /// <summary>
    /// Whether a principal named in a policy exists: "*", an account id, an account root, or a configured user, role
    /// or role session (a role exists when one of its sessions is configured).
    /// </summary>
    public bool Exists(string principal)
    {
        if (principal == "*" || Arn.IsAccountId(principal) || (Arn.TryParse(principal, out var parsed) && parsed.IsAccountRoot))
        {
            return true;
        }

        foreach (var configured in _byAccessKey.Values)
        {
            var arn = configured.Identity.Arn;
            if (arn == principal || (Arn.TryParse(arn, out var session) && session.RoleOfSession() == principal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Reads and checks <c>Kms:Principals</c>.</summary>
    public static PrincipalDirectory FromConfiguration(IConfiguration configuration)
    {
        var principals = new List<ConfiguredPrincipal>();
        var index = 0;
        foreach (var entry in configuration.GetSection(Section).GetChildren())
        {
            principals.Add(Read(entry, index++));
        }

        var duplicate = principals.GroupBy(p => p.Identity.AccessKeyId).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new InvalidOperationException($"{Section}: access key id {duplicate.Key} is given to more than one principal.");
        }

        return new PrincipalDirectory(principals);
    }

    private static ConfiguredPrincipal Read(IConfigurationSection entry, int index)
    {
        string Required(string name) =>
            entry[name] is { Length: > 0 } value ? value : throw new InvalidOperationException($"{Section}:{index} needs {name}.");

        var arn = Required("Arn");
        var type = PrincipalTypeOf(arn, out var account)
            ?? throw new InvalidOperationException($"{Section}:{index}: '{arn}' is not an IAM user, role, assumed-role or account root ARN.");

        DateTimeOffset? expiration = entry["SessionExpiration"] is { Length: > 0 } text
            ? DateTimeOffset.Parse(text, System.Globalization.CultureInfo.InvariantCulture)
            : null;

        var policies = new List<PolicyDocument>();
        var policyIndex = 0;
        foreach (var policy in entry.GetSection("IdentityPolicies").GetChildren())
        {
            var json = policy.Value ?? throw new InvalidOperationException(
                $"{Section}:{index}:IdentityPolicies:{policyIndex}: give the policy document as a JSON object in a JSON configuration file, or as a JSON string.");
            if (!PolicyDocument.TryParse(json, out var document, out var error))
            {
                throw new InvalidOperationException($"{Section}:{index}:IdentityPolicies:{policyIndex}: {error}");
            }

            policies.Add(document!);
            policyIndex++;
        }

        var viaService = entry["ViaService"] is { Length: > 0 } via ? via : null;
        if (viaService is not null && !ViaServicePattern().IsMatch(viaService))
        {
            throw new InvalidOperationException(
                $"{Section}:{index}: ViaService '{viaService}' is not a service endpoint name such as ec2.us-east-1.amazonaws.com.");
        }

        return new ConfiguredPrincipal(
            new CallerIdentity(account, arn, Required("AccessKeyId"), type) { IdentityPolicies = policies, ViaService = viaService },
            Required("SecretAccessKey"),
            entry["SessionToken"] is { Length: > 0 } token ? token : null,
            expiration);
    }

    /// <summary>The type of a configured principal's ARN (an account root, IAM user, role or role session), or null.</summary>
    private static PrincipalType? PrincipalTypeOf(string arn, out string account)
    {
        account = string.Empty;
        if (!Arn.TryParse(arn, out var parsed) || !parsed.IsPrincipal)
        {
            return null;
        }

        account = parsed.Account;
        return parsed switch
        {
            { IsAccountRoot: true } => PrincipalType.Root,
            { Service: "iam", Resource: var r } when r.StartsWith("user/", StringComparison.Ordinal) && r.Length > 5 => PrincipalType.IAMUser,
            { Service: "iam", Resource: var r } when r.StartsWith("role/", StringComparison.Ordinal) && r.Length > 5 => PrincipalType.Role,
            _ when parsed.RoleOfSession() is not null => PrincipalType.AssumedRole,
            _ => null,
        };
    }

    [GeneratedRegex("^[a-z0-9-]+\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?$", RegexOptions.CultureInvariant)]
    private static partial Regex ViaServicePattern();

}
