using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Pipeline;

namespace KmsEmulator.Api.Operations;

/// <summary>Sign and Verify with SIGN_VERIFY key pairs (RSA, ECDSA, Ed25519); the private key stays in the HSM.</summary>
public sealed class SigningOperations(KeyCryptoService crypto) : IOperationGroup
{
    private const string KeyId = nameof(SignRequest.KeyId);

    public void Register(OperationTable.Builder table)
    {
        table.Add<SignRequest, SignResponse>(
            KmsOperation.Sign,
            Sign,
            [new() { Member = KeyId, Identifier = r => r.KeyId, StateRule = KeyStateRule.Cryptographic }],
            KeyUsageType.SIGN_VERIFY,
            r => r.DryRun,
            c => Plan(c.Key(KeyId), c.Request.SigningAlgorithm, c.Request.MessageType, c.Request.Message));
        table.Add<VerifyRequest, VerifyResponse>(
            KmsOperation.Verify,
            Verify,
            [new() { Member = KeyId, Identifier = r => r.KeyId, StateRule = KeyStateRule.Cryptographic }],
            KeyUsageType.SIGN_VERIFY,
            r => r.DryRun,
            c => Plan(c.Key(KeyId), c.Request.SigningAlgorithm, c.Request.MessageType, c.Request.Message));
    }

    private async ValueTask<SignResponse> Sign(OperationContext<SignRequest> context)
    {
        var request = context.Request;
        var key = context.Key(KeyId);
        var plan = Plan(key, request.SigningAlgorithm, request.MessageType, request.Message);
        var signature = await crypto.SignAsync(key, plan, request.Message!, context.CancellationToken);
        return new SignResponse { KeyId = key.Arn, Signature = signature, SigningAlgorithm = plan.Algorithm.ToWire() };
    }

    private async ValueTask<VerifyResponse> Verify(OperationContext<VerifyRequest> context)
    {
        var request = context.Request;
        var key = context.Key(KeyId);
        var plan = Plan(key, request.SigningAlgorithm, request.MessageType, request.Message);
        await crypto.VerifyAsync(key, plan, request.Message!, request.Signature!, context.CancellationToken);
        return new VerifyResponse { KeyId = key.Arn, SignatureValid = true, SigningAlgorithm = plan.Algorithm.ToWire() };
    }

    // Shape validation has made SigningAlgorithm and Message present.
    private static SigningPlan Plan(KeyRecord key, string? algorithm, string? messageType, byte[]? message) =>
        AlgorithmRules.Signing(key, algorithm!, messageType, message!.Length);
}
