using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Pipeline;

namespace KmsEmulator.Api.Operations;

/// <summary>DeriveSharedSecret: raw ECDH with a KEY_AGREEMENT key on a NIST curve; the private key stays in the HSM.</summary>
public sealed class KeyAgreementOperations(KeyCryptoService crypto) : IOperationGroup
{
    private const string KeyId = nameof(DeriveSharedSecretRequest.KeyId);

    public void Register(OperationTable.Builder table) =>
        table.Add(KmsOperation.DeriveSharedSecret, new OperationRow<DeriveSharedSecretRequest, DeriveSharedSecretResponse>
        {
            Handler = DeriveSharedSecret,
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, StateRule = KeyStateRule.Cryptographic }],
            RequiredUsage = KeyUsageType.KEY_AGREEMENT,
            CrossAccount = true,
            ConditionKeys = (r, _, keys) => keys.AddIfPresent("kms:KeyAgreementAlgorithm", r.KeyAgreementAlgorithm),
            DryRun = r => r.DryRun,
            Check = c =>
            {
                AlgorithmRules.KeyAgreement(c.Key(KeyId), c.Request.KeyAgreementAlgorithm!);
                CryptoOperations.RecipientNotSupported(c.Request.Recipient);
            },
            Audit = new()
            {
                // The peer's public key is a blob: not logged.
                ReadOnly = true,
                Request = r => AuditJson.Fields(("keyId", r.KeyId), ("keyAgreementAlgorithm", r.KeyAgreementAlgorithm)),
            },
        });

    private async ValueTask<DeriveSharedSecretResponse> DeriveSharedSecret(OperationContext<DeriveSharedSecretRequest> context)
    {
        var key = context.Key(KeyId);
        var algorithm = AlgorithmRules.KeyAgreement(key, context.Request.KeyAgreementAlgorithm!);
        var secret = await crypto.DeriveSharedSecretAsync(key, context.Request.PublicKey!, context.CancellationToken);
        return new DeriveSharedSecretResponse
        {
            KeyId = key.Arn,
            SharedSecret = secret,
            KeyAgreementAlgorithm = algorithm.ToWire(),
            KeyOrigin = key.Origin.ToWire(),
        };
    }
}
