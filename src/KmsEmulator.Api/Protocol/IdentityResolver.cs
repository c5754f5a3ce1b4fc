using System.Collections.Frozen;
using System.Text.RegularExpressions;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Pipeline;
using KmsEmulator.Policy;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace KmsEmulator.Api.Protocol;

/// <summary>
/// Authenticates a request and builds its caller identity and region. The region comes from the SigV4 credential
/// scope; the caller is the configured principal that owns the access key.
/// <list type="bullet">
/// <item>Strict mode: the signature is verified against the principal's secret (clock skew, session token, scope);
/// the scope's region must be one of the AWS partitions' (<see cref="AwsRegions"/>) or of
/// <see cref="AuthOptions.AdditionalRegions"/>; unknown access keys and missing signatures are rejected with AWS's
/// errors.</item>
/// <item>Permissive mode (default): the header is parsed, not verified, and any well-formed region is accepted. An
/// unknown access key of exactly 12 digits stands for the root of that account, any other for the root of the
/// default account; an unsigned request is the default account in the default region.</item>
/// </list>
/// </summary>
public sealed partial class IdentityResolver(
    IOptions<IdentityOptions> options,
    IOptions<AuthOptions> auth,
    PrincipalDirectory principals,
    TimeProvider clock)
{
    private readonly IdentityOptions _options = options.Value;
    private readonly AuthOptions _auth = auth.Value;
    private readonly FrozenSet<string> _strictRegions = StrictRegions(auth.Value);

    /// <summary>The SigV4 signing name of KMS, which its credential scopes must name.</summary>
    public const string KmsService = "kms";

    public bool IsStrict => _auth.Mode == AuthMode.Strict;

    /// <param name="service">
    /// The signing name the credential scope must name: <see cref="KmsService"/> for KMS, <c>cloudtrail</c> for the
    /// CloudTrail endpoint on the same port.
    /// </param>
    public (CallerIdentity Caller, string Region, SigV4Authorization? Signature) Resolve(HttpRequest request, ReadOnlySpan<byte> body, string service = KmsService)
    {
        string? header = request.Headers.Authorization;
        if (string.IsNullOrEmpty(header))
        {
            return IsStrict
                ? throw KmsErrors.MissingAuthenticationToken()
                : (RootOf(_options.DefaultAccountId, _options.DefaultRegion, null), _options.DefaultRegion, null);
        }

        var signature = SigV4Authorization.Parse(header);
        if (signature.Service != service)
        {
            throw KmsErrors.CredentialScopeWrongService(service, header);
        }

        if (!RegionPattern().IsMatch(signature.Region) || (IsStrict && !_strictRegions.Contains(signature.Region)))
        {
            throw KmsErrors.CredentialScopeInvalidRegion(signature.Region);
        }

        var principal = principals.Find(signature.AccessKeyId);
        if (IsStrict)
        {
            if (principal is null)
            {
                throw KmsErrors.UnrecognizedClient();
            }

            CheckSessionToken(request, principal);
            SigV4Verifier.Verify(request, body, signature, principal.SecretAccessKey, clock.GetUtcNow(), _auth.AllowedClockSkew);
        }

        if (principal is not null)
        {
            return (principal.Identity, signature.Region, signature);
        }

        var account = AccountPattern().IsMatch(signature.AccessKeyId) ? signature.AccessKeyId : _options.DefaultAccountId;
        return (RootOf(account, signature.Region, signature.AccessKeyId), signature.Region, signature);
    }

    /// <summary>
    /// Who a request claims to be, unverified: for the audit record of a request that failed before (or while) it was
    /// authenticated. A known access key gives its principal, an unknown one an unknown caller in the account it
    /// names (permissive mode's rule) or the default account; an unsigned request the default account's root.
    /// </summary>
    public (CallerIdentity Caller, string Region) Claimed(HttpRequest request)
    {
        string? header = request.Headers.Authorization;
        SigV4Authorization? signature = null;
        try
        {
            signature = string.IsNullOrEmpty(header) ? null : SigV4Authorization.Parse(header);
        }
        catch (KmsException)
        {
            // Not a readable SigV4 header: nothing is claimed.
        }

        var region = signature is not null && RegionPattern().IsMatch(signature.Region) ? signature.Region : _options.DefaultRegion;
        if (signature is null)
        {
            return (RootOf(_options.DefaultAccountId, region, null), region);
        }

        if (principals.Find(signature.AccessKeyId) is { } principal)
        {
            return (principal.Identity, region);
        }

        var account = AccountPattern().IsMatch(signature.AccessKeyId) ? signature.AccessKeyId : _options.DefaultAccountId;
        return IsStrict
            ? (new CallerIdentity(account, string.Empty, signature.AccessKeyId, PrincipalType.Anonymous), region)
            : (RootOf(account, region, signature.AccessKeyId), region);
    }

    /// <summary>The regions strict mode accepts; a configured region that is not a well-formed region name stops start-up.</summary>
    private static FrozenSet<string> StrictRegions(AuthOptions auth)
    {
        for (var i = 0; i < auth.AdditionalRegions.Length; i++)
        {
            if (auth.AdditionalRegions[i] is not { } region || !RegionPattern().IsMatch(region))
            {
                throw new InvalidOperationException(
                    $"Kms:Auth:AdditionalRegions:{i}: '{auth.AdditionalRegions[i]}' is not a region name (lower-case words and a number joined by '-', like us-east-1).");
            }
        }

        return AwsRegions.Known.Union(auth.AdditionalRegions, StringComparer.Ordinal).ToFrozenSet(StringComparer.Ordinal);
    }

    private void CheckSessionToken(HttpRequest request, ConfiguredPrincipal principal)
    {
        string? token = request.Headers["X-Amz-Security-Token"];
        var matches = principal.SessionToken is null
            ? token is null
            : token is not null && System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(
                System.Text.Encoding.UTF8.GetBytes(token), System.Text.Encoding.UTF8.GetBytes(principal.SessionToken));
        if (!matches)
        {
            throw KmsErrors.UnrecognizedClient();
        }

        if (principal.SessionExpiration is { } expiration && expiration <= clock.GetUtcNow())
        {
            throw KmsErrors.SecurityTokenExpired();
        }
    }

    private static CallerIdentity RootOf(string accountId, string region, string? accessKeyId) =>
        new(accountId, new KeyScope(accountId, region).RootArn, accessKeyId, PrincipalType.Root);

    // A partition prefix (us, eu, cn, eusc...), one or more words and a number: us-east-1, us-gov-west-1, eusc-de-east-1.
    [GeneratedRegex("^[a-z]{2,}(-[a-z]+)+-[0-9]+$", RegexOptions.CultureInvariant)]
    private static partial Regex RegionPattern();

    [GeneratedRegex("^[0-9]{12}$", RegexOptions.CultureInvariant)]
    private static partial Regex AccountPattern();
}
