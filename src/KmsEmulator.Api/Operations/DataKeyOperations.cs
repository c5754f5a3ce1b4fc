using System.Security.Cryptography;
using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Pipeline;

namespace KmsEmulator.Api.Operations;

/// <summary>
/// GenerateDataKey, GenerateDataKeyWithoutPlaintext (under symmetric keys only), GenerateRandom. Data-key bytes come
/// from the HSM.
/// </summary>
public sealed class DataKeyOperations(KeyCryptoService crypto) : IOperationGroup
{
    private const string KeyId = nameof(GenerateDataKeyRequest.KeyId);

    public void Register(OperationTable.Builder table)
    {
        table.Add(KmsOperation.GenerateDataKey, new OperationRow<GenerateDataKeyRequest, GenerateDataKeyResponse>
        {
            Handler = GenerateDataKey,
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, StateRule = KeyStateRule.Cryptographic }],
            RequiredUsage = KeyUsageType.ENCRYPT_DECRYPT,
            CrossAccount = true,
            EncryptionContext = (r, _) => r.EncryptionContext,
            ConditionKeys = (_, _, keys) => keys.Add("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT"),
            DryRun = r => r.DryRun,
            Check = c =>
            {
                AlgorithmRules.RequireSymmetricEncryption(c.Key(KeyId), c.Request.EncryptionContext);
                DataKeyLength(c.Request.KeySpec, c.Request.NumberOfBytes);
                CryptoOperations.RecipientNotSupported(c.Request.Recipient);
            },
            Audit = new()
            {
                ReadOnly = true,
                Request = r => Audit.Fields(
                    ("keyId", r.KeyId), ("keySpec", r.KeySpec), ("numberOfBytes", r.NumberOfBytes), ("encryptionContext", r.EncryptionContext)),
            },
        });
        table.Add(KmsOperation.GenerateDataKeyWithoutPlaintext, new OperationRow<GenerateDataKeyWithoutPlaintextRequest, GenerateDataKeyWithoutPlaintextResponse>
        {
            Handler = GenerateDataKeyWithoutPlaintext,
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, StateRule = KeyStateRule.Cryptographic }],
            RequiredUsage = KeyUsageType.ENCRYPT_DECRYPT,
            CrossAccount = true,
            EncryptionContext = (r, _) => r.EncryptionContext,
            ConditionKeys = (_, _, keys) => keys.Add("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT"),
            DryRun = r => r.DryRun,
            Check = c =>
            {
                AlgorithmRules.RequireSymmetricEncryption(c.Key(KeyId), c.Request.EncryptionContext);
                DataKeyLength(c.Request.KeySpec, c.Request.NumberOfBytes);
            },
            Audit = new()
            {
                ReadOnly = true,
                Request = r => Audit.Fields(
                    ("keyId", r.KeyId), ("keySpec", r.KeySpec), ("numberOfBytes", r.NumberOfBytes), ("encryptionContext", r.EncryptionContext)),
            },
        });
        table.Add(KmsOperation.GenerateRandom, new OperationRow<GenerateRandomRequest, GenerateRandomResponse>
        {
            Handler = GenerateRandom,
            Keys = [],
            CrossAccount = false,
            Audit = new() { ReadOnly = true, Request = _ => null },
        });
    }

    private async ValueTask<GenerateDataKeyResponse> GenerateDataKey(OperationContext<GenerateDataKeyRequest> context)
    {
        var request = context.Request;
        var key = context.Key(KeyId);
        var plaintext = await crypto.GenerateRandomAsync(DataKeyLength(request.KeySpec, request.NumberOfBytes), context.CancellationToken);
        var blob = await crypto.EncryptAsync(key, plaintext, request.EncryptionContext, context.CancellationToken);
        return new GenerateDataKeyResponse { CiphertextBlob = blob, Plaintext = plaintext, KeyId = key.Arn, KeyMaterialId = key.CurrentMaterial?.MaterialId };
    }

    private async ValueTask<GenerateDataKeyWithoutPlaintextResponse> GenerateDataKeyWithoutPlaintext(OperationContext<GenerateDataKeyWithoutPlaintextRequest> context)
    {
        var request = context.Request;
        var key = context.Key(KeyId);
        var plaintext = await crypto.GenerateRandomAsync(DataKeyLength(request.KeySpec, request.NumberOfBytes), context.CancellationToken);
        try
        {
            var blob = await crypto.EncryptAsync(key, plaintext, request.EncryptionContext, context.CancellationToken);
            return new GenerateDataKeyWithoutPlaintextResponse { CiphertextBlob = blob, KeyId = key.Arn, KeyMaterialId = key.CurrentMaterial?.MaterialId };
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    private async ValueTask<GenerateRandomResponse> GenerateRandom(OperationContext<GenerateRandomRequest> context)
    {
        var request = context.Request;
        if (request.CustomKeyStoreId is not null)
        {
            throw KmsErrors.CustomKeyStoreNotFound();
        }

        CryptoOperations.RecipientNotSupported(request.Recipient);
        var count = request.NumberOfBytes ?? throw KmsErrors.NumberOfBytesRequired();
        return new GenerateRandomResponse { Plaintext = await crypto.GenerateRandomAsync(count, context.CancellationToken) };
    }

    /// <summary>Exactly one of KeySpec (AES_256 = 32 bytes, AES_128 = 16 bytes) and NumberOfBytes; AWS answers both mistakes with one text.</summary>
    private static int DataKeyLength(string? keySpec, int? numberOfBytes) => (keySpec, numberOfBytes) switch
    {
        (null, null) or (not null, not null) => throw KmsErrors.DataKeyLengthAmbiguous(),
        (_, { } bytes) => bytes,
        ("AES_128", _) => 16,
        _ => 32,
    };
}
