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
        table.Add(KmsOperation.GenerateDataKey, Row<GenerateDataKeyRequest, GenerateDataKeyResponse>(
            GenerateDataKey, r => (r.KeyId, r.KeySpec, r.NumberOfBytes, r.EncryptionContext, r.DryRun, r.Recipient)));
        table.Add(KmsOperation.GenerateDataKeyWithoutPlaintext, Row<GenerateDataKeyWithoutPlaintextRequest, GenerateDataKeyWithoutPlaintextResponse>(
            GenerateDataKeyWithoutPlaintext, r => (r.KeyId, r.KeySpec, r.NumberOfBytes, r.EncryptionContext, r.DryRun, null)));
        table.Add(KmsOperation.GenerateRandom, new OperationRow<GenerateRandomRequest, GenerateRandomResponse>
        {
            Handler = GenerateRandom,
            Keys = [],
            CrossAccount = false,
            Audit = new() { ReadOnly = true, Request = _ => null },
        });
    }

    /// <summary>
    /// GenerateDataKey and GenerateDataKeyWithoutPlaintext read the same members and have the same facts; only the
    /// handler differs, and only GenerateDataKey takes a Recipient.
    /// </summary>
    private static OperationRow<TRequest, TResponse> Row<TRequest, TResponse>(
        Func<OperationContext<TRequest>, ValueTask<TResponse>> handler,
        Func<TRequest, (string? KeyId, string? KeySpec, int? NumberOfBytes, Dictionary<string, string>? EncryptionContext, bool? DryRun, RecipientInfo? Recipient)> members)
        where TRequest : class
        where TResponse : class => new()
    {
        Handler = handler,
        Keys = [new() { Member = KeyId, Identifier = r => members(r).KeyId, StateRule = KeyStateRule.Cryptographic }],
        RequiredUsage = KeyUsageType.ENCRYPT_DECRYPT,
        CrossAccount = true,
        EncryptionContext = (r, _) => members(r).EncryptionContext,
        ConditionKeys = (_, _, keys) => keys.Add("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT"),
        DryRun = r => members(r).DryRun,
        Check = c =>
        {
            var m = members(c.Request);
            AlgorithmRules.RequireSymmetricEncryption(c.Key(KeyId), m.EncryptionContext);
            DataKeyLength(m.KeySpec, m.NumberOfBytes);
            CryptoOperations.RecipientNotSupported(m.Recipient);
        },
        Audit = new()
        {
            ReadOnly = true,
            Request = r =>
            {
                var m = members(r);
                return AuditJson.Fields(("keyId", m.KeyId), ("keySpec", m.KeySpec), ("numberOfBytes", m.NumberOfBytes), ("encryptionContext", m.EncryptionContext));
            },
        },
    };

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
