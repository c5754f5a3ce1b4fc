using System.Reflection;
using System.Runtime.ExceptionServices;
using System.Text;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using KmsEmulator.Api.Hosting;
using KmsEmulator.Api.Keys;
using KmsEmulator.Hsm;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Time.Testing;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>--seed: declared keys with fixed ids, applied on every start, conflicts refused whole (docs/seeding.md).</summary>
public sealed class SeedTests
{
    private const string AppKey = "11111111-2222-4333-8444-555555555555";
    private const string MacKey = "22222222-2222-4333-8444-555555555555";
    private const string SignKey = "33333333-2222-4333-8444-555555555555";
    private const string Policy = """{ "Version": "2012-10-17", "Statement": [ { "Sid": "Root", "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::111122223333:root" }, "Action": "kms:*", "Resource": "*" } ] }""";

    private static string SeedJson(string macKeySpec = "HMAC_256", string extra = "") => $$"""
        { "Keys": [
            { "KeyId": "{{AppKey}}", "Description": "the app's key", "Aliases": ["alias/app", "alias/app-old"],
              "Tags": { "team": "payments", "env": "ci" }, "Policy": {{Policy}}, "Rotation": { "Enabled": true, "PeriodInDays": 180 } },
            { "KeyId": "{{MacKey}}", "KeySpec": "{{macKeySpec}}", "Enabled": false },
            { "KeyId": "{{SignKey}}", "KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY", "Aliases": ["alias/signer"] }{{extra}}
        ] }
        """;

    private static string WriteSeed(string name, string text)
    {
        var path = Path.Combine(Path.GetTempPath(), $"kmsemu-seed-{Guid.NewGuid():N}", name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        return path;
    }

    private static async Task<int> HsmObjectsAsync(EmulatorHost host)
    {
        var prefix = host.Services.GetRequiredService<KeyWriter>().HsmLabelPrefix;
        return (await host.Services.GetRequiredService<IKeyMaterialBackend>().IndexAsync(prefix, [])).KeyObjects;
    }

    [Fact]
    public async Task Seed_gives_the_declared_keys_and_a_restart_keeps_them_without_new_hsm_objects()
    {
        var seed = WriteSeed("seed.json", SeedJson());
        var host = await EmulatorHost.StartNewAsync("--seed", seed);
        byte[] ciphertext;
        int objects;
        DateTime created;
        try
        {
            using var kms = host.CreateClient();
            var app = (await kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = "alias/app" })).KeyMetadata;
            Assert.Equal(AppKey, app.KeyId);
            Assert.Equal($"arn:aws:kms:us-east-1:111122223333:key/{AppKey}", app.Arn);
            Assert.Equal("the app's key", app.Description);
            Assert.Equal(KeyState.Enabled, app.KeyState);
            created = app.CreationDate!.Value;

            var aliases = (await kms.ListAliasesAsync(new ListAliasesRequest { KeyId = AppKey })).Aliases.Select(a => a.AliasName).Order();
            Assert.Equal(["alias/app", "alias/app-old"], aliases);
            var tags = (await kms.ListResourceTagsAsync(new ListResourceTagsRequest { KeyId = AppKey })).Tags.ToDictionary(t => t.TagKey, t => t.TagValue);
            Assert.Equal(new Dictionary<string, string> { ["team"] = "payments", ["env"] = "ci" }, tags);
            Assert.Equal(Policy, (await kms.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = AppKey })).Policy);
            var rotation = await kms.GetKeyRotationStatusAsync(new GetKeyRotationStatusRequest { KeyId = AppKey });
            Assert.True(rotation.KeyRotationEnabled);
            Assert.Equal(180, rotation.RotationPeriodInDays);

            var mac = (await kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = MacKey })).KeyMetadata;
            Assert.Equal(KeyState.Disabled, mac.KeyState);
            Assert.Equal(KeySpec.HMAC_256, mac.KeySpec);
            var signer = (await kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = "alias/signer" })).KeyMetadata;
            Assert.Equal(SignKey, signer.KeyId);
            Assert.Equal(KeyUsageType.SIGN_VERIFY, signer.KeyUsage);

            ciphertext = (await kms.EncryptAsync(new EncryptRequest { KeyId = "alias/app", Plaintext = new MemoryStream(Encoding.UTF8.GetBytes("seeded")) })).CiphertextBlob.ToArray();
            objects = await HsmObjectsAsync(host);
        }
        finally
        {
            await host.StopAsync();
        }

        await using var restarted = await EmulatorHost.StartAsync(host.DataDir, host.TokenLabel, host.Clock, host.ExtraArgs);
        using var again = restarted.CreateClient();
        Assert.Equal(objects, await HsmObjectsAsync(restarted));
        var after = (await again.DescribeKeyAsync(new DescribeKeyRequest { KeyId = "alias/app" })).KeyMetadata;
        Assert.Equal(created, after.CreationDate);
        var plaintext = await again.DecryptAsync(new DecryptRequest { CiphertextBlob = new MemoryStream(ciphertext) });
        Assert.Equal("seeded", Encoding.UTF8.GetString(plaintext.Plaintext.ToArray()));
        Assert.Equal(AppKey, plaintext.KeyId.Split('/')[^1]);
        Assert.Equal(3, (await again.ListKeysAsync(new ListKeysRequest())).Keys.Count);
    }

    [Fact]
    public async Task A_conflicting_seed_fails_the_start_naming_entry_and_field_and_applies_nothing()
    {
        var seed = WriteSeed("seed.json", SeedJson());
        var host = await EmulatorHost.StartNewAsync("--seed", seed);
        var objects = await HsmObjectsAsync(host);
        await host.StopAsync();

        // A new key and a changed spec: the change is refused, and the new key is not created either.
        const string newKey = "44444444-2222-4333-8444-555555555555";
        File.WriteAllText(seed, SeedJson("HMAC_512", $$""", { "KeyId": "{{newKey}}", "Aliases": ["alias/new"] }"""));
        var failure = await Assert.ThrowsAsync<SeedException>(() => EmulatorHost.StartAsync(host.DataDir, host.TokenLabel, host.Clock, host.ExtraArgs));
        Assert.Contains($"Keys[1] (key id {MacKey}), field KeySpec conflicts with the existing key: the key exists with HMAC_256, the seed says HMAC_512", failure.Message, StringComparison.Ordinal);
        Assert.Contains(seed, failure.Message, StringComparison.Ordinal);

        // An alias the seed gives to one key that already points at another.
        File.WriteAllText(seed, $$"""{ "Keys": [ { "KeyId": "{{newKey}}", "Aliases": ["alias/signer"] } ] }""");
        failure = await Assert.ThrowsAsync<SeedException>(() => EmulatorHost.StartAsync(host.DataDir, host.TokenLabel, host.Clock, host.ExtraArgs));
        Assert.Contains($"Keys[0] (key id {newKey}), field Aliases conflicts with the existing key: alias/signer points at key {SignKey}", failure.Message, StringComparison.Ordinal);

        File.WriteAllText(seed, SeedJson());
        await using var restarted = await EmulatorHost.StartAsync(host.DataDir, host.TokenLabel, host.Clock, host.ExtraArgs);
        using var kms = restarted.CreateClient();
        Assert.Equal(objects, await HsmObjectsAsync(restarted));
        await Assert.ThrowsAsync<NotFoundException>(() => kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = newKey }));
        Assert.Equal(KeySpec.HMAC_256, (await kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = MacKey })).KeyMetadata.KeySpec);
    }

    [Fact]
    public async Task A_changed_description_is_a_conflict_and_a_deleted_alias_comes_back()
    {
        var seed = WriteSeed("seed.yaml", $"""
            Keys:
              - KeyId: {AppKey}
                Description: declared
                Aliases: [alias/yaml-app]
            """);
        var host = await EmulatorHost.StartNewAsync("--seed", seed);
        using (var kms = host.CreateClient())
        {
            await kms.DeleteAliasAsync(new DeleteAliasRequest { AliasName = "alias/yaml-app" });
        }

        host = await host.RestartAsync();
        using (var kms = host.CreateClient())
        {
            Assert.Equal(AppKey, (await kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = "alias/yaml-app" })).KeyMetadata.KeyId);
            await kms.UpdateKeyDescriptionAsync(new UpdateKeyDescriptionRequest { KeyId = AppKey, Description = "changed" });
        }

        await host.StopAsync();
        var failure = await Assert.ThrowsAsync<SeedException>(() => EmulatorHost.StartAsync(host.DataDir, host.TokenLabel, host.Clock, host.ExtraArgs));
        Assert.Contains($"Keys[0] (key id {AppKey}), field Description conflicts", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_malformed_seed_fails_the_start_clearly()
    {
        var seed = WriteSeed("seed.yml", "Keys:\n  - KeyId: [unclosed\n");
        var failure = await Assert.ThrowsAsync<SeedException>(() => EmulatorHost.StartNewAsync("--seed", seed));
        Assert.Contains($"Seed file {seed}: not valid YAML", failure.Message, StringComparison.Ordinal);

        File.WriteAllText(seed, $"Keys:\n  - KeyId: {AppKey}\n    Aliases: [alias/aws/s3]\n");
        failure = await Assert.ThrowsAsync<SeedException>(() => EmulatorHost.StartNewAsync("--seed", seed));
        Assert.Contains($"Keys[0] (key id {AppKey}), field Aliases", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_failed_apply_removes_the_keys_and_aliases_it_created()
    {
        var seed = WriteSeed("seed.json", SeedJson());
        var dataDir = Path.Combine(Path.GetTempPath(), $"kmsemu-seed-{Guid.NewGuid():N}", "data");
        var token = "s" + Guid.NewGuid().ToString("N")[..12];
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);

        // The signing key (the third entry) cannot be made: the two keys before it were created and must go again.
        var failure = await Assert.ThrowsAsync<SeedException>(() => EmulatorHost.StartConfiguredAsync(dataDir, token, clock, FailingCreateFor(SignKey), "--seed", seed));
        Assert.Contains("applying it failed", failure.Message, StringComparison.Ordinal);
        Assert.Contains("nothing of it was kept", failure.Message, StringComparison.Ordinal);

        await using var host = await EmulatorHost.StartAsync(dataDir, token, clock);
        using var kms = host.CreateClient();
        Assert.Empty((await kms.ListKeysAsync(new ListKeysRequest())).Keys);
        Assert.DoesNotContain((await kms.ListAliasesAsync(new ListAliasesRequest())).Aliases, a => a.TargetKeyId is not null);
        Assert.Equal(0, await HsmObjectsAsync(host));
    }

    private static Action<WebApplicationBuilder> FailingCreateFor(string keyId) => builder =>
    {
        var original = builder.Services.Last(d => d.ServiceType == typeof(IKeyMaterialBackend));
        builder.Services.Replace(ServiceDescriptor.Singleton<IKeyMaterialBackend>(services =>
        {
            var proxy = DispatchProxy.Create<IKeyMaterialBackend, FailingHsm>();
            ((FailingHsm)(object)proxy).Setup((IKeyMaterialBackend)original.ImplementationFactory!(services), keyId);
            return proxy;
        }));
    };

    /// <summary>The real HSM, except that creating material for one key id fails.</summary>
    public class FailingHsm : DispatchProxy
    {
        private IKeyMaterialBackend? _inner;
        private string _keyId = string.Empty;

        public void Setup(IKeyMaterialBackend inner, string keyId) => (_inner, _keyId) = (inner, keyId);

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            if (targetMethod!.Name.StartsWith("Create", StringComparison.Ordinal) && args?[0] is string label && label.Contains(_keyId, StringComparison.Ordinal))
            {
                throw new InvalidOperationException("the test's HSM refuses to create " + label);
            }

            try
            {
                return targetMethod.Invoke(_inner, args);
            }
            catch (TargetInvocationException e) when (e.InnerException is not null)
            {
                ExceptionDispatchInfo.Throw(e.InnerException);
                throw;
            }
        }
    }
}
