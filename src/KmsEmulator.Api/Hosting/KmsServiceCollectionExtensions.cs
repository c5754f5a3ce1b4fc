using KmsEmulator.Api.Audit;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Operations;
using KmsEmulator.Api.Pipeline;
using KmsEmulator.Api.Protocol;
using KmsEmulator.Api.Protocol.CloudTrail;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace KmsEmulator.Api.Hosting;

/// <summary>The KMS services: domain, pipeline, operation groups and the HTTP endpoint.</summary>
public static class KmsServiceCollectionExtensions
{
    /// <summary>
    /// Registers everything except the two ports that need opening first: <c>IKeyMaterialBackend</c> (the HSM)
    /// and <c>IKmsStore</c> (SQLite or PostgreSQL), which the composition root adds.
    /// </summary>
    public static IServiceCollection AddKmsCore(this IServiceCollection services)
    {
        services.TryAddSingleton(new ClockSource(TimeProvider.System));
        services.AddSingleton(sp => new EmulatorClock(
            sp.GetRequiredService<ClockSource>(),
            sp.GetService<Microsoft.Extensions.Options.IOptions<KmsOptions>>()?.Value.ClockOffset ?? TimeSpan.Zero));
        services.AddSingleton<TimeProvider>(sp => sp.GetRequiredService<EmulatorClock>());
        services.AddSingleton<KmsReadiness>();
        services.AddSingleton<KeyCatalog>();
        services.TryAddSingleton(StoreSharing.NotShared);
        services.AddSingleton<CatalogSync>();
        services.AddSingleton<KeyLifecycle>();
        services.AddSingleton<KeyResolver>();
        services.AddSingleton<AwsManagedKeys>();
        services.AddSingleton<KeyWriter>();
        services.AddSingleton<KeyLifecycleService>();
        services.AddSingleton<KeyImportService>();
        services.AddSingleton<MultiRegionKeyService>();
        services.AddSingleton<AliasService>();
        services.AddSingleton<TagService>();
        services.AddSingleton<KeyPolicyService>();
        services.AddSingleton<GrantService>();
        services.AddSingleton<KeyCryptoService>();
        services.AddSingleton<KeyUsageTracker>();
        services.AddSingleton<AuditTrail>();
        services.AddSingleton<TrailEncryption>();
        services.TryAddSingleton(new PrincipalDirectory([]));
        services.AddSingleton<IdentityResolver>();
        services.AddSingleton<IKnownPrincipals, KnownPrincipals>();
        services.AddSingleton<IGrantEvaluator, GrantEvaluator>();
        services.AddSingleton<DecisionCache>();
        services.AddSingleton<IAuthorizer, PolicyAuthorizer>();
        services.AddSingleton<PipelineServices>();
        services.AddSingleton<IOperationGroup, KeyLifecycleOperations>();
        services.AddSingleton<IOperationGroup, AliasOperations>();
        services.AddSingleton<IOperationGroup, TagOperations>();
        services.AddSingleton<IOperationGroup, PolicyOperations>();
        services.AddSingleton<IOperationGroup, CryptoOperations>();
        services.AddSingleton<IOperationGroup, DataKeyOperations>();
        services.AddSingleton<IOperationGroup, DataKeyPairOperations>();
        services.AddSingleton<IOperationGroup, SigningOperations>();
        services.AddSingleton<IOperationGroup, MacOperations>();
        services.AddSingleton<IOperationGroup, PublicKeyOperations>();
        services.AddSingleton<IOperationGroup, KeyAgreementOperations>();
        services.AddSingleton<IOperationGroup, GrantOperations>();
        services.AddSingleton<IOperationGroup, KeyUsageOperations>();
        services.AddSingleton<IOperationGroup, RotationOperations>();
        services.AddSingleton<IOperationGroup, ImportOperations>();
        services.AddSingleton<IOperationGroup, MultiRegionOperations>();
        services.AddSingleton<OperationTable>();
        services.AddSingleton<RequestMetrics>();
        services.AddSingleton<KmsEndpoint>();
        services.AddSingleton<CloudTrailEndpoint>();
        services.AddSingleton<HealthMonitor>();
        services.AddSingleton<HealthEndpoint>();
        services.AddSingleton<MetricsEndpoint>();
        services.AddSingleton<AdminEndpoint>();
        return services;
    }
}
