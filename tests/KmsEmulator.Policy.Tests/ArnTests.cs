namespace KmsEmulator.Policy.Tests;

public sealed class ArnTests
{
    [Theory]
    [InlineData("arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", "aws", "kms", "us-east-1", "111122223333", "key/1234abcd-12ab-34cd-56ef-1234567890ab")]
    [InlineData("arn:aws-cn:iam::111122223333:root", "aws-cn", "iam", "", "111122223333", "root")]
    [InlineData("arn:aws:s3:::bucket:with:colons", "aws", "s3", "", "", "bucket:with:colons")]
    public void An_ARN_splits_into_six_parts_and_the_resource_keeps_its_colons(string text, string partition, string service, string region, string account, string resource)
    {
        Assert.True(Arn.TryParse(text, out var arn));
        Assert.Equal(new Arn(partition, service, region, account, resource), arn);
        Assert.Equal(text, arn.ToString());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("alias/app")]
    [InlineData("arn:aws:kms:us-east-1")]
    [InlineData("urn:aws:kms:us-east-1:111122223333:key/x")]
    public void Anything_else_is_not_an_ARN(string? text) => Assert.False(Arn.TryParse(text, out _));

    [Theory]
    [InlineData("arn:aws:iam::111122223333:root", true, true)]
    [InlineData("arn:aws-us-gov:iam::111122223333:root", true, true)]
    [InlineData("arn:aws:iam::111122223333:user/dave", true, false)]
    [InlineData("arn:aws:iam::11112222333:root", false, false)]
    [InlineData("arn:aws:iam:us-east-1:111122223333:root", false, false)]
    [InlineData("arn:aws:kms:us-east-1:111122223333:key/x", false, false)]
    [InlineData("arn:other:iam::111122223333:root", false, false)]
    public void Principal_ARNs_are_IAM_or_STS_ARNs_without_a_region(string text, bool principal, bool root)
    {
        Assert.True(Arn.TryParse(text, out var arn));
        Assert.Equal(principal, arn.IsPrincipal);
        Assert.Equal(root, arn.IsAccountRoot);
    }

    [Theory]
    [InlineData("arn:aws:sts::111122223333:assumed-role/App/worker-1", "arn:aws:iam::111122223333:role/App")]
    [InlineData("arn:aws-cn:sts::111122223333:assumed-role/App/s", "arn:aws-cn:iam::111122223333:role/App")]
    [InlineData("arn:aws:sts::111122223333:assumed-role/App/", null)]
    [InlineData("arn:aws:sts::111122223333:assumed-role/App", null)]
    [InlineData("arn:aws:iam::111122223333:role/App", null)]
    [InlineData("arn:aws:sts::111122223333:federated-user/bob", null)]
    public void A_role_session_knows_its_role(string session, string? role)
    {
        Assert.True(Arn.TryParse(session, out var arn));
        Assert.Equal(role, arn.RoleOfSession());
    }
}
