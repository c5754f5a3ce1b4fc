using KmsEmulator.Api.Keys;

namespace KmsEmulator.Api.Pipeline;

/// <summary>The shared services every operation row runs its pipeline steps with.</summary>
public sealed record PipelineServices(KeyResolver Resolver, IAuthorizer Authorizer);
