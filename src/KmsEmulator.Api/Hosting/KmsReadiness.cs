using KmsEmulator.Hsm;

namespace KmsEmulator.Api.Hosting;

/// <summary>
/// Set once the store is migrated and loaded and the HSM is logged in and indexed; <c>GET /health</c> reports it,
/// with what the start-up reconciliation found missing.
/// </summary>
public sealed class KmsReadiness
{
    private volatile bool _ready;

    public bool IsReady => _ready;

    /// <summary>Labels of key material recorded in the store that the token did not hold at start-up.</summary>
    public IReadOnlyList<string> MissingMaterial { get; private set; } = [];

    public void MarkReady(HsmInventory? inventory = null)
    {
        MissingMaterial = inventory?.Missing ?? [];
        _ready = true;
    }
}
