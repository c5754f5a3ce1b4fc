using KmsEmulator.Api.Generated;
using KmsEmulator.Policy;

namespace KmsEmulator.Api.Pipeline;

/// <summary>
/// The condition keys a KMS request itself supplies (kms:EncryptionContext:*, kms:EncryptionAlgorithm,
/// aws:RequestTag/*, kms:GrantOperations, ...), in one table-like switch over the wire request types.
/// Keys that describe the caller or the key are added by <see cref="PolicyAuthorizer"/>.
/// </summary>
public static class RequestConditionKeys
{
    /// <summary>Adds the request's own condition keys. <paramref name="action"/> tells ReEncryptFrom from ReEncryptTo.</summary>
    public static void Add(ContextKeys.Builder keys, object request, string action)
    {
        switch (request)
        {
            case EncryptRequest r:
                keys.AddEncryptionContext(r.EncryptionContext);
                keys.Add("kms:EncryptionAlgorithm", r.EncryptionAlgorithm ?? "SYMMETRIC_DEFAULT");
                break;
            case DecryptRequest r:
                keys.AddEncryptionContext(r.EncryptionContext);
                keys.Add("kms:EncryptionAlgorithm", r.EncryptionAlgorithm ?? "SYMMETRIC_DEFAULT");
                break;
            case ReEncryptRequest r when action == "kms:ReEncryptFrom":
                keys.AddEncryptionContext(r.SourceEncryptionContext);
                keys.Add("kms:EncryptionAlgorithm", r.SourceEncryptionAlgorithm ?? "SYMMETRIC_DEFAULT");
                break;
            case ReEncryptRequest r:
                keys.AddEncryptionContext(r.DestinationEncryptionContext);
                keys.Add("kms:EncryptionAlgorithm", r.DestinationEncryptionAlgorithm ?? "SYMMETRIC_DEFAULT");
                break;
            case GenerateDataKeyRequest r:
                keys.AddEncryptionContext(r.EncryptionContext);
                keys.Add("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT");
                break;
            case GenerateDataKeyWithoutPlaintextRequest r:
                keys.AddEncryptionContext(r.EncryptionContext);
                keys.Add("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT");
                break;
            case GenerateDataKeyPairRequest r:
                keys.AddEncryptionContext(r.EncryptionContext);
                AddIfPresent(keys, "kms:DataKeyPairSpec", r.KeyPairSpec);
                break;
            case GenerateDataKeyPairWithoutPlaintextRequest r:
                keys.AddEncryptionContext(r.EncryptionContext);
                AddIfPresent(keys, "kms:DataKeyPairSpec", r.KeyPairSpec);
                break;
            case SignRequest r:
                AddIfPresent(keys, "kms:SigningAlgorithm", r.SigningAlgorithm);
                keys.Add("kms:MessageType", r.MessageType ?? "RAW");
                break;
            case VerifyRequest r:
                AddIfPresent(keys, "kms:SigningAlgorithm", r.SigningAlgorithm);
                keys.Add("kms:MessageType", r.MessageType ?? "RAW");
                break;
            case GenerateMacRequest r:
                AddIfPresent(keys, "kms:MacAlgorithm", r.MacAlgorithm);
                break;
            case VerifyMacRequest r:
                AddIfPresent(keys, "kms:MacAlgorithm", r.MacAlgorithm);
                break;
            case DeriveSharedSecretRequest r:
                AddIfPresent(keys, "kms:KeyAgreementAlgorithm", r.KeyAgreementAlgorithm);
                break;
            case CreateKeyRequest r:
                var spec = r.KeySpec ?? r.CustomerMasterKeySpec ?? "SYMMETRIC_DEFAULT";
                keys.Add("kms:KeySpec", spec);
                keys.Add("kms:KeyUsage", r.KeyUsage ?? (spec == "SYMMETRIC_DEFAULT" ? "ENCRYPT_DECRYPT" : string.Empty));
                keys.Add("kms:KeyOrigin", r.Origin ?? "AWS_KMS");
                keys.Add("kms:MultiRegion", r.MultiRegion == true ? "true" : "false");
                keys.Add("kms:BypassPolicyLockoutSafetyCheck", r.BypassPolicyLockoutSafetyCheck == true ? "true" : "false");
                AddRequestTags(keys, r.Tags);
                break;
            case TagResourceRequest r:
                AddRequestTags(keys, r.Tags);
                break;
            case UntagResourceRequest r:
                keys.AddValues("aws:TagKeys", r.TagKeys ?? []);
                break;
            case PutKeyPolicyRequest r:
                keys.Add("kms:BypassPolicyLockoutSafetyCheck", r.BypassPolicyLockoutSafetyCheck == true ? "true" : "false");
                break;
            case ScheduleKeyDeletionRequest r:
                keys.Add("kms:ScheduleKeyDeletionPendingWindowInDays", (r.PendingWindowInDays ?? 30).ToString(System.Globalization.CultureInfo.InvariantCulture));
                break;
            case CreateGrantRequest r:
                keys.AddValues("kms:GrantOperations", r.Operations ?? []);
                AddIfPresent(keys, "kms:GranteePrincipal", r.GranteePrincipal);
                AddIfPresent(keys, "kms:RetiringPrincipal", r.RetiringPrincipal);
                keys.Add("kms:GrantIsForAWSResource", "false");
                if (r.Constraints?.EncryptionContextEquals is { } equals)
                {
                    keys.Add("kms:GrantConstraintType", "EncryptionContextEquals");
                    keys.AddEncryptionContext(equals);
                }
                else if (r.Constraints?.EncryptionContextSubset is { } subset)
                {
                    keys.Add("kms:GrantConstraintType", "EncryptionContextSubset");
                    keys.AddEncryptionContext(subset);
                }

                break;
            case ListGrantsRequest or RevokeGrantRequest:
                keys.Add("kms:GrantIsForAWSResource", "false");
                break;
        }
    }

    private static void AddIfPresent(ContextKeys.Builder keys, string key, string? value)
    {
        if (value is not null)
        {
            keys.Add(key, value);
        }
    }

    private static void AddRequestTags(ContextKeys.Builder keys, List<Tag>? tags)
    {
        if (tags is null)
        {
            return;
        }

        foreach (var tag in tags)
        {
            if (tag.TagKey is { } key)
            {
                keys.Add("aws:RequestTag/" + key, tag.TagValue ?? string.Empty);
            }
        }

        keys.AddValues("aws:TagKeys", tags.Select(t => t.TagKey).OfType<string>());
    }
}
