using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Protocol;

namespace KmsEmulator.Api.Pipeline;

/// <summary>
/// The authorization step of the pipeline: decides whether the caller may perform the operation on the resolved
/// keys, throwing AccessDeniedException when not. Runs after key resolution and key-state checks, before DryRun
/// and the handler.
/// </summary>
public interface IAuthorizer
{
    ValueTask AuthorizeAsync(KmsRequestContext request, IReadOnlyCollection<ResolvedKey> keys, CancellationToken cancellationToken);
}

/// <summary>Allows every request. Key policies and grants are stored but not yet evaluated.</summary>
public sealed class AllowAllAuthorizer : IAuthorizer
{
    public ValueTask AuthorizeAsync(KmsRequestContext request, IReadOnlyCollection<ResolvedKey> keys, CancellationToken cancellationToken) =>
        ValueTask.CompletedTask;
}
