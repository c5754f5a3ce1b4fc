using KmsEmulator.Api.Generated;

namespace KmsEmulator.Api.Keys;

/// <summary>
/// Time-dependent key visibility on the injected clock: a key whose deletion date has passed is gone for
/// every caller at that instant, even before the sweep (<see cref="KeyLifecycleService.DeleteExpiredKeysAsync"/>)
/// has removed its material and rows. Tests and users move the clock; nothing waits on wall time.
/// </summary>
public sealed class KeyLifecycle(KeyCatalog catalog, TimeProvider clock)
{
    public DateTimeOffset Now => clock.GetUtcNow();

    public bool IsExpired(KeyRecord key) =>
        key.KeyState == KeyState.PendingDeletion && key.DeletionDate is { } due && due <= clock.GetUtcNow();

    public KeyRecord? FindLive(KeyScope scope, string keyId) =>
        catalog.FindKey(scope, keyId) is { } key && !IsExpired(key) ? key : null;

    public KeyRecord? FindLiveInRegion(string region, string keyId) =>
        catalog.AllKeys.FirstOrDefault(k => k.KeyId == keyId && k.Scope.Region == region && !IsExpired(k));

    public List<KeyRecord> LiveKeysIn(KeyScope scope) => catalog.KeysIn(scope).Where(k => !IsExpired(k)).ToList();

    /// <summary>The live keys of the multi-Region key <paramref name="key"/> belongs to (itself included), by region.</summary>
    public List<KeyRecord> MultiRegionSet(KeyRecord key) =>
        key.MultiRegion ? catalog.MultiRegionKeys(key.Scope.AccountId, key.KeyId).Where(k => !IsExpired(k)).ToList() : [];

    /// <summary>True when <paramref name="key"/> is a multi-Region primary key with live replicas.</summary>
    public bool HasReplicas(KeyRecord key) =>
        key.IsMultiRegionPrimary && MultiRegionSet(key).Any(k => k.Scope.Region != key.Scope.Region);

    public List<KeyRecord> ExpiredKeys() => catalog.AllKeys.Where(IsExpired).ToList();
}
