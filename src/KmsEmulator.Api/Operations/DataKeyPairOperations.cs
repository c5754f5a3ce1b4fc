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
        table.Add(KmsOperation.GenerateDataKeyPair, Row<GenerateDataKeyPairRequest, GenerateDataKeyPairResponse>(
            GenerateDataKeyPair, r => (r.KeyId, r.KeyPairSpec, r.EncryptionContext, r.DryRun, r.Recipient)));
        table.Add(KmsOperation.GenerateDataKeyPairWithoutPlaintext, Row<GenerateDataKeyPairWithoutPlaintextRequest, GenerateDataKeyPairWithoutPlaintextResponse>(
            GenerateDataKeyPairWithoutPlaintext, r => (r.KeyId, r.KeyPairSpec, r.EncryptionContext, r.DryRun, null)));
    }

    /// <summary>
    /// GenerateDataKeyPair and its WithoutPlaintext form read the same members and have the same facts; only the
    /// handler differs, and only GenerateDataKeyPair takes a Recipient.
    /// </summary>
    private static OperationRow<TRequest, TResponse> Row<TRequest, TResponse>(
        Func<OperationContext<TRequest>, ValueTask<TResponse>> handler,
        Func<TRequest, (string? KeyId, string? KeyPairSpec, Dictionary<string, string>? EncryptionContext, bool? DryRun, RecipientInfo? Recipient)> members)
        where TRequest : class
        where TResponse : class => new()
    {
        Handler = handler,
        Keys = [new() { Member = KeyId, Identifier = r => members(r).KeyId, StateRule = KeyStateRule.Cryptographic }],
        RequiredUsage = KeyUsageType.ENCRYPT_DECRYPT,
        CrossAccount = true,
        EncryptionContext = (r, _) => members(r).EncryptionContext,
        ConditionKeys = (r, _, keys) => keys.AddIfPresent("kms:DataKeyPairSpec", members(r).KeyPairSpec),
        DryRun = r => members(r).DryRun,
        Check = c =>
        {
            var m = members(c.Request);
            AlgorithmRules.RequireSymmetricEncryption(c.Key(KeyId), m.EncryptionContext);
            AlgorithmRules.DataKeyPair(m.KeyPairSpec!);
            CryptoOperations.RecipientNotSupported(m.Recipient);
        },
        Audit = new()
        {
            ReadOnly = true,
            Request = r =>
            {
                var m = members(r);
                return AuditJson.Fields(("keyId", m.KeyId), ("keyPairSpec", m.KeyPairSpec), ("encryptionContext", m.EncryptionContext));
            },
        },
    };

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
