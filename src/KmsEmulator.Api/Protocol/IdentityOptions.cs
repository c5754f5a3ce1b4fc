namespace KmsEmulator.Api.Protocol;

/// <summary>Identity settings: bound from the <c>Kms</c> configuration section.</summary>
public sealed class IdentityOptions
{
    /// <summary>The account of callers whose access key maps to no configured principal.</summary>
    public string DefaultAccountId { get; set; } = "111122223333";

    /// <summary>The region of requests that carry no SigV4 credential scope (unsigned requests).</summary>
    public string DefaultRegion { get; set; } = "us-east-1";
}
