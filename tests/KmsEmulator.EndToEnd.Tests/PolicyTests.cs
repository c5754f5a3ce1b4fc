using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>GetKeyPolicy, PutKeyPolicy, ListKeyPolicies.</summary>
public sealed class PolicyTests(HostFixture fixture) : IClassFixture<HostFixture>
{
    private readonly AmazonKeyManagementServiceClient _kms = fixture.Kms;
    private readonly EmulatorHost _host = fixture.Host;

    private static string DefaultPolicy(string account) =>
        "{\n" +
        "  \"Version\" : \"2012-10-17\",\n" +
        "  \"Id\" : \"key-default-1\",\n" +
        "  \"Statement\" : [ {\n" +
        "    \"Sid\" : \"Enable IAM User Permissions\",\n" +
        "    \"Effect\" : \"Allow\",\n" +
        "    \"Principal\" : {\n" +
        $"      \"AWS\" : \"arn:aws:iam::{account}:root\"\n" +
        "    },\n" +
        "    \"Action\" : \"kms:*\",\n" +
        "    \"Resource\" : \"*\"\n" +
        "  } ]\n" +
        "}";

    [Fact]
    public async Task A_key_created_without_a_policy_has_the_default_key_policy()
    {
        var key = await _kms.NewKeyAsync();

        var named = await _kms.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = key.KeyId, PolicyName = "default" });
        var unnamed = await _kms.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = key.Arn });

        Assert.Equal(DefaultPolicy(Accounts.Default), named.Policy);
        Assert.Equal("default", named.PolicyName);
        Assert.Equal(DefaultPolicy(Accounts.Default), unnamed.Policy);
    }

    [Fact]
    public async Task The_default_key_policy_names_the_root_of_the_keys_own_account()
    {
        var account = Accounts.NewAccountId();
        using var other = _host.CreateClient(accessKeyId: account);
        var key = await other.NewKeyAsync();

        var policy = await other.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = key.KeyId, PolicyName = "default" });

        Assert.Equal(DefaultPolicy(account), policy.Policy);
    }

    [Fact]
    public async Task PutKeyPolicy_and_GetKeyPolicy_round_trip_the_policy_text()
    {
        var key = await _kms.NewKeyAsync();
        const string policy =
            """
            {"Version":"2012-10-17","Id":"custom",
              "Statement":[{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
                           {"Sid":"Reader","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/Reader"},"Action":["kms:Decrypt","kms:DescribeKey"],"Resource":"*"}]}
            """;

        await _kms.PutKeyPolicyAsync(new PutKeyPolicyRequest { KeyId = key.KeyId, PolicyName = "default", Policy = policy });
        var stored = await _kms.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = key.KeyId, PolicyName = "default" });

        Assert.Equal(policy, stored.Policy);
        Assert.Equal("default", stored.PolicyName);
    }

    [Fact]
    public async Task CreateKey_with_a_policy_stores_it_verbatim()
    {
        const string policy = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"111122223333\"},\"Action\":\"kms:*\",\"Resource\":\"*\"}]}";
        var key = (await _kms.CreateKeyAsync(new CreateKeyRequest { Policy = policy })).KeyMetadata;

        Assert.Equal(policy, (await _kms.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = key.KeyId, PolicyName = "default" })).Policy);
    }

    [Fact]
    public async Task ListKeyPolicies_returns_only_the_default_policy()
    {
        var key = await _kms.NewKeyAsync();

        var response = await _kms.ListKeyPoliciesAsync(new ListKeyPoliciesRequest { KeyId = key.KeyId });

        Assert.Equal(["default"], response.PolicyNames);
        Assert.False(response.Truncated);
        Assert.Null(response.NextMarker);
    }

    [Fact]
    public async Task A_policy_that_is_not_JSON_returns_MalformedPolicyDocumentException()
    {
        var key = await _kms.NewKeyAsync();

        await KmsAssert.ErrorAsync<MalformedPolicyDocumentException>(
            () => _kms.PutKeyPolicyAsync(new PutKeyPolicyRequest { KeyId = key.KeyId, PolicyName = "default", Policy = "this is not a policy" }));
        Assert.Equal(DefaultPolicy(Accounts.Default), (await _kms.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = key.KeyId, PolicyName = "default" })).Policy);
    }

    [Fact]
    public async Task Policy_operations_on_an_unknown_key_return_NotFoundException()
    {
        var keyId = Guid.NewGuid().ToString();

        await KmsAssert.KeyDoesNotExistAsync(() => _kms.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = keyId, PolicyName = "default" }), Accounts.KeyArn(keyId));
        await KmsAssert.KeyDoesNotExistAsync(() => _kms.ListKeyPoliciesAsync(new ListKeyPoliciesRequest { KeyId = keyId }), Accounts.KeyArn(keyId));
        await KmsAssert.KeyDoesNotExistAsync(
            () => _kms.PutKeyPolicyAsync(new PutKeyPolicyRequest { KeyId = keyId, PolicyName = "default", Policy = DefaultPolicy(Accounts.Default) }),
            Accounts.KeyArn(keyId));
    }
}
