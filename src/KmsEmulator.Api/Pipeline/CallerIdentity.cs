using KmsEmulator.Policy;

namespace KmsEmulator.Api.Pipeline;

/// <summary>Who made a request: the principal an access key maps to.</summary>
/// <param name="AccountId">The principal's 12-digit account.</param>
/// <param name="Arn">The principal ARN (a user, a role session, or the account root).</param>
/// <param name="AccessKeyId">The access key the request was signed with, if any.</param>
/// <param name="PrincipalType">CloudTrail's userIdentity type: Root, IAMUser, AssumedRole, ...</param>
public sealed record CallerIdentity(string AccountId, string Arn, string? AccessKeyId, PrincipalType PrincipalType)
{
    /// <summary>The principal's IAM identity policies (configured principals only).</summary>
    public IReadOnlyList<PolicyDocument> IdentityPolicies { get; init; } = [];

    /// <summary>
    /// The AWS service endpoint the principal's requests come through (<c>kms:ViaService</c>, e.g.
    /// <c>ec2.us-east-1.amazonaws.com</c>), for configured principals that stand for a service acting on a user's
    /// behalf; null for direct calls.
    /// </summary>
    public string? ViaService { get; init; }
}
