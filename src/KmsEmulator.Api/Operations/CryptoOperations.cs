using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Pipeline;

namespace KmsEmulator.Api.Operations;

/// <summary>
/// Encrypt, Decrypt, ReEncrypt with symmetric keys (the emulator's ciphertext format) and RSA keys (RSAES-OAEP,
/// raw ciphertexts that Decrypt takes with the KeyId).
/// </summary>
public sealed class CryptoOperations(KeyCryptoService crypto) : IOperationGroup
{
    private const string KeyId = nameof(EncryptRequest.KeyId);
    private const string SourceKeyId = nameof(ReEncryptRequest.SourceKeyId);
    private const string DestinationKeyId = nameof(ReEncryptRequest.DestinationKeyId);
    private const string ReEncryptFrom = "kms:ReEncryptFrom";

    public void Register(OperationTable.Builder table)
    {
        table.Add(KmsOperation.Encrypt, new OperationRow<EncryptRequest, EncryptResponse>
        {
            Handler = Encrypt,
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, StateRule = KeyStateRule.Cryptographic }],
            RequiredUsage = KeyUsageType.ENCRYPT_DECRYPT,
            CrossAccount = true,
            EncryptionContext = (r, _) => r.EncryptionContext,
            ConditionKeys = (r, _, keys) => keys.Add("kms:EncryptionAlgorithm", r.EncryptionAlgorithm ?? "SYMMETRIC_DEFAULT"),
            DryRun = r => r.DryRun,
            Check = c => EncryptPlan(c),
            Audit = new()
            {
                ReadOnly = true,
                Request = r => AuditJson.Fields(("keyId", r.KeyId), ("encryptionContext", r.EncryptionContext), ("encryptionAlgorithm", r.EncryptionAlgorithm)),
            },
        });
        table.Add(KmsOperation.Decrypt, new OperationRow<DecryptRequest, DecryptResponse>
        {
            Handler = Decrypt,
            Keys =
            [
                new()
                {
                    Member = KeyId, Identifier = r => r.KeyId, Ciphertext = r => r.CiphertextBlob, StateRule = KeyStateRule.Cryptographic, Optional = true,
                    IgnoreCiphertext = r => IgnoresCiphertext(r.DryRun, r.DryRunModifiers),
                },
            ],
            RequiredUsage = KeyUsageType.ENCRYPT_DECRYPT,
            CrossAccount = true,
            EncryptionContext = (r, _) => r.EncryptionContext,
            ConditionKeys = (r, _, keys) => keys.Add("kms:EncryptionAlgorithm", r.EncryptionAlgorithm ?? "SYMMETRIC_DEFAULT"),
            DryRun = r => r.DryRun,
            Check = c =>
            {
                DecryptPlan(c);
                RecipientNotSupported(c.Request.Recipient);
            },
            DryRunValidation = c => IgnoresCiphertext(c.Request.DryRun, c.Request.DryRunModifiers)
                ? ValueTask.CompletedTask
                : DecryptAndDiscardAsync(c.Key(KeyId), DecryptPlan(c), c.Ciphertext(KeyId), c.Request.EncryptionContext, c.CancellationToken),
            Audit = new()
            {
                // AWS logs the algorithm even when the caller did not send it.
                ReadOnly = true,
                Request = r => AuditJson.Fields(
                    ("keyId", r.KeyId), ("encryptionContext", r.EncryptionContext), ("encryptionAlgorithm", r.EncryptionAlgorithm ?? "SYMMETRIC_DEFAULT")),
            },
        });
        table.Add(KmsOperation.ReEncrypt, new OperationRow<ReEncryptRequest, ReEncryptResponse>
        {
            Handler = ReEncrypt,
            Keys =
            [
                new()
                {
                    Member = SourceKeyId, Identifier = r => r.SourceKeyId, Ciphertext = r => r.CiphertextBlob, StateRule = KeyStateRule.Cryptographic,
                    Optional = true, Action = ReEncryptFrom, GrantOperation = "ReEncryptFrom",
                    IgnoreCiphertext = r => IgnoresCiphertext(r.DryRun, r.DryRunModifiers),
                },
                new()
                {
                    Member = DestinationKeyId, Identifier = r => r.DestinationKeyId, StateRule = KeyStateRule.Cryptographic,
                    Action = "kms:ReEncryptTo", GrantOperation = "ReEncryptTo",
                },
            ],
            RequiredUsage = KeyUsageType.ENCRYPT_DECRYPT,
            CrossAccount = true,
            EncryptionContext = (r, action) => action == ReEncryptFrom ? r.SourceEncryptionContext : r.DestinationEncryptionContext,
            ConditionKeys = (r, action, keys) => keys.Add(
                "kms:EncryptionAlgorithm",
                (action == ReEncryptFrom ? r.SourceEncryptionAlgorithm : r.DestinationEncryptionAlgorithm) ?? "SYMMETRIC_DEFAULT"),
            DryRun = r => r.DryRun,
            Check = c =>
            {
                SourcePlan(c);
                DestinationPlan(c, plaintextLength: null);
            },
            DryRunValidation = c => IgnoresCiphertext(c.Request.DryRun, c.Request.DryRunModifiers)
                ? ValueTask.CompletedTask
                : DecryptAndDiscardAsync(c.Key(SourceKeyId), SourcePlan(c), c.Ciphertext(SourceKeyId), c.Request.SourceEncryptionContext, c.CancellationToken),
            Audit = new()
            {
                ReadOnly = true,
                Request = r => AuditJson.Fields(
                    ("sourceKeyId", r.SourceKeyId), ("sourceEncryptionAlgorithm", r.SourceEncryptionAlgorithm ?? "SYMMETRIC_DEFAULT"),
                    ("sourceEncryptionContext", r.SourceEncryptionContext), ("destinationKeyId", r.DestinationKeyId),
                    ("destinationEncryptionAlgorithm", r.DestinationEncryptionAlgorithm ?? "SYMMETRIC_DEFAULT"),
                    ("destinationEncryptionContext", r.DestinationEncryptionContext)),
            },
        });
    }

    private async ValueTask<EncryptResponse> Encrypt(OperationContext<EncryptRequest> context)
    {
        var key = context.Key(KeyId);
        var plan = EncryptPlan(context);
        var blob = await crypto.EncryptAsync(key, plan, context.Request.Plaintext!, context.Request.EncryptionContext, context.CancellationToken);
        return new EncryptResponse { CiphertextBlob = blob, KeyId = key.Arn, EncryptionAlgorithm = plan.Algorithm.ToWire() };
    }

    private async ValueTask<DecryptResponse> Decrypt(OperationContext<DecryptRequest> context)
    {
        var key = context.Key(KeyId);
        var plan = DecryptPlan(context);
        var (plaintext, material) = await crypto.DecryptAsync(key, plan, context.Ciphertext(KeyId), context.Request.EncryptionContext, context.CancellationToken);
        return new DecryptResponse { KeyId = key.Arn, Plaintext = plaintext, EncryptionAlgorithm = plan.Algorithm.ToWire(), KeyMaterialId = material?.MaterialId };
    }

    private async ValueTask<ReEncryptResponse> ReEncrypt(OperationContext<ReEncryptRequest> context)
    {
        var request = context.Request;
        var source = context.Key(SourceKeyId);
        var destination = context.Key(DestinationKeyId);
        var sourcePlan = SourcePlan(context);

        var (plaintext, sourceMaterial) = await crypto.DecryptAsync(source, sourcePlan, context.Ciphertext(SourceKeyId), request.SourceEncryptionContext, context.CancellationToken);
        try
        {
            var destinationPlan = DestinationPlan(context, plaintext.Length);
            var blob = await crypto.EncryptAsync(destination, destinationPlan, plaintext, request.DestinationEncryptionContext, context.CancellationToken);
            return new ReEncryptResponse
            {
                CiphertextBlob = blob,
                SourceKeyId = source.Arn,
                KeyId = destination.Arn,
                SourceEncryptionAlgorithm = sourcePlan.Algorithm.ToWire(),
                DestinationEncryptionAlgorithm = destinationPlan.Algorithm.ToWire(),
                SourceKeyMaterialId = sourceMaterial?.MaterialId,
                DestinationKeyMaterialId = destinationPlan.IsSymmetric ? destination.CurrentMaterial?.MaterialId : null,
            };
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    private static EncryptionPlan EncryptPlan(OperationContext<EncryptRequest> c) =>
        AlgorithmRules.Encryption(c.Key(KeyId), c.Request.EncryptionAlgorithm, c.Request.EncryptionContext, c.Request.Plaintext?.Length);

    private static EncryptionPlan DecryptPlan(OperationContext<DecryptRequest> c) =>
        AlgorithmRules.Encryption(c.Key(KeyId), c.Request.EncryptionAlgorithm, c.Request.EncryptionContext);

    private static EncryptionPlan SourcePlan(OperationContext<ReEncryptRequest> c) =>
        AlgorithmRules.Encryption(c.Key(SourceKeyId), c.Request.SourceEncryptionAlgorithm, c.Request.SourceEncryptionContext);

    private static EncryptionPlan DestinationPlan(OperationContext<ReEncryptRequest> c, int? plaintextLength) =>
        AlgorithmRules.Encryption(c.Key(DestinationKeyId), c.Request.DestinationEncryptionAlgorithm, c.Request.DestinationEncryptionContext, plaintextLength);

    /// <summary>A dry run's proof that the ciphertext decrypts under the key and context: the plaintext is wiped at once.</summary>
    private async ValueTask DecryptAndDiscardAsync(
        KeyRecord key, EncryptionPlan plan, KeyCiphertext ciphertext, IReadOnlyDictionary<string, string>? context, CancellationToken cancellationToken)
    {
        var (plaintext, _) = await crypto.DecryptAsync(key, plan, ciphertext, context, cancellationToken);
        System.Security.Cryptography.CryptographicOperations.ZeroMemory(plaintext);
    }

    /// <summary>DryRun with IGNORE_CIPHERTEXT checks authorization and the key without reading the ciphertext.</summary>
    private static bool IgnoresCiphertext(bool? dryRun, List<string>? modifiers) =>
        dryRun == true && modifiers?.Contains("IGNORE_CIPHERTEXT") == true;

    /// <summary>Nitro Enclave attestation (Recipient) is not emulated.</summary>
    public static void RecipientNotSupported(RecipientInfo? recipient)
    {
        if (recipient is not null)
        {
            throw KmsErrors.RecipientNotSupported();
        }
    }
}
