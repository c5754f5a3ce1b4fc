using KmsEmulator.Api.Keys;
using KmsEmulator.Policy;

namespace KmsEmulator.Api.Tests;

public sealed class AwsManagedKeysTests
{
    private static readonly KeyScope Scope = new("111122223333", "us-east-1");

    [Fact]
    public void The_key_id_is_a_name_based_uuid_fixed_per_account_region_and_alias()
    {
        var s3 = AwsManagedKeys.Services["alias/aws/s3"];
        var id = AwsManagedKeys.KeyIdFor(Scope, s3);

        Assert.True(KeyIdentifierParser.IsKeyId(id));
        Assert.Equal('5', id[14]);
        Assert.Contains(id[19], "89ab");
        Assert.Equal(id, AwsManagedKeys.KeyIdFor(Scope, s3));
        Assert.NotEqual(id, AwsManagedKeys.KeyIdFor(Scope with { Region = "eu-west-1" }, s3));
        Assert.NotEqual(id, AwsManagedKeys.KeyIdFor(Scope with { AccountId = "444455556666" }, s3));
        Assert.NotEqual(id, AwsManagedKeys.KeyIdFor(Scope, AwsManagedKeys.Services["alias/aws/ebs"]));
    }

    [Fact]
    public void Every_predefined_alias_is_reserved_and_recognised()
    {
        Assert.All(AwsManagedKeys.Services.Values, s =>
        {
            Assert.StartsWith("alias/aws/", s.AliasName, StringComparison.Ordinal);
            Assert.True(AwsManagedKeys.MayName(s.AliasName));
            Assert.Matches("^[a-z0-9]+$", s.EndpointPrefix);
        });
        Assert.False(AwsManagedKeys.MayName("alias/app"));
        Assert.Equal("ec2.eu-west-1.amazonaws.com", AwsManagedKeys.Services["alias/aws/ebs"].ViaService("eu-west-1"));
    }

    [Theory]
    [InlineData("kms:Encrypt", "s3.us-east-1.amazonaws.com", "111122223333", true)]
    [InlineData("kms:GenerateDataKey", "s3.us-east-1.amazonaws.com", "111122223333", true)]
    [InlineData("kms:Encrypt", null, "111122223333", false)]
    [InlineData("kms:Encrypt", "ec2.us-east-1.amazonaws.com", "111122223333", false)]
    [InlineData("kms:Encrypt", "s3.us-east-1.amazonaws.com", "444455556666", false)]
    [InlineData("kms:ScheduleKeyDeletion", "s3.us-east-1.amazonaws.com", "111122223333", false)]
    public void The_managed_policy_allows_use_only_through_the_service_by_the_account(string action, string? viaService, string callerAccount, bool allowed)
    {
        var policy = PolicyDocument.Parse(AwsManagedKeys.PolicyFor(Scope, AwsManagedKeys.Services["alias/aws/s3"]));
        var keys = ContextKeys.CreateBuilder();
        if (viaService is not null)
        {
            keys.Add("kms:ViaService", viaService);
        }

        var request = new PolicyRequest($"arn:aws:iam::{callerAccount}:user/u", callerAccount, PrincipalType.IAMUser, action, Scope.KeyArn("k"), keys.Build());

        Assert.Equal(allowed, policy.Evaluate(request, PolicyType.Resource).IsAllowedDirectly);
    }
}
