using Amazon.KeyManagementService.Model;
using static KmsEmulator.EndToEnd.Tests.StrictPrincipals;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>
/// Strict mode takes a credential scope only for a region of the AWS partitions or one added by
/// <c>Kms:Auth:AdditionalRegions</c>; anything else is AWS's InvalidSignatureException, before any key is touched.
/// </summary>
public sealed class StrictCredentialRegionTests : IAsyncLifetime
{
    private const string AddedRegion = "xx-lab-1";
    private EmulatorHost _host = null!;

    public async Task InitializeAsync() => _host = await EmulatorHost.StartWithConfigAsync(new
    {
        Kms = new
        {
            Auth = new { Mode = "Strict", AdditionalRegions = new[] { AddedRegion } },
            Principals = new[] { Alice.ToConfiguration() },
        },
    });

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task A_request_signed_for_a_region_AWS_does_not_have_is_an_InvalidSignatureException()
    {
        using var fake = _host.Client(Alice, region: "xx-fake-9");

        await KmsAssert.ErrorAsync(
            () => fake.CreateKeyAsync(new CreateKeyRequest()),
            "InvalidSignatureException",
            "Credential should be scoped to a valid region, not 'xx-fake-9'.");
        await KmsAssert.ErrorAsync(() => fake.ListKeysAsync(new ListKeysRequest()), "InvalidSignatureException");
    }

    [Fact]
    public async Task A_region_added_by_configuration_is_a_region_of_its_own()
    {
        using var lab = _host.Client(Alice, region: AddedRegion);
        using var east = _host.Client(Alice);

        var key = (await lab.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata;
        var ciphertext = (await lab.EncryptTextAsync(key.KeyId, "lab")).CiphertextBlob;

        Assert.Equal($"arn:aws:kms:{AddedRegion}:111122223333:key/{key.KeyId}", key.Arn);
        Assert.Equal("lab", Blob.Text((await lab.DecryptBlobAsync(ciphertext)).Plaintext));
        Assert.Contains(await lab.AllKeysAsync(), k => k.KeyId == key.KeyId);
        Assert.DoesNotContain(await east.AllKeysAsync(), k => k.KeyId == key.KeyId);
    }

    [Fact]
    public async Task A_region_of_the_AWS_partition_works_without_configuration()
    {
        using var west = _host.Client(Alice, region: "eu-west-1");

        var key = (await west.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata;

        Assert.Equal($"arn:aws:kms:eu-west-1:111122223333:key/{key.KeyId}", key.Arn);
    }

    [Theory]
    [InlineData("eusc-de-east-1", "aws-eusc")]
    [InlineData("eu-isoe-west-1", "aws-iso-e")]
    [InlineData("us-isof-south-1", "aws-iso-f")]
    [InlineData("cn-north-1", "aws-cn")]
    public async Task A_region_of_another_partition_has_ARNs_of_that_partition(string region, string partition)
    {
        using var client = _host.Client(Alice, region: region);

        var key = (await client.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata;
        var ciphertext = (await client.EncryptTextAsync(key.KeyId, "sovereign")).CiphertextBlob;

        Assert.Equal($"arn:{partition}:kms:{region}:111122223333:key/{key.KeyId}", key.Arn);
        Assert.Contains($"arn:{partition}:iam::111122223333:root", (await client.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = key.KeyId })).Policy, StringComparison.Ordinal);
        Assert.Equal("sovereign", Blob.Text((await client.DecryptBlobAsync(ciphertext)).Plaintext));
    }
}

/// <summary>Permissive mode (the default) authenticates loosely by design: any well-formed region is a region.</summary>
public sealed class PermissiveCredentialRegionTests(HostFixture fixture) : IClassFixture<HostFixture>
{
    [Fact]
    public async Task A_request_signed_for_any_well_formed_region_is_served_in_that_region()
    {
        using var fake = fixture.Host.CreateClient(region: "xx-fake-9");

        var key = (await fake.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata;

        Assert.Equal(Accounts.KeyArn(key.KeyId, region: "xx-fake-9"), key.Arn);
    }
}
