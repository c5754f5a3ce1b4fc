namespace KmsEmulator.Api.Generated.Runtime;

/// <summary>
/// A request whose operation checks its GrantTokens (it can answer InvalidGrantTokenException): CreateGrant,
/// GetPublicKey and the cryptographic operations. The generator adds it to every such request shape, from the model's
/// error lists; DescribeKey takes GrantTokens too but its model lists no InvalidGrantTokenException, so it does not
/// implement this. The pipeline checks the tokens before anything else runs.
/// </summary>
public interface IGrantTokenRequest
{
    List<string>? GrantTokens { get; }
}
