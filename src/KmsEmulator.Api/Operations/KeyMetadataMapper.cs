using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;

namespace KmsEmulator.Api.Operations;

/// <summary>Shapes a <see cref="KeyRecord"/> as the wire <c>KeyMetadata</c>, with the fields AWS returns for it.</summary>
public static class KeyMetadataMapper
{
    public static KeyMetadata ToWire(KeyRecord key)
    {
        var capability = KeySpecCapabilities.For(key.KeySpec);
        var pendingDeletion = key.KeyState == KeyState.PendingDeletion;
        // AWS shows the waiting period only while a multi-Region primary waits for its replicas (PendingReplicaDeletion);
        // a key in PendingDeletion shows its DeletionDate instead.
        var pendingReplicaDeletion = key.KeyState == KeyState.PendingReplicaDeletion;
        return new KeyMetadata
        {
            AWSAccountId = key.Scope.AccountId,
            KeyId = key.KeyId,
            Arn = key.Arn,
            CreationDate = key.CreationDate,
            Enabled = key.KeyState == KeyState.Enabled,
            Description = key.Description,
            KeyUsage = key.KeyUsage.ToWire(),
            KeyState = key.KeyState.ToWire(),
            DeletionDate = pendingDeletion ? key.DeletionDate : null,
            PendingDeletionWindowInDays = pendingReplicaDeletion ? key.PendingDeletionWindowInDays : null,
            Origin = key.Origin.ToWire(),
            KeyManager = key.KeyManager.ToWire(),
            CustomerMasterKeySpec = CustomerMasterKeySpecOf(key.KeySpec),
            KeySpec = key.KeySpec.ToWire(),
            EncryptionAlgorithms = NonEmpty(capability.EncryptionAlgorithmsFor(key.KeyUsage).Select(a => a.ToWire())),
            SigningAlgorithms = NonEmpty(capability.SigningAlgorithmsFor(key.KeyUsage).Select(a => a.ToWire())),
            MacAlgorithms = NonEmpty(capability.MacAlgorithmsFor(key.KeyUsage).Select(a => a.ToWire())),
            KeyAgreementAlgorithms = NonEmpty(capability.KeyAgreementAlgorithmsFor(key.KeyUsage).Select(a => a.ToWire())),
            MultiRegion = key.MultiRegion,
            MultiRegionConfiguration = key.MultiRegion
                ? new MultiRegionConfiguration
                {
                    MultiRegionKeyType = MultiRegionKeyType.PRIMARY.ToWire(),
                    PrimaryKey = new MultiRegionKey { Arn = key.Arn, Region = key.Scope.Region },
                    ReplicaKeys = [],
                }
                : null,
            CurrentKeyMaterialId = capability.HasKeyMaterialIds ? key.CurrentMaterial?.MaterialId : null,
            // Imported material (Origin EXTERNAL): shown while the key has it, as AWS does.
            ExpirationModel = key.Import is { Present: true } imported ? imported.ExpirationModel : null,
            ValidTo = key.Import is { Present: true, ValidTo: { } validTo } ? validTo : null,
        };
    }

    /// <summary>The deprecated CustomerMasterKeySpec twin of a key spec; absent for specs it does not list (ML-DSA, Ed25519).</summary>
    public static string? CustomerMasterKeySpecOf(KeySpec spec) =>
        CustomerMasterKeySpecWire.TryParse(spec.ToWire(), out _) ? spec.ToWire() : null;

    /// <summary>A list member as AWS sends it: absent rather than empty.</summary>
    public static List<string>? NonEmpty(IEnumerable<string> values)
    {
        var list = values.ToList();
        return list.Count == 0 ? null : list;
    }
}
