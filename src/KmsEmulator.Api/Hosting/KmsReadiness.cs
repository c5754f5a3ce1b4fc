namespace KmsEmulator.Api.Hosting;

/// <summary>Set once the store is migrated and loaded and the HSM is logged in; <c>GET /health</c> reports it.</summary>
public sealed class KmsReadiness
{
    private volatile bool _ready;

    public bool IsReady => _ready;

    public void MarkReady() => _ready = true;
}
