using Amazon.KeyManagementService.Model;
using static KmsEmulator.EndToEnd.Tests.StrictPrincipals;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>
/// Strict mode started from a hand-written --config file whose identity policies are JSON objects with condition
/// keys containing ':' (kms:EncryptionContext:app, aws:SourceIp), booleans and numbers: they decide as written.
/// </summary>
public sealed class ConfigurationFileTests : IAsyncLifetime
{
    private static readonly Principal Frank = new("arn:aws:iam::111122223333:user/frank", "AKIDFRANK", "frank-secret");
    private static readonly Principal Grace = new("arn:aws:iam::111122223333:user/grace", "AKIDGRACE", "grace-secret");

    /// <summary>
    /// Frank may encrypt and decrypt for app=billing over plain HTTP from loopback until 2100, but never decrypt from
    /// 127.0.0.1; grace has the same policy except that it requires HTTPS (the emulator speaks HTTP).
    /// </summary>
    private const string ConfigFile = """
        {
          "Kms": {
            "Auth": { "Mode": "Strict" },
            "Principals": [
              { "Arn": "arn:aws:iam::111122223333:root", "AccessKeyId": "AKIDADMIN", "SecretAccessKey": "admin-secret" },
              {
                "Arn": "arn:aws:iam::111122223333:user/frank", "AccessKeyId": "AKIDFRANK", "SecretAccessKey": "frank-secret",
                "IdentityPolicies": [
                  { "Version": "2012-10-17", "Statement": [
                    { "Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*",
                      "Condition": {
                        "StringEquals": { "kms:EncryptionContext:app": "billing" },
                        "IpAddress": { "aws:SourceIp": "127.0.0.0/8" },
                        "Bool": { "aws:SecureTransport": false },
                        "NumericLessThan": { "aws:EpochTime": 4102444800 } } },
                    { "Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*",
                      "Condition": { "IpAddress": { "aws:SourceIp": "127.0.0.1/32" } } } ] }
                ]
              },
              {
                "Arn": "arn:aws:iam::111122223333:user/grace", "AccessKeyId": "AKIDGRACE", "SecretAccessKey": "grace-secret",
                "IdentityPolicies": [
                  { "Version": "2012-10-17", "Statement": [
                    { "Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*",
                      "Condition": {
                        "StringEquals": { "kms:EncryptionContext:app": "billing" },
                        "Bool": { "aws:SecureTransport": true } } } ] }
                ]
              }
            ]
          }
        }
        """;

    private EmulatorHost _host = null!;

    public async Task InitializeAsync() => _host = await EmulatorHost.StartWithConfigFileAsync(ConfigFile);

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private async Task<KeyMetadata> AdminKeyAsync()
    {
        using var admin = _host.Client(Admin);
        return (await admin.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata;
    }

    private static string Denied(Principal who, string action, string keyArn, string reason) =>
        $"User: {who.Arn} is not authorized to perform: {action} on resource: {keyArn} {reason}";

    [Fact]
    public async Task An_identity_policy_object_with_an_encryption_context_condition_allows_only_the_context_it_names()
    {
        var key = await AdminKeyAsync();
        using var frank = _host.Client(Frank);

        var encrypted = await frank.EncryptTextAsync(key.KeyId, "invoice", Blob.Context(("app", "billing")));

        Assert.Equal(key.Arn, encrypted.KeyId);
        await KmsAssert.ErrorAsync(
            () => frank.EncryptTextAsync(key.KeyId, "other", Blob.Context(("app", "other"))),
            "AccessDeniedException",
            Denied(Frank, "kms:Encrypt", key.Arn, "because no identity-based policy allows the kms:Encrypt action"));
        await KmsAssert.ErrorAsync(() => frank.EncryptTextAsync(key.KeyId, "none"), "AccessDeniedException");
    }

    [Fact]
    public async Task Source_IP_and_boolean_conditions_of_an_identity_policy_object_decide_as_written()
    {
        var key = await AdminKeyAsync();
        using var frank = _host.Client(Frank);
        using var grace = _host.Client(Grace);
        var encrypted = await frank.EncryptTextAsync(key.KeyId, "invoice", Blob.Context(("app", "billing")));

        await KmsAssert.ErrorAsync(
            () => frank.DecryptBlobAsync(encrypted.CiphertextBlob, Blob.Context(("app", "billing")), keyId: key.KeyId),
            "AccessDeniedException",
            Denied(Frank, "kms:Decrypt", key.Arn, "with an explicit deny in an identity-based policy"));
        await KmsAssert.ErrorAsync(
            () => grace.EncryptTextAsync(key.KeyId, "invoice", Blob.Context(("app", "billing"))),
            "AccessDeniedException",
            Denied(Grace, "kms:Encrypt", key.Arn, "because no identity-based policy allows the kms:Encrypt action"));
    }
}
