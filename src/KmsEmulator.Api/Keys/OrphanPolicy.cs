namespace KmsEmulator.Api.Keys;

/// <summary>
/// How the start-up reconciliation treats HSM objects that no key row refers to (<see cref="KeyLifecycleService.ReconcileAsync"/>).
/// </summary>
/// <param name="GracePeriod">
/// Zero: destroy every such object at once (one emulator on its own token and store). Otherwise only objects made longer
/// ago than this, and only after the store, read again, still has no row for them: with several nodes sharing the token
/// and the store, a younger object may be the material of a key another node has not committed yet.
/// </param>
/// <param name="Clock">
/// The real time to measure an object's age by: the HSM backend dates objects with the system clock, not the emulator's
/// (which a user may move ahead; that must not make another node's new key look old).
/// </param>
public sealed record OrphanPolicy(TimeSpan GracePeriod, TimeProvider Clock)
{
    /// <summary>Every orphan destroyed at once: the default for one emulator on its own token and store.</summary>
    public static OrphanPolicy Immediate { get; } = new(TimeSpan.Zero, TimeProvider.System);
}
