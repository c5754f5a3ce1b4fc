using System.Text.RegularExpressions;
using KmsEmulator.Api.Keys;
using Microsoft.Extensions.Options;

namespace KmsEmulator.Api.Protocol;

/// <summary>
/// Builds the caller identity and region from a request's SigV4 Authorization header (permissive mode: the
/// signature is parsed but not verified). Region comes from the credential scope. An access key that is exactly
/// 12 digits stands for the root of that account, so tests can act as several accounts without configuration;
/// any other access key maps to the root of the default account.
/// </summary>
public sealed partial class IdentityResolver(IOptions<IdentityOptions> options)
{
    private readonly IdentityOptions _options = options.Value;

    public (CallerIdentity Caller, string Region, SigV4Authorization? Signature) Resolve(string? authorizationHeader)
    {
        if (string.IsNullOrEmpty(authorizationHeader))
        {
            return (RootOf(_options.DefaultAccountId, _options.DefaultRegion, null), _options.DefaultRegion, null);
        }

        var signature = SigV4Authorization.Parse(authorizationHeader);
        if (signature.Service != "kms")
        {
            throw new KmsException("InvalidSignatureException", $"Credential should be scoped to correct service: 'kms'. Authorization={authorizationHeader}");
        }

        if (!RegionPattern().IsMatch(signature.Region))
        {
            throw new KmsException("InvalidSignatureException", $"Credential should be scoped to a valid region, not '{signature.Region}'.");
        }

        var account = AccountPattern().IsMatch(signature.AccessKeyId) ? signature.AccessKeyId : _options.DefaultAccountId;
        return (RootOf(account, signature.Region, signature.AccessKeyId), signature.Region, signature);
    }

    private static CallerIdentity RootOf(string accountId, string region, string? accessKeyId) =>
        new(accountId, new KeyScope(accountId, region).RootArn, accessKeyId, "Root");

    [GeneratedRegex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", RegexOptions.CultureInvariant)]
    private static partial Regex RegionPattern();

    [GeneratedRegex("^[0-9]{12}$", RegexOptions.CultureInvariant)]
    private static partial Regex AccountPattern();
}
