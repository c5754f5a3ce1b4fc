namespace KmsEmulator.Api.Keys;

/// <summary>What an emulator reset removed.</summary>
public sealed record ResetResult(int Keys, int Aliases, int HsmObjects);

public sealed partial class KeyWriter
{
    /// <summary>
    /// The emulator's reset, under the lock: every key, alias and grant goes from the store in one transaction, the
    /// catalogue is emptied, then the HSM objects of every material version, import wrapping key pair and uncommitted
    /// write are destroyed in one pass over the token. As with deletion, rows go first: a crash in between leaves only
    /// orphaned objects, which start-up reconciliation destroys. Material that a CreateKey is making at this moment
    /// (outside the lock) is not named here, so it is never destroyed under a key that then commits.
    /// </summary>
    public Task<ResetResult> ResetAsync(CancellationToken cancellationToken) =>
        ExclusiveAsync(
            async () =>
            {
                var labels = new HashSet<string>(_pendingDestroys.Keys, StringComparer.Ordinal);
                foreach (var key in catalog.AllKeys)
                {
                    labels.UnionWith(key.Materials.Select(m => m.HsmLabel));
                    labels.UnionWith(key.ImportParameters.Select(p => p.HsmLabel));
                }

                var (keys, aliases) = await store.DeleteAllAsync(cancellationToken);
                Publish(() => catalog.Load(new StoreSnapshot([], [])));
                _pendingDestroys.Clear();
                try
                {
                    return new ResetResult(keys, aliases, await hsm.DestroyManyAsync(labels, CancellationToken.None));
                }
                catch
                {
                    // The rows are gone; the sweep retries the objects one by one (DestroyPendingAsync).
                    foreach (var label in labels)
                    {
                        _pendingDestroys.TryAdd(label, 0);
                    }

                    throw;
                }
            },
            cancellationToken);
}
