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
        table.Add(KmsOperation.GenerateMac, new OperationRow<GenerateMacRequest, GenerateMacResponse>
        {
            Handler = GenerateMac,
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, StateRule = KeyStateRule.Cryptographic }],
            RequiredUsage = KeyUsageType.GENERATE_VERIFY_MAC,
            CrossAccount = true,
            ConditionKeys = (r, _, keys) => keys.AddIfPresent("kms:MacAlgorithm", r.MacAlgorithm),
            DryRun = r => r.DryRun,
            Check = c => AlgorithmRules.Mac(c.Key(KeyId), c.Request.MacAlgorithm!),
            Audit = new() { ReadOnly = true, Request = r => Audit.Fields(("keyId", r.KeyId), ("macAlgorithm", r.MacAlgorithm)) },
        });
        table.Add(KmsOperation.VerifyMac, new OperationRow<VerifyMacRequest, VerifyMacResponse>
        {
            Handler = VerifyMac,
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, StateRule = KeyStateRule.Cryptographic }],
            RequiredUsage = KeyUsageType.GENERATE_VERIFY_MAC,
            CrossAccount = true,
            ConditionKeys = (r, _, keys) => keys.AddIfPresent("kms:MacAlgorithm", r.MacAlgorithm),
            DryRun = r => r.DryRun,
            Check = c => AlgorithmRules.Mac(c.Key(KeyId), c.Request.MacAlgorithm!),
            Audit = new() { ReadOnly = true, Request = r => Audit.Fields(("keyId", r.KeyId), ("macAlgorithm", r.MacAlgorithm)) },
        });
    }

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
