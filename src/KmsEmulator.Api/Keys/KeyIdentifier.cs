using System.Text.RegularExpressions;
using KmsEmulator.Policy;

namespace KmsEmulator.Api.Keys;

/// <summary>The forms in which a request can name a key.</summary>
[Flags]
public enum KeyIdentifierForms
{
    KeyId = 1,
    KeyArn = 2,
    AliasName = 4,
    AliasArn = 8,
    KeyIdOrArn = KeyId | KeyArn,
    Any = KeyId | KeyArn | AliasName | AliasArn,
}

/// <summary>A parsed key identifier: which scope it points into, and a key id or an alias name.</summary>
public readonly record struct KeyIdentifier(KeyIdentifierForms Form, KeyScope Scope, string? KeyId, string? AliasName);

/// <summary>Parses key ids, key ARNs, alias names and alias ARNs as KMS accepts them.</summary>
public static partial class KeyIdentifierParser
{
    /// <summary>True for a KMS key id: a lowercase UUID or "mrk-" followed by 32 lowercase hex digits.</summary>
    public static bool IsKeyId(string value) => KeyIdPattern().IsMatch(value);

    /// <summary>
    /// Parses <paramref name="value"/> in the context of the caller's scope. Throws NotFoundException
    /// ("Invalid keyId ...") for a value in none of the allowed forms, as KMS does.
    /// </summary>
    public static KeyIdentifier Parse(string value, KeyScope callerScope, KeyIdentifierForms allowed)
    {
        if (value.StartsWith("arn:", StringComparison.Ordinal))
        {
            if (!Arn.TryParse(value, out var arn) || !arn.InAwsPartition || arn.Service != "kms" || !RegionPattern().IsMatch(arn.Region) ||
                !Arn.IsAccountId(arn.Account) || arn.Resource.Length == 0)
            {
                throw KmsErrors.InvalidKeyId(value);
            }

            var scope = new KeyScope(arn.Account, arn.Region);
            var resource = arn.Resource;
            if (resource.StartsWith("key/", StringComparison.Ordinal) && allowed.HasFlag(KeyIdentifierForms.KeyArn) && IsKeyId(resource[4..]))
            {
                return new KeyIdentifier(KeyIdentifierForms.KeyArn, scope, resource[4..], null);
            }

            if (resource.StartsWith("alias/", StringComparison.Ordinal) && allowed.HasFlag(KeyIdentifierForms.AliasArn))
            {
                return new KeyIdentifier(KeyIdentifierForms.AliasArn, scope, null, resource);
            }

            throw KmsErrors.InvalidKeyId(value);
        }

        if (value.StartsWith("alias/", StringComparison.Ordinal) && allowed.HasFlag(KeyIdentifierForms.AliasName))
        {
            return new KeyIdentifier(KeyIdentifierForms.AliasName, callerScope, null, value);
        }

        if (allowed.HasFlag(KeyIdentifierForms.KeyId) && IsKeyId(value))
        {
            return new KeyIdentifier(KeyIdentifierForms.KeyId, callerScope, value, null);
        }

        throw KmsErrors.InvalidKeyId(value);
    }

    [GeneratedRegex("^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$", RegexOptions.CultureInvariant)]
    private static partial Regex KeyIdPattern();

    [GeneratedRegex("^[a-z0-9-]+$", RegexOptions.CultureInvariant)]
    private static partial Regex RegionPattern();
}
