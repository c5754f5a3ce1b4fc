using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Pipeline;

namespace KmsEmulator.Api.Operations;

/// <summary>Encrypt, Decrypt, ReEncrypt with symmetric keys.</summary>
public sealed class CryptoOperations(KeyService keys) : IOperationGroup
{
    private const string KeyId = nameof(EncryptRequest.KeyId);
    private const string SourceKeyId = nameof(ReEncryptRequest.SourceKeyId);
    private const string DestinationKeyId = nameof(ReEncryptRequest.DestinationKeyId);

    public void Register(OperationTable.Builder table)
    {
        table.Add<EncryptRequest, EncryptResponse>(
            KmsOperation.Encrypt,
            Encrypt,
            [new() { Member = KeyId, Identifier = r => r.KeyId, StateRule = KeyStateRule.Cryptographic }],
            KeyUsageType.ENCRYPT_DECRYPT,
            r => r.DryRun);
        table.Add<DecryptRequest, DecryptResponse>(
            KmsOperation.Decrypt,
            Decrypt,
            [new() { Member = KeyId, Identifier = r => r.KeyId, Ciphertext = r => r.CiphertextBlob, StateRule = KeyStateRule.Cryptographic, Optional = true }],
            KeyUsageType.ENCRYPT_DECRYPT,
            r => r.DryRun);
        table.Add<ReEncryptRequest, ReEncryptResponse>(
            KmsOperation.ReEncrypt,
            ReEncrypt,
            [
                new() { Member = SourceKeyId, Identifier = r => r.SourceKeyId, Ciphertext = r => r.CiphertextBlob, StateRule = KeyStateRule.Cryptographic, Optional = true },
                new() { Member = DestinationKeyId, Identifier = r => r.DestinationKeyId, StateRule = KeyStateRule.Cryptographic },
            ],
            KeyUsageType.ENCRYPT_DECRYPT,
            r => r.DryRun);
    }

    private async ValueTask<EncryptResponse> Encrypt(OperationContext<EncryptRequest> context)
    {
        var key = context.Key(KeyId);
        var algorithm = Algorithms.Encryption(key, context.Request.EncryptionAlgorithm);
        var blob = await keys.EncryptAsync(key, context.Request.Plaintext!, context.Request.EncryptionContext, context.CancellationToken);
        return new EncryptResponse { CiphertextBlob = blob, KeyId = key.Arn, EncryptionAlgorithm = algorithm.ToWire() };
    }

    private async ValueTask<DecryptResponse> Decrypt(OperationContext<DecryptRequest> context)
    {
        RecipientNotSupported(context.Request.Recipient);
        var key = context.Key(KeyId);
        var algorithm = Algorithms.Encryption(key, context.Request.EncryptionAlgorithm);
        var (plaintext, material) = await keys.DecryptAsync(key, context.Ciphertext(KeyId), context.Request.EncryptionContext, context.CancellationToken);
        return new DecryptResponse { KeyId = key.Arn, Plaintext = plaintext, EncryptionAlgorithm = algorithm.ToWire(), KeyMaterialId = material.MaterialId };
    }

    private async ValueTask<ReEncryptResponse> ReEncrypt(OperationContext<ReEncryptRequest> context)
    {
        var request = context.Request;
        var source = context.Key(SourceKeyId);
        var destination = context.Key(DestinationKeyId);
        var sourceAlgorithm = Algorithms.Encryption(source, request.SourceEncryptionAlgorithm);
        var destinationAlgorithm = Algorithms.Encryption(destination, request.DestinationEncryptionAlgorithm);

        var (plaintext, sourceMaterial) = await keys.DecryptAsync(source, context.Ciphertext(SourceKeyId), request.SourceEncryptionContext, context.CancellationToken);
        try
        {
            var blob = await keys.EncryptAsync(destination, plaintext, request.DestinationEncryptionContext, context.CancellationToken);
            return new ReEncryptResponse
            {
                CiphertextBlob = blob,
                SourceKeyId = source.Arn,
                KeyId = destination.Arn,
                SourceEncryptionAlgorithm = sourceAlgorithm.ToWire(),
                DestinationEncryptionAlgorithm = destinationAlgorithm.ToWire(),
                SourceKeyMaterialId = sourceMaterial.MaterialId,
                DestinationKeyMaterialId = destination.CurrentMaterial?.MaterialId,
            };
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    /// <summary>Nitro Enclave attestation (Recipient) is not emulated.</summary>
    public static void RecipientNotSupported(RecipientInfo? recipient)
    {
        if (recipient is not null)
        {
            throw KmsErrors.Unsupported("KmsEmulator does not support Recipient (AWS Nitro Enclaves attestation).");
        }
    }
}
