using KmsEmulator.Api.Keys;

namespace KmsEmulator.Api.Tests;

/// <summary>The ARN partition of a region, which key, alias and root ARNs carry.</summary>
public sealed class AwsRegionsTests
{
    [Theory]
    [InlineData("us-east-1", "aws")]
    [InlineData("ap-southeast-7", "aws")]
    [InlineData("mx-central-1", "aws")]
    [InlineData("cn-northwest-1", "aws-cn")]
    [InlineData("us-gov-east-1", "aws-us-gov")]
    [InlineData("us-iso-west-1", "aws-iso")]
    [InlineData("us-isob-east-1", "aws-iso-b")]
    [InlineData("eu-isoe-west-1", "aws-iso-e")]
    [InlineData("us-isof-south-1", "aws-iso-f")]
    [InlineData("us-isof-east-1", "aws-iso-f")]
    [InlineData("eusc-de-east-1", "aws-eusc")]
    public void Each_region_maps_to_its_partition(string region, string partition)
    {
        Assert.Equal(partition, KeyScope.PartitionOf(region));
        Assert.Equal($"arn:{partition}:kms:{region}:111122223333:key/k", new KeyScope("111122223333", region).KeyArn("k"));
        Assert.Equal($"arn:{partition}:iam::111122223333:root", new KeyScope("111122223333", region).RootArn);
    }

    [Theory]
    [InlineData("cn-south-9", "aws-cn")]
    [InlineData("us-gov-north-9", "aws-us-gov")]
    [InlineData("us-iso-north-9", "aws-iso")]
    [InlineData("us-isob-west-9", "aws-iso-b")]
    [InlineData("eu-isoe-north-9", "aws-iso-e")]
    [InlineData("us-isof-west-9", "aws-iso-f")]
    [InlineData("eusc-fr-west-9", "aws-eusc")]
    [InlineData("xx-fake-9", "aws")]
    public void An_unlisted_region_takes_the_partition_its_name_follows(string region, string partition)
    {
        Assert.Equal(partition, AwsRegions.PartitionOf(region));
    }

    [Fact]
    public void Every_listed_region_follows_its_partitions_naming()
    {
        // The list and the naming rule agree, so a region added by configuration gets the partition AWS would give it.
        Assert.All(AwsRegions.PartitionByRegion, entry => Assert.Equal(entry.Value, AwsRegions.PartitionByName(entry.Key)));
    }
}
