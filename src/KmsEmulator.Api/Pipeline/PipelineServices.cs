using KmsEmulator.Api.Keys;

namespace KmsEmulator.Api.Pipeline;

/// <summary>
/// The shared services every operation row runs its pipeline steps with. <paramref name="Sync"/> brings the key
/// catalogue up to date with a store that other emulators write to, before a request reads it.
/// </summary>
public sealed record PipelineServices(KeyResolver Resolver, IAuthorizer Authorizer, CatalogSync? Sync = null);
