namespace KmsEmulator.Api.Keys;

/// <summary>
/// Key policies: replacing a key's policy document. The document's checks (size, syntax, lockout safety) run in the
/// operation before this is called; evaluating policies is the Policy project's.
/// </summary>
public sealed class KeyPolicyService(KeyWriter writer)
{
    public Task<KeyRecord> PutPolicyAsync(KeyRecord key, string policy, CancellationToken cancellationToken) =>
        writer.UpdateKeyAsync(key, KeyStateRule.Any, k => k with { Policy = policy }, cancellationToken);
}
