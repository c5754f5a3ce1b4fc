using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Pipeline;

namespace KmsEmulator.Api.Operations;

/// <summary>GetPublicKey: the DER SubjectPublicKeyInfo of an asymmetric key, with the algorithms its usage offers.</summary>
public sealed class PublicKeyOperations(KeyCryptoService crypto) : IOperationGroup
{
    private const string KeyId = nameof(GetPublicKeyRequest.KeyId);

    public void Register(OperationTable.Builder table) =>
        table.Add(KmsOperation.GetPublicKey, new OperationRow<GetPublicKeyRequest, GetPublicKeyResponse>
        {
            Handler = GetPublicKey,
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, StateRule = KeyStateRule.Cryptographic }],
            CrossAccount = true,
            Check = c => AlgorithmRules.RequireKeyPair(c.Key(KeyId)),
            Audit = new() { ReadOnly = true, Request = r => AuditJson.Fields(("keyId", r.KeyId)) },
        });

    private async ValueTask<GetPublicKeyResponse> GetPublicKey(OperationContext<GetPublicKeyRequest> context)
    {
        var key = context.Key(KeyId);
        var publicKey = await crypto.GetPublicKeyAsync(key, context.CancellationToken);
        var capability = KeySpecCapabilities.For(key.KeySpec);
        return new GetPublicKeyResponse
        {
            KeyId = key.Arn,
            PublicKey = publicKey,
            CustomerMasterKeySpec = KeyMetadataMapper.CustomerMasterKeySpecOf(key.KeySpec),
            KeySpec = key.KeySpec.ToWire(),
            KeyUsage = key.KeyUsage.ToWire(),
            EncryptionAlgorithms = KeyMetadataMapper.NonEmpty(capability.EncryptionAlgorithmsFor(key.KeyUsage).Select(a => a.ToWire())),
            SigningAlgorithms = KeyMetadataMapper.NonEmpty(capability.SigningAlgorithmsFor(key.KeyUsage).Select(a => a.ToWire())),
            KeyAgreementAlgorithms = KeyMetadataMapper.NonEmpty(capability.KeyAgreementAlgorithmsFor(key.KeyUsage).Select(a => a.ToWire())),
        };
    }
}
