namespace KmsEmulator.Api.Pipeline;

/// <summary>
/// Whether a principal that a key policy names exists, for MalformedPolicyDocumentException ("invalid principals").
/// The answer belongs to whoever knows the callers: the authentication side (Protocol) implements it.
/// </summary>
public interface IKnownPrincipals
{
    bool Exists(string principalArn);
}
