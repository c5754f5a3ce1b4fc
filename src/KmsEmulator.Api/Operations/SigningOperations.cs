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
        table.Add(KmsOperation.Sign, new OperationRow<SignRequest, SignResponse>
        {
            Handler = Sign,
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, StateRule = KeyStateRule.Cryptographic }],
            RequiredUsage = KeyUsageType.SIGN_VERIFY,
            CrossAccount = true,
            ConditionKeys = (r, _, keys) => keys.AddIfPresent("kms:SigningAlgorithm", r.SigningAlgorithm).Add("kms:MessageType", r.MessageType ?? "RAW"),
            DryRun = r => r.DryRun,
            Check = c => Plan(c.Key(KeyId), c.Request.SigningAlgorithm, c.Request.MessageType, c.Request.Message),
            Audit = new()
            {
                ReadOnly = true,
                Request = r => Audit.Fields(("keyId", r.KeyId), ("messageType", r.MessageType ?? "RAW"), ("signingAlgorithm", r.SigningAlgorithm)),
            },
        });
        table.Add(KmsOperation.Verify, new OperationRow<VerifyRequest, VerifyResponse>
        {
            Handler = Verify,
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, StateRule = KeyStateRule.Cryptographic }],
            RequiredUsage = KeyUsageType.SIGN_VERIFY,
            CrossAccount = true,
            ConditionKeys = (r, _, keys) => keys.AddIfPresent("kms:SigningAlgorithm", r.SigningAlgorithm).Add("kms:MessageType", r.MessageType ?? "RAW"),
            DryRun = r => r.DryRun,
            Check = c => Plan(c.Key(KeyId), c.Request.SigningAlgorithm, c.Request.MessageType, c.Request.Message),
            Audit = new()
            {
                ReadOnly = true,
                Request = r => Audit.Fields(("keyId", r.KeyId), ("messageType", r.MessageType ?? "RAW"), ("signingAlgorithm", r.SigningAlgorithm)),
            },
        });
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
