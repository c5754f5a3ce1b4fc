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
        table.Add(KmsOperation.Sign, Row<SignRequest, SignResponse>(Sign, r => (r.KeyId, r.SigningAlgorithm, r.MessageType, r.Message, r.DryRun)));
        table.Add(KmsOperation.Verify, Row<VerifyRequest, VerifyResponse>(Verify, r => (r.KeyId, r.SigningAlgorithm, r.MessageType, r.Message, r.DryRun)));
    }

    /// <summary>Sign and Verify read the same members and have the same facts; only the handler differs.</summary>
    private static OperationRow<TRequest, TResponse> Row<TRequest, TResponse>(
        Func<OperationContext<TRequest>, ValueTask<TResponse>> handler,
        Func<TRequest, (string? KeyId, string? SigningAlgorithm, string? MessageType, byte[]? Message, bool? DryRun)> members)
        where TRequest : class
        where TResponse : class => new()
    {
        Handler = handler,
        Keys = [new() { Member = KeyId, Identifier = r => members(r).KeyId, StateRule = KeyStateRule.Cryptographic }],
        RequiredUsage = KeyUsageType.SIGN_VERIFY,
        CrossAccount = true,
        ConditionKeys = (r, _, keys) =>
        {
            var m = members(r);
            keys.AddIfPresent("kms:SigningAlgorithm", m.SigningAlgorithm).Add("kms:MessageType", m.MessageType ?? "RAW");
        },
        DryRun = r => members(r).DryRun,
        Check = c =>
        {
            var m = members(c.Request);
            Plan(c.Key(KeyId), m.SigningAlgorithm, m.MessageType, m.Message);
        },
        Audit = new()
        {
            ReadOnly = true,
            Request = r =>
            {
                var m = members(r);
                return AuditJson.Fields(("keyId", m.KeyId), ("messageType", m.MessageType ?? "RAW"), ("signingAlgorithm", m.SigningAlgorithm));
            },
        },
    };

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
