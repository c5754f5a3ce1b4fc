using KmsEmulator.Api.Protocol;
using Microsoft.Extensions.Configuration;

namespace KmsEmulator.Api.Tests;

public sealed class PrincipalDirectoryTests
{
    [Fact]
    public void A_principal_carries_its_identity_policies_and_ViaService()
    {
        var directory = PrincipalDirectory.FromConfiguration(Configuration(new()
        {
            ["Kms:Principals:0:ViaService"] = "ec2.us-east-1.amazonaws.com",
            ["Kms:Principals:0:IdentityPolicies:0"] = """{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}""",
        }));

        var identity = directory.Find("AKIDDAVE")!.Identity;

        Assert.Equal("ec2.us-east-1.amazonaws.com", identity.ViaService);
        Assert.Single(identity.IdentityPolicies);
        Assert.Equal(KmsEmulator.Policy.PrincipalType.IAMUser, identity.PrincipalType);
    }

    [Fact]
    public void Without_ViaService_requests_are_direct_calls()
    {
        var directory = PrincipalDirectory.FromConfiguration(Configuration([]));

        Assert.Null(directory.Find("AKIDDAVE")!.Identity.ViaService);
    }

    [Theory]
    [InlineData("ec2")]
    [InlineData("https://ec2.us-east-1.amazonaws.com")]
    [InlineData("ec2.us-east-1.example.com")]
    public void A_ViaService_that_is_no_service_endpoint_stops_start_up(string value)
    {
        var error = Assert.Throws<InvalidOperationException>(() =>
            PrincipalDirectory.FromConfiguration(Configuration(new() { ["Kms:Principals:0:ViaService"] = value })));

        Assert.Contains($"ViaService '{value}'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_identity_policy_split_into_configuration_keys_stops_start_up_with_a_message_naming_it()
    {
        var error = Assert.Throws<InvalidOperationException>(() => PrincipalDirectory.FromConfiguration(Configuration(new()
        {
            ["Kms:Principals:0:IdentityPolicies:0:Version"] = "2012-10-17",
            ["Kms:Principals:0:IdentityPolicies:0:Statement:Effect"] = "Allow",
        })));

        Assert.StartsWith("Kms:Principals:0:IdentityPolicies:0: give the policy document as a JSON object", error.Message, StringComparison.Ordinal);
    }

    private static IConfiguration Configuration(Dictionary<string, string?> extra) =>
        new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Kms:Principals:0:Arn"] = "arn:aws:iam::111122223333:user/dave",
            ["Kms:Principals:0:AccessKeyId"] = "AKIDDAVE",
            ["Kms:Principals:0:SecretAccessKey"] = "dave-secret",
        }.Concat(extra)).Build();
}
