using KmsEmulator.Api.Pipeline;

namespace KmsEmulator.Api.Protocol;

/// <summary>
/// Which principals exist: in strict mode "*", account ids and roots, and the configured principals (and their roles);
/// in permissive mode any access key is someone, so every well-formed principal ARN exists.
/// </summary>
public sealed class KnownPrincipals(IdentityResolver identity, PrincipalDirectory principals) : IKnownPrincipals
{
    public bool Exists(string principalArn) => !identity.IsStrict || principals.Exists(principalArn);
}
