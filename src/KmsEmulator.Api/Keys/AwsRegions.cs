using System.Collections.Frozen;

namespace KmsEmulator.Api.Keys;

/// <summary>
/// The regions of the AWS partitions (aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, aws-iso-e, aws-iso-f, aws-eusc) and
/// the partition a region name belongs to. Strict mode accepts a SigV4 credential scope only for one of these regions
/// or one that <c>Kms:Auth:AdditionalRegions</c> adds; this is the one place the list is kept.
/// </summary>
public static class AwsRegions
{
    /// <summary>Every region, by partition, as of late 2026.</summary>
    public static readonly FrozenDictionary<string, string> PartitionByRegion = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        // aws
        ["us-east-1"] = "aws",
        ["us-east-2"] = "aws",
        ["us-west-1"] = "aws",
        ["us-west-2"] = "aws",
        ["af-south-1"] = "aws",
        ["ap-east-1"] = "aws",
        ["ap-east-2"] = "aws",
        ["ap-south-1"] = "aws",
        ["ap-south-2"] = "aws",
        ["ap-southeast-1"] = "aws",
        ["ap-southeast-2"] = "aws",
        ["ap-southeast-3"] = "aws",
        ["ap-southeast-4"] = "aws",
        ["ap-southeast-5"] = "aws",
        ["ap-southeast-6"] = "aws",
        ["ap-southeast-7"] = "aws",
        ["ap-northeast-1"] = "aws",
        ["ap-northeast-2"] = "aws",
        ["ap-northeast-3"] = "aws",
        ["ca-central-1"] = "aws",
        ["ca-west-1"] = "aws",
        ["eu-central-1"] = "aws",
        ["eu-central-2"] = "aws",
        ["eu-west-1"] = "aws",
        ["eu-west-2"] = "aws",
        ["eu-west-3"] = "aws",
        ["eu-north-1"] = "aws",
        ["eu-south-1"] = "aws",
        ["eu-south-2"] = "aws",
        ["il-central-1"] = "aws",
        ["me-south-1"] = "aws",
        ["me-central-1"] = "aws",
        ["mx-central-1"] = "aws",
        ["sa-east-1"] = "aws",

        // aws-cn
        ["cn-north-1"] = "aws-cn",
        ["cn-northwest-1"] = "aws-cn",

        // aws-us-gov
        ["us-gov-west-1"] = "aws-us-gov",
        ["us-gov-east-1"] = "aws-us-gov",

        // aws-iso, aws-iso-b, aws-iso-e, aws-iso-f
        ["us-iso-east-1"] = "aws-iso",
        ["us-iso-west-1"] = "aws-iso",
        ["us-isob-east-1"] = "aws-iso-b",
        ["eu-isoe-west-1"] = "aws-iso-e",
        ["us-isof-south-1"] = "aws-iso-f",
        ["us-isof-east-1"] = "aws-iso-f",

        // aws-eusc (AWS European Sovereign Cloud)
        ["eusc-de-east-1"] = "aws-eusc",
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>The region names of <see cref="PartitionByRegion"/>.</summary>
    public static FrozenSet<string> Known { get; } = PartitionByRegion.Keys.ToFrozenSet(StringComparer.Ordinal);

    /// <summary>
    /// The ARN partition of a region: the listed one for known regions, otherwise by the partitions' naming
    /// (cn-, us-gov-, us-iso-, us-isob-, eu-isoe-, us-isof-, eusc-), and aws for everything else.
    /// </summary>
    public static string PartitionOf(string region) =>
        PartitionByRegion.TryGetValue(region, out var partition) ? partition : PartitionByName(region);

    /// <summary>The partition a region's name says it belongs to.</summary>
    internal static string PartitionByName(string region) => region switch
    {
        _ when region.StartsWith("cn-", StringComparison.Ordinal) => "aws-cn",
        _ when region.StartsWith("us-gov-", StringComparison.Ordinal) => "aws-us-gov",
        _ when region.StartsWith("us-iso-", StringComparison.Ordinal) => "aws-iso",
        _ when region.StartsWith("us-isob-", StringComparison.Ordinal) => "aws-iso-b",
        _ when region.StartsWith("eu-isoe-", StringComparison.Ordinal) => "aws-iso-e",
        _ when region.StartsWith("us-isof-", StringComparison.Ordinal) => "aws-iso-f",
        _ when region.StartsWith("eusc-", StringComparison.Ordinal) => "aws-eusc",
        _ => "aws",
    };
}
