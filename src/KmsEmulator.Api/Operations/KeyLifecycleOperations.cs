using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Pipeline;
using KmsEmulator.Policy;

namespace KmsEmulator.Api.Operations;

/// <summary>CreateKey, DescribeKey, ListKeys, EnableKey, DisableKey, ScheduleKeyDeletion, CancelKeyDeletion, UpdateKeyDescription.</summary>
public sealed class KeyLifecycleOperations(KeyLifecycleService keys, KeyLifecycle lifecycle, MultiRegionKeyService multiRegion, IAuthorizer authorizer) : IOperationGroup
{
    private const string KeyId = nameof(DescribeKeyRequest.KeyId);

    public void Register(OperationTable.Builder table)
    {
        table.Add(KmsOperation.CreateKey, new OperationRow<CreateKeyRequest, CreateKeyResponse>
        {
            Handler = CreateKey,
            Keys = [],
            CrossAccount = false,
            ConditionKeys = (r, _, keys) =>
            {
                var spec = r.KeySpec ?? r.CustomerMasterKeySpec ?? "SYMMETRIC_DEFAULT";
                keys.Add("kms:KeySpec", spec)
                    .Add("kms:KeyUsage", r.KeyUsage ?? (spec == "SYMMETRIC_DEFAULT" ? "ENCRYPT_DECRYPT" : string.Empty))
                    .Add("kms:KeyOrigin", r.Origin ?? "AWS_KMS")
                    .AddFlag("kms:MultiRegion", r.MultiRegion)
                    .AddFlag("kms:BypassPolicyLockoutSafetyCheck", r.BypassPolicyLockoutSafetyCheck)
                    .AddRequestTags(r.Tags);
            },
            Audit = new()
            {
                ReadOnly = false,
                Request = r => AuditJson.Fields(
                    ("description", r.Description), ("keyUsage", r.KeyUsage), ("keySpec", r.KeySpec), ("customerMasterKeySpec", r.CustomerMasterKeySpec),
                    ("origin", r.Origin), ("customKeyStoreId", r.CustomKeyStoreId), ("bypassPolicyLockoutSafetyCheck", r.BypassPolicyLockoutSafetyCheck),
                    ("tags", TagOperations.AuditTags(r.Tags)), ("multiRegion", r.MultiRegion), ("policy", r.Policy)),
                Response = r => AuditJson.Fields(("keyMetadata", AuditJson.Wire(r.KeyMetadata, KmsJsonContext.Default.KeyMetadata))),
                ResponseKeyArn = r => r.KeyMetadata?.Arn,
            },
        });
        table.Add(KmsOperation.DescribeKey, new OperationRow<DescribeKeyRequest, DescribeKeyResponse>
        {
            Handler = DescribeKey,
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId }],
            CrossAccount = true,
            Audit = new() { ReadOnly = true, Request = r => AuditJson.Fields(("keyId", r.KeyId)) },
        });
        table.Add(KmsOperation.ListKeys, new OperationRow<ListKeysRequest, ListKeysResponse>
        {
            Handler = ListKeys,
            Keys = [],
            CrossAccount = false,
            Audit = new() { ReadOnly = true, Request = r => AuditJson.Fields(("limit", r.Limit), ("marker", r.Marker)) },
        });
        table.Add(KmsOperation.EnableKey, new OperationRow<EnableKeyRequest, EmptyResponse>
        {
            Handler = async c =>
            {
                await keys.EnableAsync(c.Key(KeyId), c.CancellationToken);
                return new EmptyResponse();
            },
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, Forms = KeyIdentifierForms.KeyIdOrArn, StateRule = KeyStateRule.EnableDisable }],
            CrossAccount = false,
            Audit = new() { ReadOnly = false, Request = r => AuditJson.Fields(("keyId", r.KeyId)) },
        });
        table.Add(KmsOperation.DisableKey, new OperationRow<DisableKeyRequest, EmptyResponse>
        {
            Handler = async c =>
            {
                await keys.DisableAsync(c.Key(KeyId), c.CancellationToken);
                return new EmptyResponse();
            },
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, Forms = KeyIdentifierForms.KeyIdOrArn, StateRule = KeyStateRule.EnableDisable }],
            CrossAccount = false,
            Audit = new() { ReadOnly = false, Request = r => AuditJson.Fields(("keyId", r.KeyId)) },
        });
        table.Add(KmsOperation.ScheduleKeyDeletion, new OperationRow<ScheduleKeyDeletionRequest, ScheduleKeyDeletionResponse>
        {
            Handler = ScheduleKeyDeletion,
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, Forms = KeyIdentifierForms.KeyIdOrArn, StateRule = KeyStateRule.ScheduleDeletion }],
            CrossAccount = false,
            ConditionKeys = (r, _, keys) => keys.Add(
                "kms:ScheduleKeyDeletionPendingWindowInDays", (r.PendingWindowInDays ?? 30).ToString(System.Globalization.CultureInfo.InvariantCulture)),
            Audit = new()
            {
                ReadOnly = false,
                Request = r => AuditJson.Fields(("keyId", r.KeyId), ("pendingWindowInDays", r.PendingWindowInDays)),
                Response = r => AuditJson.Fields(("keyId", r.KeyId), ("keyState", r.KeyState), ("deletionDate", r.DeletionDate)),
            },
        });
        table.Add(KmsOperation.CancelKeyDeletion, new OperationRow<CancelKeyDeletionRequest, CancelKeyDeletionResponse>
        {
            Handler = async c =>
            {
                var key = await keys.CancelDeletionAsync(c.Key(KeyId), c.CancellationToken);
                return new CancelKeyDeletionResponse { KeyId = key.Arn };
            },
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, Forms = KeyIdentifierForms.KeyIdOrArn, StateRule = KeyStateRule.CancelDeletion }],
            CrossAccount = false,
            Audit = new()
            {
                ReadOnly = false,
                Request = r => AuditJson.Fields(("keyId", r.KeyId)),
                Response = r => AuditJson.Fields(("keyId", r.KeyId)),
            },
        });
        table.Add(KmsOperation.UpdateKeyDescription, new OperationRow<UpdateKeyDescriptionRequest, EmptyResponse>
        {
            Handler = async c =>
            {
                await keys.UpdateDescriptionAsync(c.Key(KeyId), c.Request.Description!, c.CancellationToken);
                return new EmptyResponse();
            },
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, Forms = KeyIdentifierForms.KeyIdOrArn, StateRule = KeyStateRule.Management }],
            CrossAccount = false,
            Audit = new() { ReadOnly = false, Request = r => AuditJson.Fields(("keyId", r.KeyId), ("description", r.Description)) },
        });
    }

    private async ValueTask<CreateKeyResponse> CreateKey(OperationContext<CreateKeyRequest> context)
    {
        var request = context.Request;
        if (request.CustomKeyStoreId is not null || request.Origin is "AWS_CLOUDHSM" or "EXTERNAL_KEY_STORE")
        {
            throw KmsErrors.CustomKeyStoreNotFound();
        }

        if (request.XksKeyId is not null)
        {
            throw KmsErrors.XksKeyIdNotSupported();
        }

        var spec = ParseSpec(request.KeySpec, request.CustomerMasterKeySpec);
        var capability = KeySpecCapabilities.For(spec);
        var usage = ParseUsage(request.KeyUsage, spec);
        if (!capability.Allows(usage))
        {
            throw KmsErrors.KeyUsageIncompatibleWithKeySpec(usage, spec);
        }

        if (!capability.SupportedByEmulator)
        {
            throw KmsErrors.UnsupportedKeySpec(spec, capability.UnsupportedReason);
        }

        var origin = request.Origin is null ? OriginType.AWS_KMS : OriginTypeWire.TryParse(request.Origin, out var o) ? o : OriginType.AWS_KMS;
        var policy = request.Policy ?? DefaultKeyPolicy.For(context.Scope.RootArn);
        PolicyOperations.CheckPolicyDocument(policy);
        if (request.Policy is not null)
        {
            // The key id is not known yet; "*" stands for the new key, as Resource "*" does in key policies.
            authorizer.CheckNewKeyPolicy(context.RequestContext, policy, context.Scope.KeyArn("*"), context.Scope.AccountId, request.BypassPolicyLockoutSafetyCheck == true);
        }

        var key = await keys.CreateKeyAsync(
            context.Scope,
            new NewKey(
                request.Description ?? string.Empty,
                spec,
                usage,
                origin,
                request.MultiRegion ?? false,
                policy,
                TagOperations.ToDomain(request.Tags)),
            context.CancellationToken);
        return new CreateKeyResponse { KeyMetadata = KeyMetadataMapper.ToWire(key, multiRegion.ViewOf(key)) };
    }

    private ValueTask<DescribeKeyResponse> DescribeKey(OperationContext<DescribeKeyRequest> context)
    {
        var key = context.Key(KeyId);
        return ValueTask.FromResult(new DescribeKeyResponse { KeyMetadata = KeyMetadataMapper.ToWire(key, multiRegion.ViewOf(key)) });
    }

    private ValueTask<ListKeysResponse> ListKeys(OperationContext<ListKeysRequest> context)
    {
        var page = Paging.Take(lifecycle.LiveKeysIn(context.Scope), k => k.KeyId, context.Request.Marker, context.Request.Limit, defaultLimit: 100, maxLimit: 1000);
        return ValueTask.FromResult(new ListKeysResponse
        {
            Keys = page.Items.Select(k => new KeyListEntry { KeyId = k.KeyId, KeyArn = k.Arn }).ToList(),
            NextMarker = page.NextMarker,
            Truncated = page.Truncated,
        });
    }

    private async ValueTask<ScheduleKeyDeletionResponse> ScheduleKeyDeletion(OperationContext<ScheduleKeyDeletionRequest> context)
    {
        var days = context.Request.PendingWindowInDays ?? 30;
        if (days is < 7 or > 30)
        {
            // The model allows 1..365; the service's own (free-text) check narrows it to 7..30.
            throw KmsErrors.PendingWindowOutOfRange();
        }

        var key = await keys.ScheduleDeletionAsync(context.Key(KeyId), days, context.CancellationToken);
        return new ScheduleKeyDeletionResponse
        {
            KeyId = key.Arn,
            DeletionDate = key.DeletionDate,
            KeyState = key.KeyState.ToWire(),
            PendingWindowInDays = key.PendingDeletionWindowInDays,
        };
    }

    private static KeySpec ParseSpec(string? keySpec, string? customerMasterKeySpec)
    {
        if (keySpec is not null && customerMasterKeySpec is not null && keySpec != customerMasterKeySpec)
        {
            throw KmsErrors.KeySpecConflict();
        }

        var value = keySpec ?? customerMasterKeySpec;
        return value is null ? KeySpec.SYMMETRIC_DEFAULT : KeySpecWire.TryParse(value, out var spec) ? spec : throw KmsErrors.UnknownKeySpec(value);
    }

    private static KeyUsageType ParseUsage(string? keyUsage, KeySpec spec)
    {
        if (keyUsage is null)
        {
            return spec == KeySpec.SYMMETRIC_DEFAULT
                ? KeyUsageType.ENCRYPT_DECRYPT
                : throw KmsErrors.KeyUsageRequired();
        }

        return KeyUsageTypeWire.TryParse(keyUsage, out var usage) ? usage : throw KmsErrors.UnknownKeyUsage(keyUsage);
    }
}
