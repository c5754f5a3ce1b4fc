using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Pipeline;
using KmsEmulator.Policy;

namespace KmsEmulator.Api.Operations;

/// <summary>
/// ReplicateKey and UpdatePrimaryRegion (<see cref="MultiRegionKeyService"/>). A replica shares its primary's key id and
/// key material (copied inside the HSM); both start in a transient state (Creating, Updating) that the next lifecycle
/// sweep ends (docs/multi-region-keys.md).
/// </summary>
public sealed class MultiRegionOperations(MultiRegionKeyService multiRegion, IAuthorizer authorizer) : IOperationGroup
{
    private const string KeyId = nameof(ReplicateKeyRequest.KeyId);

    public void Register(OperationTable.Builder table)
    {
        table.Add(KmsOperation.ReplicateKey, new OperationRow<ReplicateKeyRequest, ReplicateKeyResponse>
        {
            Handler = ReplicateKey,
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, Forms = KeyIdentifierForms.KeyIdOrArn, StateRule = KeyStateRule.Replicate }],
            CrossAccount = false,
            ConditionKeys = (r, _, keys) => keys
                .AddIfPresent("kms:ReplicaRegion", r.ReplicaRegion)
                .AddFlag("kms:BypassPolicyLockoutSafetyCheck", r.BypassPolicyLockoutSafetyCheck)
                .AddRequestTags(r.Tags),
            Check = c => MultiRegionKeyService.CheckPrimary(c.Key(KeyId)),
            Audit = new()
            {
                ReadOnly = false,
                Request = r => AuditJson.Fields(
                    ("keyId", r.KeyId), ("replicaRegion", r.ReplicaRegion), ("bypassPolicyLockoutSafetyCheck", r.BypassPolicyLockoutSafetyCheck ?? false),
                    ("description", r.Description ?? string.Empty), ("tags", TagOperations.AuditTags(r.Tags)), ("policy", r.Policy)),
                Response = r => AuditJson.Fields(("replicaKeyMetadata", AuditJson.Wire(r.ReplicaKeyMetadata, KmsJsonContext.Default.KeyMetadata))),
            },
        });
        table.Add(KmsOperation.UpdatePrimaryRegion, new OperationRow<UpdatePrimaryRegionRequest, EmptyResponse>
        {
            Handler = async c =>
            {
                await multiRegion.UpdatePrimaryRegionAsync(c.Key(KeyId), c.Request.PrimaryRegion!, c.CancellationToken);
                return new EmptyResponse();
            },
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, Forms = KeyIdentifierForms.KeyIdOrArn, StateRule = KeyStateRule.UpdatePrimaryRegion }],
            CrossAccount = false,
            ConditionKeys = (r, _, keys) => keys.AddIfPresent("kms:PrimaryRegion", r.PrimaryRegion),
            Check = c => MultiRegionKeyService.CheckPrimary(c.Key(KeyId)),
            Audit = new() { ReadOnly = false, Request = r => AuditJson.Fields(("keyId", r.KeyId), ("primaryRegion", r.PrimaryRegion)) },
        });
    }

    private async ValueTask<ReplicateKeyResponse> ReplicateKey(OperationContext<ReplicateKeyRequest> context)
    {
        var request = context.Request;
        var primary = context.Key(KeyId);
        var region = request.ReplicaRegion!;
        var replicaScope = primary.Scope with { Region = region };
        var policy = request.Policy ?? DefaultKeyPolicy.For(replicaScope.RootArn);
        PolicyOperations.CheckPolicyDocument(policy);
        if (request.Policy is not null)
        {
            authorizer.CheckNewKeyPolicy(context.RequestContext, policy, replicaScope.KeyArn(primary.KeyId), primary.Scope.AccountId, request.BypassPolicyLockoutSafetyCheck == true);
        }

        var replica = await multiRegion.ReplicateAsync(
            primary,
            new NewReplica(region, request.Description ?? string.Empty, policy, TagOperations.ToDomain(request.Tags)),
            context.CancellationToken);
        return new ReplicateKeyResponse
        {
            ReplicaKeyMetadata = KeyMetadataMapper.ToWire(replica, multiRegion.ViewOf(replica)),
            ReplicaPolicy = replica.Policy,
            // Absent without tags, as in AWS's answer.
            ReplicaTags = replica.Tags.IsEmpty ? null : replica.Tags.Select(t => new Tag { TagKey = t.Key, TagValue = t.Value }).ToList(),
        };
    }
}
