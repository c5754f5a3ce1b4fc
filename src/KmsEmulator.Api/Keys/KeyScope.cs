namespace KmsEmulator.Api.Keys;

/// <summary>
/// The (account, region) a key lives in. Keys are scoped per account and region, so one emulator can stand in
/// for several accounts and regions at once.
/// </summary>
public readonly record struct KeyScope(string AccountId, string Region)
{
    /// <summary>The ARN partition of the region: aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, aws-iso-e, aws-iso-f, aws-eusc.</summary>
    public string Partition => PartitionOf(Region);

    public string KeyArn(string keyId) => $"arn:{Partition}:kms:{Region}:{AccountId}:key/{keyId}";

    public string AliasArn(string aliasName) => $"arn:{Partition}:kms:{Region}:{AccountId}:{aliasName}";

    public string RootArn => $"arn:{PartitionOf(Region)}:iam::{AccountId}:root";

    public static string PartitionOf(string region) => AwsRegions.PartitionOf(region);
}
