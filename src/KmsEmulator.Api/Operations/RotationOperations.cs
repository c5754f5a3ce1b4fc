using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Pipeline;

namespace KmsEmulator.Api.Operations;

/// <summary>
/// EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand, ListKeyRotations. Each rotation
/// adds a material version inside the HSM (<see cref="KeyWriter.RotateAsync"/>); ciphertexts name their version, so
/// old ones keep decrypting. Automatic rotation runs on the emulator's clock (<see cref="KeyLifecycleService.RotateDueKeysAsync"/>).
/// </summary>
public sealed class RotationOperations(KeyWriter writer, TimeProvider clock) : IOperationGroup
{
    /// <summary>AWS's default automatic rotation period.</summary>
    public const int DefaultRotationPeriodInDays = 365;

    /// <summary>How many on-demand rotations AWS allows per key.</summary>
    public const int MaxOnDemandRotations = 10;

    private const string KeyId = nameof(EnableKeyRotationRequest.KeyId);

    public void Register(OperationTable.Builder table)
    {
        table.Add(KmsOperation.EnableKeyRotation, new OperationRow<EnableKeyRotationRequest, EmptyResponse>
        {
            Handler = async c =>
            {
                var period = c.Request.RotationPeriodInDays ?? DefaultRotationPeriodInDays;
                await writer.UpdateKeyAsync(c.Key(KeyId), KeyStateRule.RotationSettings, key => key with
                {
                    RotationEnabled = true,
                    RotationPeriodInDays = period,
                    NextRotationDate = clock.GetUtcNow().AddDays(period),
                }, c.CancellationToken);
                return new EmptyResponse();
            },
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, Forms = KeyIdentifierForms.KeyIdOrArn, StateRule = KeyStateRule.RotationSettings }],
            CrossAccount = false,
            Check = c => CheckRotationManaged(c.Key(KeyId)),
            Audit = new() { ReadOnly = false, Request = r => AuditJson.Fields(("keyId", r.KeyId), ("rotationPeriodInDays", r.RotationPeriodInDays)) },
        });
        table.Add(KmsOperation.DisableKeyRotation, new OperationRow<DisableKeyRotationRequest, EmptyResponse>
        {
            Handler = async c =>
            {
                await writer.UpdateKeyAsync(c.Key(KeyId), KeyStateRule.RotationSettings,
                    key => key with { RotationEnabled = false, RotationPeriodInDays = null, NextRotationDate = null }, c.CancellationToken);
                return new EmptyResponse();
            },
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, Forms = KeyIdentifierForms.KeyIdOrArn, StateRule = KeyStateRule.RotationSettings }],
            CrossAccount = false,
            Check = c => CheckRotationManaged(c.Key(KeyId)),
            Audit = new() { ReadOnly = false, Request = r => AuditJson.Fields(("keyId", r.KeyId)) },
        });
        table.Add(KmsOperation.GetKeyRotationStatus, new OperationRow<GetKeyRotationStatusRequest, GetKeyRotationStatusResponse>
        {
            Handler = c =>
            {
                var key = c.Key(KeyId);
                return ValueTask.FromResult(new GetKeyRotationStatusResponse
                {
                    KeyId = key.KeyId,
                    KeyRotationEnabled = key.RotationEnabled,
                    RotationPeriodInDays = key.RotationEnabled ? key.RotationPeriodInDays : null,
                    NextRotationDate = key.RotationEnabled ? key.NextRotationDate : null,
                });
            },
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, Forms = KeyIdentifierForms.KeyIdOrArn, StateRule = KeyStateRule.Any }],
            CrossAccount = true,
            Check = c => CheckRotatable(c.Key(KeyId)),
            Audit = new() { ReadOnly = true, Request = r => AuditJson.Fields(("keyId", r.KeyId)) },
        });
        table.Add(KmsOperation.RotateKeyOnDemand, new OperationRow<RotateKeyOnDemandRequest, RotateKeyOnDemandResponse>
        {
            Handler = async c =>
            {
                var key = await writer.RotateAsync(c.Key(KeyId), RotationTypeWire.ToWire(RotationType.ON_DEMAND), clock.GetUtcNow(),
                    live =>
                    {
                        KeyStateRules.Check(KeyStateRule.Cryptographic, live);
                        CheckRotationManaged(live);
                        CheckOnDemandLimit(live);
                    },
                    live => live,
                    c.CancellationToken);
                return new RotateKeyOnDemandResponse { KeyId = key.KeyId };
            },
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, Forms = KeyIdentifierForms.KeyIdOrArn, StateRule = KeyStateRule.Cryptographic }],
            CrossAccount = false,
            Check = c =>
            {
                CheckRotationManaged(c.Key(KeyId));
                CheckOnDemandLimit(c.Key(KeyId));
            },
            Audit = new() { ReadOnly = false, Request = r => AuditJson.Fields(("keyId", r.KeyId)) },
        });
        table.Add(KmsOperation.ListKeyRotations, new OperationRow<ListKeyRotationsRequest, ListKeyRotationsResponse>
        {
            Handler = c => ValueTask.FromResult(ListKeyRotations(c)),
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, Forms = KeyIdentifierForms.KeyIdOrArn, StateRule = KeyStateRule.Any }],
            CrossAccount = false,
            Check = c => CheckRotatable(c.Key(KeyId)),
            Audit = new()
            {
                ReadOnly = true,
                Request = r => AuditJson.Fields(("keyId", r.KeyId), ("includeKeyMaterial", r.IncludeKeyMaterial), ("limit", r.Limit), ("marker", r.Marker)),
            },
        });
    }

    /// <summary>Only symmetric encryption keys with KMS-made material rotate (AWS: UnsupportedOperationException).</summary>
    public static void CheckRotatable(KeyRecord key)
    {
        if (key.KeySpec != KeySpec.SYMMETRIC_DEFAULT)
        {
            throw KmsErrors.RotationNeedsSymmetricKey();
        }

        if (key.Origin == OriginType.EXTERNAL)
        {
            throw KmsErrors.OriginExternalNotValid(key.Arn);
        }
    }

    /// <summary>
    /// Rotation of a multi-Region key is managed on its primary, which shares every new material version and its rotation
    /// settings with the replicas; on a replica AWS answers UnsupportedOperationException. Status and the list of
    /// rotations can be read on either.
    /// </summary>
    public static void CheckRotationManaged(KeyRecord key)
    {
        CheckRotatable(key);
        if (key.IsMultiRegionReplica)
        {
            throw KmsErrors.NotMultiRegionPrimary(key.Arn);
        }
    }

    private static void CheckOnDemandLimit(KeyRecord key)
    {
        var onDemand = RotationTypeWire.ToWire(RotationType.ON_DEMAND);
        if (key.Materials.Count(m => m.RotationType == onDemand) >= MaxOnDemandRotations)
        {
            throw KmsErrors.OnDemandRotationLimit(key.Arn);
        }
    }

    private static ListKeyRotationsResponse ListKeyRotations(OperationContext<ListKeyRotationsRequest> context)
    {
        var key = context.Key(KeyId);
        var all = context.Request.IncludeKeyMaterial == IncludeKeyMaterialWire.ToWire(IncludeKeyMaterial.ALL_KEY_MATERIAL);
        var entries = key.Materials
            .Where(m => all || m.RotationType is not null)
            .Select(m => new RotationsListEntry
            {
                KeyId = key.KeyId,
                KeyMaterialId = m.MaterialId,
                KeyMaterialState = m.Version == key.CurrentMaterialVersion
                    ? KeyMaterialStateWire.ToWire(KeyMaterialState.CURRENT)
                    : KeyMaterialStateWire.ToWire(KeyMaterialState.NON_CURRENT),
                RotationDate = m.RotationType is null ? null : m.CreatedAt,
                RotationType = m.RotationType,
            })
            .ToList();
        var page = Paging.TakeByPosition(entries, context.Request.Marker, context.Request.Limit, 100, 1000);
        return new ListKeyRotationsResponse { Rotations = page.Items, NextMarker = page.NextMarker, Truncated = page.Truncated };
    }
}
