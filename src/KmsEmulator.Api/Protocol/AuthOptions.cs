using KmsEmulator.Api.Keys;

namespace KmsEmulator.Api.Protocol;

/// <summary>How requests are authenticated.</summary>
public enum AuthMode
{
    /// <summary>SigV4 headers are parsed, not verified; unknown access keys act as the root of the default account.</summary>
    Permissive,

    /// <summary>Every request must carry a valid SigV4 signature from a configured principal's secret.</summary>
    Strict,
}

/// <summary>The <c>Kms:Auth</c> configuration section.</summary>
public sealed class AuthOptions
{
    public AuthMode Mode { get; set; } = AuthMode.Permissive;

    /// <summary>How far a request's X-Amz-Date may be from the server clock (AWS: 5 minutes).</summary>
    public TimeSpan AllowedClockSkew { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Regions that strict mode accepts in a credential scope besides those of the AWS partitions
    /// (<see cref="AwsRegions"/>), e.g. a region newer than this emulator. Permissive mode accepts any well-formed region.
    /// </summary>
    public string[] AdditionalRegions { get; set; } = [];
}
