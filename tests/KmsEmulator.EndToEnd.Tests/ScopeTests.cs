using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>Keys, aliases and ciphertexts are scoped per (account, region), taken from the SigV4 credential.</summary>
public sealed class ScopeTests(HostFixture fixture) : IClassFixture<HostFixture>
{
    private const string OtherRegion = "eu-west-1";

    private readonly AmazonKeyManagementServiceClient _kms = fixture.Kms;
    private readonly EmulatorHost _host = fixture.Host;

    [Fact]
    public async Task A_12_digit_access_key_acts_as_the_root_of_that_account()
    {
        using var other = _host.CreateClient(accessKeyId: "444455556666");

        var key = await other.NewKeyAsync();

        Assert.Equal("444455556666", key.AWSAccountId);
        Assert.Equal(Accounts.KeyArn(key.KeyId, "444455556666"), key.Arn);
    }

    [Fact]
    public async Task Another_account_does_not_see_the_default_accounts_keys_or_aliases()
    {
        var key = await _kms.NewKeyAsync();
        var alias = await _kms.NewAliasAsync(key.KeyId);
        using var other = _host.CreateClient(accessKeyId: "444455556666");
        var ownKey = await other.NewKeyAsync();

        var keys = await other.AllKeysAsync();
        var aliases = await other.AllAliasesAsync();

        Assert.DoesNotContain(keys, k => k.KeyId == key.KeyId);
        Assert.Contains(keys, k => k.KeyId == ownKey.KeyId);
        Assert.All(keys, k => Assert.Contains(":444455556666:key/", k.KeyArn, StringComparison.Ordinal));
        Assert.DoesNotContain(aliases, a => a.AliasName == alias);
        Assert.DoesNotContain(await _kms.AllKeysAsync(), k => k.KeyId == ownKey.KeyId);
        await KmsAssert.KeyDoesNotExistAsync(() => other.DescribeKeyAsync(new DescribeKeyRequest { KeyId = key.KeyId }), Accounts.KeyArn(key.KeyId, "444455556666"));
        await KmsAssert.AliasNotFoundAsync(() => other.DescribeKeyAsync(new DescribeKeyRequest { KeyId = alias }), Accounts.AliasArn(alias, "444455556666"));
    }

    [Fact]
    public async Task The_same_alias_name_can_exist_in_two_accounts()
    {
        using var other = _host.CreateClient(accessKeyId: Accounts.NewAccountId());
        var mine = await _kms.NewKeyAsync();
        var theirs = await other.NewKeyAsync();
        var alias = await _kms.NewAliasAsync(mine.KeyId);

        await other.NewAliasAsync(theirs.KeyId, alias);

        Assert.Equal(mine.KeyId, (await _kms.DescribeAsync(alias)).KeyId);
        Assert.Equal(theirs.KeyId, (await other.DescribeAsync(alias)).KeyId);
    }

    [Fact]
    public async Task Another_region_does_not_see_the_keys_of_us_east_1()
    {
        var key = await _kms.NewKeyAsync();
        using var west = _host.CreateClient(region: OtherRegion);
        var westKey = await west.NewKeyAsync();

        var westKeys = await west.AllKeysAsync();

        Assert.Equal(Accounts.KeyArn(westKey.KeyId, region: OtherRegion), westKey.Arn);
        Assert.DoesNotContain(westKeys, k => k.KeyId == key.KeyId);
        Assert.Contains(westKeys, k => k.KeyId == westKey.KeyId);
        Assert.DoesNotContain(await _kms.AllKeysAsync(), k => k.KeyId == westKey.KeyId);
    }

    [Fact]
    public async Task A_key_id_of_another_region_returns_NotFoundException_with_the_callers_region()
    {
        var key = await _kms.NewKeyAsync();
        using var west = _host.CreateClient(region: OtherRegion);

        await KmsAssert.KeyDoesNotExistAsync(
            () => west.DescribeKeyAsync(new DescribeKeyRequest { KeyId = key.KeyId }),
            Accounts.KeyArn(key.KeyId, region: OtherRegion));
    }

    [Fact]
    public async Task A_key_ARN_of_another_region_returns_NotFoundException()
    {
        var key = await _kms.NewKeyAsync();
        using var west = _host.CreateClient(region: OtherRegion);

        await KmsAssert.ErrorAsync<NotFoundException>(() => west.DescribeKeyAsync(new DescribeKeyRequest { KeyId = key.Arn }), "Invalid arn us-east-1");
        await KmsAssert.ErrorAsync<NotFoundException>(() => west.EncryptTextAsync(key.Arn, "x"), "Invalid arn us-east-1");
        await KmsAssert.ErrorAsync<NotFoundException>(() => west.EnableKeyAsync(new EnableKeyRequest { KeyId = key.Arn }), "Invalid arn us-east-1");
    }

    [Fact]
    public async Task A_ciphertext_cannot_be_decrypted_in_another_region()
    {
        var key = await _kms.NewKeyAsync();
        var ciphertext = (await _kms.EncryptTextAsync(key.KeyId, "stays home")).CiphertextBlob;
        using var west = _host.CreateClient(region: OtherRegion);

        await KmsAssert.ErrorAsync(() => west.DecryptBlobAsync(ciphertext), "AccessDeniedException", KmsAssert.CiphertextKeyGoneMessage);
        Assert.Equal("stays home", Blob.Text((await _kms.DecryptBlobAsync(ciphertext)).Plaintext));
    }

    [Fact]
    public async Task Key_ARNs_in_responses_carry_the_callers_region_and_account()
    {
        var account = Accounts.NewAccountId();
        using var client = _host.CreateClient(accessKeyId: account, region: "ap-southeast-2");
        var key = await client.NewKeyAsync();

        var encrypted = await client.EncryptTextAsync(key.KeyId, "x");
        var alias = await client.NewAliasAsync(key.KeyId);
        var entry = Assert.Single(await client.OwnAliasesAsync());

        Assert.Equal($"arn:aws:kms:ap-southeast-2:{account}:key/{key.KeyId}", key.Arn);
        Assert.Equal(account, key.AWSAccountId);
        Assert.Equal(key.Arn, encrypted.KeyId);
        Assert.Equal($"arn:aws:kms:ap-southeast-2:{account}:{alias}", entry.AliasArn);
    }
}
