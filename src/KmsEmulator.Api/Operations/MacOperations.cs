using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Pipeline;

namespace KmsEmulator.Api.Operations;

/// <summary>GenerateMac and VerifyMac with GENERATE_VERIFY_MAC (HMAC) keys; the secret stays in the HSM.</summary>
public sealed class MacOperations(KeyCryptoService crypto) : IOperationGroup
{
    private const string KeyId = nameof(GenerateMacRequest.KeyId);

    public void Register(OperationTable.Builder table)
    {
        table.Add(KmsOperation.GenerateMac, Row<GenerateMacRequest, GenerateMacResponse>(GenerateMac, r => (r.KeyId, r.MacAlgorithm, r.DryRun)));
        table.Add(KmsOperation.VerifyMac, Row<VerifyMacRequest, VerifyMacResponse>(VerifyMac, r => (r.KeyId, r.MacAlgorithm, r.DryRun)));
    }

    /// <summary>GenerateMac and VerifyMac read the same members and have the same facts; only the handler differs.</summary>
    private static OperationRow<TRequest, TResponse> Row<TRequest, TResponse>(
        Func<OperationContext<TRequest>, ValueTask<TResponse>> handler,
        Func<TRequest, (string? KeyId, string? MacAlgorithm, bool? DryRun)> members)
        where TRequest : class
        where TResponse : class => new()
    {
        Handler = handler,
        Keys = [new() { Member = KeyId, Identifier = r => members(r).KeyId, StateRule = KeyStateRule.Cryptographic }],
        RequiredUsage = KeyUsageType.GENERATE_VERIFY_MAC,
        CrossAccount = true,
        ConditionKeys = (r, _, keys) => keys.AddIfPresent("kms:MacAlgorithm", members(r).MacAlgorithm),
        DryRun = r => members(r).DryRun,
        Check = c => AlgorithmRules.Mac(c.Key(KeyId), members(c.Request).MacAlgorithm!),
        Audit = new()
        {
            ReadOnly = true,
            Request = r => AuditJson.Fields(("keyId", members(r).KeyId), ("macAlgorithm", members(r).MacAlgorithm)),
        },
    };

    private async ValueTask<GenerateMacResponse> GenerateMac(OperationContext<GenerateMacRequest> context)
    {
        var key = context.Key(KeyId);
        var plan = AlgorithmRules.Mac(key, context.Request.MacAlgorithm!);
        var mac = await crypto.GenerateMacAsync(key, plan, context.Request.Message!, context.CancellationToken);
        return new GenerateMacResponse { KeyId = key.Arn, Mac = mac, MacAlgorithm = plan.Algorithm.ToWire() };
    }

    private async ValueTask<VerifyMacResponse> VerifyMac(OperationContext<VerifyMacRequest> context)
    {
        var key = context.Key(KeyId);
        var plan = AlgorithmRules.Mac(key, context.Request.MacAlgorithm!);
        await crypto.VerifyMacAsync(key, plan, context.Request.Message!, context.Request.Mac!, context.CancellationToken);
        return new VerifyMacResponse { KeyId = key.Arn, MacValid = true, MacAlgorithm = plan.Algorithm.ToWire() };
    }
}
