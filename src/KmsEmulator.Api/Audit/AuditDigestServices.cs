using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace KmsEmulator.Api.Audit;

/// <summary>Registration of the digest files (integrity validation) for the composition root.</summary>
public static class AuditDigestServices
{
    /// <summary>
    /// The digest writer as the log files' observer and as a hosted service (its timer), signing with the HSM key.
    /// Register after <see cref="AuditDelivery"/>: it stops first, and the final digest comes from delivery's end.
    /// </summary>
    /// <param name="defaultRegion">The trail's home region unless <c>Kms:Audit:HomeRegion</c> names one.</param>
    public static IServiceCollection AddAuditDigests(this IServiceCollection services, string? defaultRegion)
    {
        services.PostConfigure<AuditOptions>(options => options.HomeRegion ??= defaultRegion ?? "us-east-1");
        services.TryAddSingleton<IDigestSigner, HsmDigestSigner>();
        services.AddSingleton<DigestWriter>();
        services.AddSingleton<IAuditFileObserver>(provider => provider.GetRequiredService<DigestWriter>());
        services.AddHostedService(provider => provider.GetRequiredService<DigestWriter>());
        return services;
    }
}
