namespace KmsEmulator.Api.Pipeline
{
    /// <summary>
    /// A request whose operation checks its GrantTokens (InvalidGrantTokenException): CreateGrant, GetPublicKey and the
    /// cryptographic operations. DescribeKey takes GrantTokens too, but its model lists no InvalidGrantTokenException,
    /// so it does not implement this. The tokens must be tokens the emulator issued
    /// (<see cref="Keys.GrantToken.ValidateAll"/>); they grant nothing by themselves, since a grant takes effect as soon
    /// as CreateGrant returns.
    /// </summary>
    public interface IGrantTokenRequest
    {
        List<string>? GrantTokens { get; }
    }
}

namespace KmsEmulator.Api.Generated
{
    using KmsEmulator.Api.Pipeline;

    // The generated shapes are partial; these declarations only add the interface to the shapes with a GrantTokens member.
    public sealed partial class CreateGrantRequest : IGrantTokenRequest;

    public sealed partial class DecryptRequest : IGrantTokenRequest;

    public sealed partial class DeriveSharedSecretRequest : IGrantTokenRequest;

    public sealed partial class EncryptRequest : IGrantTokenRequest;

    public sealed partial class GenerateDataKeyPairRequest : IGrantTokenRequest;

    public sealed partial class GenerateDataKeyPairWithoutPlaintextRequest : IGrantTokenRequest;

    public sealed partial class GenerateDataKeyRequest : IGrantTokenRequest;

    public sealed partial class GenerateDataKeyWithoutPlaintextRequest : IGrantTokenRequest;

    public sealed partial class GenerateMacRequest : IGrantTokenRequest;

    public sealed partial class GetPublicKeyRequest : IGrantTokenRequest;

    public sealed partial class ReEncryptRequest : IGrantTokenRequest;

    public sealed partial class SignRequest : IGrantTokenRequest;

    public sealed partial class VerifyMacRequest : IGrantTokenRequest;

    public sealed partial class VerifyRequest : IGrantTokenRequest;
}
