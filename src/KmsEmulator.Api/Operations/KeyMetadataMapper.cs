using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;

namespace KmsEmulator.Api.Operations;

/// <summary>Shapes a <see cref="KeyRecord"/> as the wire <c>KeyMetadata</c>, with the fields AWS returns for it.</summary>
public static class KeyMetadataMapper
{
    /// <param name="key">The key.</param>
    /// <param name="multiRegion">For a multi-Region key, its primary and replicas (<see cref="MultiRegionKeyService.ViewOf"/>).</param>
    public static KeyMetadata ToWire(KeyRecord key, MultiRegionView? multiRegion)
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
                    MultiRegionKeyType = (key.IsMultiRegionPrimary ? MultiRegionKeyType.PRIMARY : MultiRegionKeyType.REPLICA).ToWire(),
                    PrimaryKey = multiRegion is null
                        ? new MultiRegionKey { Arn = (key.Scope with { Region = key.PrimaryRegion ?? key.Scope.Region }).KeyArn(key.KeyId), Region = key.PrimaryRegion ?? key.Scope.Region }
                        : new MultiRegionKey { Arn = multiRegion.Primary.Arn, Region = multiRegion.Primary.Region },
                    ReplicaKeys = multiRegion?.Replicas.Select(r => new MultiRegionKey { Arn = r.Arn, Region = r.Region }).ToList() ?? [],
                }
                : null,
            // A replica that is still being created shows no material yet (as AWS's ReplicateKey answer does).
            CurrentKeyMaterialId = capability.HasKeyMaterialIds && key.KeyState != KeyState.Creating ? key.CurrentMaterial?.MaterialId : null,
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
