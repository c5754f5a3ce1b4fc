using System.Text.Json;

namespace KmsEmulator.Policy.Tests;

public sealed class PolicyDocumentTests
{
    [Fact]
    public void The_default_key_policy_gives_the_account_full_access_in_AWS_layout()
    {
        var policy = DefaultKeyPolicy.For("arn:aws:iam::111122223333:root");

        using var document = JsonDocument.Parse(policy);
        var statement = Assert.Single(document.RootElement.GetProperty("Statement").EnumerateArray());
        Assert.Equal("2012-10-17", document.RootElement.GetProperty("Version").GetString());
        Assert.Equal("key-default-1", document.RootElement.GetProperty("Id").GetString());
        Assert.Equal("Enable IAM User Permissions", statement.GetProperty("Sid").GetString());
        Assert.Equal("arn:aws:iam::111122223333:root", statement.GetProperty("Principal").GetProperty("AWS").GetString());
        Assert.Equal("kms:*", statement.GetProperty("Action").GetString());
        Assert.Equal("*", statement.GetProperty("Resource").GetString());
        Assert.StartsWith("{\n  \"Version\" : \"2012-10-17\",\n", policy, StringComparison.Ordinal);
        Assert.Null(PolicyDocumentCheck.FindProblem(policy));
    }

    [Theory]
    [InlineData("{\"Statement\":{\"Effect\":\"Allow\"}}")]
    [InlineData("{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Deny\",\"Action\":\"kms:*\"}]}")]
    public void Well_formed_policies_pass(string policy)
    {
        Assert.Null(PolicyDocumentCheck.FindProblem(policy));
    }

    [Theory]
    [InlineData("not json", "The policy document is not valid JSON.")]
    [InlineData("[1]", "The policy document must be a JSON object.")]
    [InlineData("{}", "The policy document has no Statement element.")]
    [InlineData("{\"Statement\":\"x\"}", "The Statement element must be an object or an array of objects.")]
    [InlineData("{\"Statement\":[1]}", "Each statement must be a JSON object.")]
    [InlineData("{\"Statement\":[{\"Effect\":\"Maybe\"}]}", "Each statement must have an Effect of Allow or Deny.")]
    public void Malformed_policies_are_named(string policy, string problem)
    {
        Assert.Equal(problem, PolicyDocumentCheck.FindProblem(policy));
    }
}
