using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;

namespace KmsEmulator.Api.Pipeline;

/// <summary>
/// Everything known about a request before its handler runs: id, operation, caller, region and transport facts.
/// Authorization and audit consume this record; handlers read the caller's scope from it.
/// </summary>
public sealed record KmsRequestContext(
    string RequestId,
    KmsOperation Operation,
    CallerIdentity Caller,
    string Region,
    DateTimeOffset ReceivedAt,
    string? SourceIp,
    string? UserAgent,
    bool SecureTransport = false)
{
    /// <summary>The caller's own account and region: where keys named by bare id or alias name are looked up.</summary>
    public KeyScope Scope => new(Caller.AccountId, Region);
}
