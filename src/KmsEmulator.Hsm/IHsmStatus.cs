namespace KmsEmulator.Hsm;

/// <summary>
/// What health checks and metrics may ask a backend: how its session pool is used, and whether the HSM still answers.
/// Separate from <see cref="IKeyMaterialBackend"/> because no key operation needs it.
/// </summary>
public interface IHsmStatus
{
    /// <summary>The session pool right now (plain reads of counters; never waits).</summary>
    HsmPoolUsage PoolUsage { get; }

    /// <summary>
    /// One cheap call to the HSM that needs no pooled session (so a busy pool does not make it wait): the backend's
    /// long-lived session must still exist and be logged in. Returns null when it is, else what is wrong. Never throws
    /// for an HSM failure; it may block as long as the module does, so callers bound it with a timeout.
    /// </summary>
    ValueTask<string?> ProbeAsync(CancellationToken cancellationToken = default);
}

/// <summary>Sessions in the pool, how many are checked out, and how many callers wait for one.</summary>
public readonly record struct HsmPoolUsage(int Size, int InUse, int Waiting);
