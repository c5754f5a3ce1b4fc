using System.Security.Cryptography;
using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Pipeline;

namespace KmsEmulator.Api.Operations;

/// <summary>
/// GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext: a key pair made by the HSM, its private key (PKCS#8)
/// encrypted under a symmetric KMS key in the symmetric ciphertext format.
/// </summary>
public sealed class DataKeyPairOperations(KeyCryptoService crypto) : IOperationGroup
{
    private const string KeyId = nameof(GenerateDataKeyPairRequest.KeyId);

    public void Register(OperationTable.Builder table)
    {
        table.Add(KmsOperation.GenerateDataKeyPair, new OperationRow<GenerateDataKeyPairRequest, GenerateDataKeyPairResponse>
        {
            Handler = GenerateDataKeyPair,
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, StateRule = KeyStateRule.Cryptographic }],
            RequiredUsage = KeyUsageType.ENCRYPT_DECRYPT,
            CrossAccount = true,
            EncryptionContext = (r, _) => r.EncryptionContext,
            ConditionKeys = (r, _, keys) => keys.AddIfPresent("kms:DataKeyPairSpec", r.KeyPairSpec),
            DryRun = r => r.DryRun,
            Check = c =>
            {
                AlgorithmRules.RequireSymmetricEncryption(c.Key(KeyId), c.Request.EncryptionContext);
                AlgorithmRules.DataKeyPair(c.Request.KeyPairSpec!);
                CryptoOperations.RecipientNotSupported(c.Request.Recipient);
            },
            Audit = new()
            {
                ReadOnly = true,
                Request = r => Audit.Fields(("keyId", r.KeyId), ("keyPairSpec", r.KeyPairSpec), ("encryptionContext", r.EncryptionContext)),
            },
        });
        table.Add(KmsOperation.GenerateDataKeyPairWithoutPlaintext, new OperationRow<GenerateDataKeyPairWithoutPlaintextRequest, GenerateDataKeyPairWithoutPlaintextResponse>
        {
            Handler = GenerateDataKeyPairWithoutPlaintext,
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, StateRule = KeyStateRule.Cryptographic }],
            RequiredUsage = KeyUsageType.ENCRYPT_DECRYPT,
            CrossAccount = true,
            EncryptionContext = (r, _) => r.EncryptionContext,
            ConditionKeys = (r, _, keys) => keys.AddIfPresent("kms:DataKeyPairSpec", r.KeyPairSpec),
            DryRun = r => r.DryRun,
            Check = c =>
            {
                AlgorithmRules.RequireSymmetricEncryption(c.Key(KeyId), c.Request.EncryptionContext);
                AlgorithmRules.DataKeyPair(c.Request.KeyPairSpec!);
            },
            Audit = new()
            {
                ReadOnly = true,
                Request = r => Audit.Fields(("keyId", r.KeyId), ("keyPairSpec", r.KeyPairSpec), ("encryptionContext", r.EncryptionContext)),
            },
        });
    }

    private async ValueTask<GenerateDataKeyPairResponse> GenerateDataKeyPair(OperationContext<GenerateDataKeyPairRequest> context)
    {
        var request = context.Request;
        var key = context.Key(KeyId);
        var pair = await crypto.GenerateDataKeyPairAsync(key, AlgorithmRules.DataKeyPair(request.KeyPairSpec!), request.EncryptionContext, context.CancellationToken);

        // The pipeline zeroes PrivateKeyPlaintext once the response is written.
        return new GenerateDataKeyPairResponse
        {
            PrivateKeyCiphertextBlob = pair.PrivateKeyCiphertext,
            PrivateKeyPlaintext = pair.PrivateKeyPkcs8,
            PublicKey = pair.PublicKey,
            KeyId = key.Arn,
            KeyPairSpec = request.KeyPairSpec,
            KeyMaterialId = pair.Material.MaterialId,
        };
    }

    private async ValueTask<GenerateDataKeyPairWithoutPlaintextResponse> GenerateDataKeyPairWithoutPlaintext(
        OperationContext<GenerateDataKeyPairWithoutPlaintextRequest> context)
    {
        var request = context.Request;
        var key = context.Key(KeyId);
        var pair = await crypto.GenerateDataKeyPairAsync(key, AlgorithmRules.DataKeyPair(request.KeyPairSpec!), request.EncryptionContext, context.CancellationToken);
        CryptographicOperations.ZeroMemory(pair.PrivateKeyPkcs8);
        return new GenerateDataKeyPairWithoutPlaintextResponse
        {
            PrivateKeyCiphertextBlob = pair.PrivateKeyCiphertext,
            PublicKey = pair.PublicKey,
            KeyId = key.Arn,
            KeyPairSpec = request.KeyPairSpec,
            KeyMaterialId = pair.Material.MaterialId,
        };
    }
}
