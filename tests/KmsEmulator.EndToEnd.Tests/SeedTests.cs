using System.Reflection;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
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

    // ---------------------------------------------------------------- imported material, multi-Region keys, grants, lockout

    private const string ExternalKey = "55555555-2222-4333-8444-555555555555";
    private const string ExternalMac = "66666666-2222-4333-8444-555555555555";
    private const string ExternalSigner = "77777777-2222-4333-8444-555555555555";
    private const string MrkKey = "mrk-1234abcd12ab34cd56ef1234567890ab";
    private const string ExternalMrk = "mrk-99999999aaaabbbbccccddddeeeeffff";

    /// <summary>Fixed material: 32 bytes counting from <paramref name="first"/>.</summary>
    private static byte[] Material(int first, int length = 32) => Enumerable.Range(first, length).Select(i => (byte)i).ToArray();

    private static string ExternalSeed(byte[] aes) => $$"""
        { "Keys": [ { "KeyId": "{{ExternalKey}}", "Origin": "EXTERNAL", "KeyMaterial": "{{Convert.ToBase64String(aes)}}", "Aliases": ["alias/imported"] } ] }
        """;

    [Fact]
    public async Task An_external_key_gets_the_given_material_and_a_restart_with_other_material_fails_naming_the_field()
    {
        var seed = WriteSeed("seed.json", ExternalSeed(Material(1)));
        var host = await EmulatorHost.StartNewAsync("--seed", seed);
        byte[] ciphertext;
        int objects;
        try
        {
            using var kms = host.CreateClient();
            var key = (await kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = "alias/imported" })).KeyMetadata;
            Assert.Equal(ExternalKey, key.KeyId);
            Assert.Equal(OriginType.EXTERNAL, key.Origin);
            Assert.Equal(KeyState.Enabled, key.KeyState);
            Assert.Equal(ExpirationModelType.KEY_MATERIAL_DOES_NOT_EXPIRE, key.ExpirationModel);
            ciphertext = (await kms.EncryptTextAsync(ExternalKey, "imported")).CiphertextBlob.ToArray();
            Assert.Equal("imported", Blob.Text((await kms.DecryptBlobAsync(new MemoryStream(ciphertext))).Plaintext));

            // The key's material, and nothing else: the import's wrapping key pair is gone again.
            objects = await HsmObjectsAsync(host);
            Assert.Equal(1, objects);
        }
        finally
        {
            await host.StopAsync();
        }

        // The same seed again: nothing changes.
        host = await EmulatorHost.StartAsync(host.DataDir, host.TokenLabel, host.Clock, host.ExtraArgs);
        using (var kms = host.CreateClient())
        {
            Assert.Equal(objects, await HsmObjectsAsync(host));
            Assert.Equal("imported", Blob.Text((await kms.DecryptBlobAsync(new MemoryStream(ciphertext))).Plaintext));
        }

        await host.StopAsync();

        // Another emulator with an empty data directory and the same seed decrypts it: the material is the given bytes.
        await using (var other = await EmulatorHost.StartNewAsync("--seed", seed))
        {
            using var kms = other.CreateClient();
            Assert.Equal("imported", Blob.Text((await kms.DecryptBlobAsync(new MemoryStream(ciphertext))).Plaintext));
        }

        // Other material for the key is a conflict, and the key is not touched.
        File.WriteAllText(seed, ExternalSeed(Material(2)));
        var failure = await Assert.ThrowsAsync<SeedException>(() => EmulatorHost.StartAsync(host.DataDir, host.TokenLabel, host.Clock, host.ExtraArgs));
        Assert.Contains($"Keys[0] (key id {ExternalKey}), field KeyMaterial conflicts with the existing key: the key's imported key material is other material", failure.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToBase64String(Material(2)), failure.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToBase64String(Material(1)), failure.Message, StringComparison.Ordinal);

        File.WriteAllText(seed, ExternalSeed(Material(1)));
        await using var restarted = await EmulatorHost.StartAsync(host.DataDir, host.TokenLabel, host.Clock, host.ExtraArgs);
        using var again = restarted.CreateClient();
        Assert.Equal("imported", Blob.Text((await again.DecryptBlobAsync(new MemoryStream(ciphertext))).Plaintext));
    }

    [Fact]
    public async Task External_HMAC_and_EC_keys_compute_with_the_given_bytes_and_deleted_material_comes_back()
    {
        var secret = Material(40, 48);
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var seed = WriteSeed("seed.yaml", $"""
            Keys:
              - KeyId: {ExternalMac}
                Origin: EXTERNAL
                KeySpec: HMAC_256
                KeyMaterialFile: material/mac.bin
                Enabled: false
              - KeyId: {ExternalSigner}
                Origin: EXTERNAL
                KeySpec: ECC_NIST_P256
                KeyUsage: SIGN_VERIFY
                KeyMaterialFile: material/signer.pem
                ValidTo: "{DateTimeOffset.UtcNow.AddDays(30):yyyy-MM-ddTHH:mm:ssZ}"
            """);
        Directory.CreateDirectory(Path.Combine(Path.GetDirectoryName(seed)!, "material"));
        File.WriteAllBytes(Path.Combine(Path.GetDirectoryName(seed)!, "material", "mac.bin"), secret);
        File.WriteAllText(Path.Combine(Path.GetDirectoryName(seed)!, "material", "signer.pem"), ec.ExportPkcs8PrivateKeyPem());
        var message = Encoding.UTF8.GetBytes("the message");

        var host = await EmulatorHost.StartNewAsync("--seed", seed);
        using (var kms = host.CreateClient())
        {
            Assert.Equal(KeyState.Disabled, (await kms.DescribeAsync(ExternalMac)).KeyState);
            await kms.EnableKeyAsync(new EnableKeyRequest { KeyId = ExternalMac });
            var mac = await kms.GenerateMacAsync(new GenerateMacRequest { KeyId = ExternalMac, MacAlgorithm = MacAlgorithmSpec.HMAC_SHA_256, Message = new MemoryStream(message) });
            Assert.Equal(HMACSHA256.HashData(secret, message), mac.Mac.ToArray());
            await kms.DisableKeyAsync(new DisableKeyRequest { KeyId = ExternalMac });

            var signer = await kms.DescribeAsync(ExternalSigner);
            Assert.Equal(ExpirationModelType.KEY_MATERIAL_EXPIRES, signer.ExpirationModel);
            Assert.Equal(ec.ExportSubjectPublicKeyInfo(), (await kms.GetPublicKeyAsync(new GetPublicKeyRequest { KeyId = ExternalSigner })).PublicKey.ToArray());
            var signature = await kms.SignAsync(new SignRequest { KeyId = ExternalSigner, Message = new MemoryStream(message), SigningAlgorithm = SigningAlgorithmSpec.ECDSA_SHA_256 });
            Assert.True(ec.VerifyData(message, signature.Signature.ToArray(), HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));

            // Material deleted through the API is imported again on the next start, and the key takes its state again.
            await kms.DeleteImportedKeyMaterialAsync(new DeleteImportedKeyMaterialRequest { KeyId = ExternalMac });
            Assert.Equal(KeyState.PendingImport, (await kms.DescribeAsync(ExternalMac)).KeyState);
        }

        host = await host.RestartAsync();
        await using (host)
        {
            using var kms = host.CreateClient();
            Assert.Equal(KeyState.Disabled, (await kms.DescribeAsync(ExternalMac)).KeyState);
            await kms.EnableKeyAsync(new EnableKeyRequest { KeyId = ExternalMac });
            var mac = await kms.GenerateMacAsync(new GenerateMacRequest { KeyId = ExternalMac, MacAlgorithm = MacAlgorithmSpec.HMAC_SHA_256, Message = new MemoryStream(message) });
            Assert.Equal(HMACSHA256.HashData(secret, message), mac.Mac.ToArray());
            Assert.Equal(3, await HsmObjectsAsync(host)); // the HMAC secret, and the EC private and public key
        }
    }

    [Fact]
    public async Task A_multi_region_key_and_its_replica_are_seeded_and_decrypt_each_others_ciphertexts()
    {
        var seed = WriteSeed("seed.json", $$"""
            { "Keys": [
                { "KeyId": "{{MrkKey}}", "MultiRegion": true, "ReplicaRegions": ["eu-west-1"], "Description": "everywhere", "Aliases": ["alias/global"],
                  "Rotation": { "Enabled": true } },
                { "KeyId": "{{ExternalMrk}}", "Origin": "EXTERNAL", "KeyMaterial": "{{Convert.ToBase64String(Material(9))}}", "Region": "eu-west-1",
                  "ReplicaRegions": ["us-east-1"] } ] }
            """);
        var host = await EmulatorHost.StartNewAsync("--seed", seed);
        int objects;
        try
        {
            using var east = host.CreateClient(region: "us-east-1");
            using var west = host.CreateClient(region: "eu-west-1");
            var replica = await west.DescribeAsync("alias/global");
            Assert.Equal(MrkKey, replica.KeyId);
            Assert.Equal(KeyState.Enabled, replica.KeyState);
            Assert.Equal("everywhere", replica.Description);
            Assert.Equal(MultiRegionKeyType.REPLICA, replica.MultiRegionConfiguration.MultiRegionKeyType);
            Assert.Equal("us-east-1", replica.MultiRegionConfiguration.PrimaryKey.Region);
            Assert.True((await west.GetKeyRotationStatusAsync(new GetKeyRotationStatusRequest { KeyId = MrkKey })).KeyRotationEnabled);

            var blob = (await east.EncryptTextAsync(MrkKey, "east")).CiphertextBlob;
            Assert.Equal("east", Blob.Text((await west.DecryptBlobAsync(blob)).Plaintext));
            blob = (await west.EncryptTextAsync(MrkKey, "west")).CiphertextBlob;
            Assert.Equal("west", Blob.Text((await east.DecryptBlobAsync(blob)).Plaintext));

            // An imported multi-Region key: the primary in eu-west-1, its replica with the same imported material.
            Assert.Equal(MultiRegionKeyType.REPLICA, (await east.DescribeAsync(ExternalMrk)).MultiRegionConfiguration.MultiRegionKeyType);
            Assert.Equal(KeyState.Enabled, (await east.DescribeAsync(ExternalMrk)).KeyState);
            blob = (await west.EncryptTextAsync(ExternalMrk, "imported")).CiphertextBlob;
            Assert.Equal("imported", Blob.Text((await east.DecryptBlobAsync(blob)).Plaintext));
            objects = await HsmObjectsAsync(host);
        }
        finally
        {
            await host.StopAsync();
        }

        await using var restarted = await EmulatorHost.StartAsync(host.DataDir, host.TokenLabel, host.Clock, host.ExtraArgs);
        Assert.Equal(objects, await HsmObjectsAsync(restarted));
        using var again = restarted.CreateClient(region: "eu-west-1");
        Assert.Equal(2, (await again.ListKeysAsync(new ListKeysRequest())).Keys.Count);
    }

    [Fact]
    public async Task Seeded_grants_are_made_once_allow_the_grantee_and_a_grant_changed_through_the_API_is_a_conflict()
    {
        const string Bob = "arn:aws:iam::111122223333:user/bob";
        var config = WriteSeed("config.json", $$"""
            { "Kms": { "Principals": [ { "Arn": "{{Bob}}", "AccessKeyId": "AKIDBOB", "SecretAccessKey": "bob-secret" } ] } }
            """);
        var grant = $$"""{ "Name": "bob-encrypts", "GranteePrincipal": "{{Bob}}", "Operations": ["Encrypt"], "Constraints": { "EncryptionContextSubset": { "app": "web" } } }""";
        var seed = WriteSeed("seed.json", $$"""{ "Keys": [ { "KeyId": "{{AppKey}}", "Grants": [ {{grant}} ] } ] }""");
        var host = await EmulatorHost.StartNewAsync("--config", config, "--seed", seed);
        string grantId;
        using (var kms = host.CreateClient())
        using (var bob = host.CreateClient("AKIDBOB", secretAccessKey: "bob-secret"))
        {
            var listed = Assert.Single((await kms.ListGrantsAsync(new ListGrantsRequest { KeyId = AppKey })).Grants);
            Assert.Equal("bob-encrypts", listed.Name);
            Assert.Equal(Bob, listed.GranteePrincipal);
            Assert.Equal(Accounts.RootArn(), listed.IssuingAccount);
            grantId = listed.GrantId;

            await bob.EncryptTextAsync(AppKey, "granted", Blob.Context(("app", "web")));
            await KmsAssert.ErrorAsync(() => bob.EncryptTextAsync(AppKey, "other context", Blob.Context(("app", "cli"))), "AccessDeniedException");
            await KmsAssert.ErrorAsync(() => bob.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = AppKey, NumberOfBytes = 16 }), "AccessDeniedException");
        }

        host = await host.RestartAsync();
        using (var kms = host.CreateClient())
        {
            Assert.Equal(grantId, Assert.Single((await kms.ListGrantsAsync(new ListGrantsRequest { KeyId = AppKey })).Grants).GrantId);

            // CreateGrant with the same name and parameters is a retry: the same grant.
            var retry = await kms.CreateGrantAsync(new CreateGrantRequest
            {
                KeyId = AppKey, Name = "bob-encrypts", GranteePrincipal = Bob, Operations = [GrantOperation.Encrypt],
                Constraints = new GrantConstraints { EncryptionContextSubset = Blob.Context(("app", "web")) },
            });
            Assert.Equal(grantId, retry.GrantId);

            // Revoked, it comes back on the next start; replaced by another grant of that name, the start fails.
            await kms.RevokeGrantAsync(new RevokeGrantRequest { KeyId = AppKey, GrantId = grantId });
        }

        host = await host.RestartAsync();
        using (var kms = host.CreateClient())
        {
            var recreated = Assert.Single((await kms.ListGrantsAsync(new ListGrantsRequest { KeyId = AppKey })).Grants);
            Assert.NotEqual(grantId, recreated.GrantId);
            await kms.RevokeGrantAsync(new RevokeGrantRequest { KeyId = AppKey, GrantId = recreated.GrantId });
            await kms.CreateGrantAsync(new CreateGrantRequest { KeyId = AppKey, Name = "bob-encrypts", GranteePrincipal = Bob, Operations = [GrantOperation.Encrypt, GrantOperation.Decrypt] });
        }

        await host.StopAsync();
        var failure = await Assert.ThrowsAsync<SeedException>(() => EmulatorHost.StartAsync(host.DataDir, host.TokenLabel, host.Clock, host.ExtraArgs));
        Assert.Contains($"Keys[0] (key id {AppKey}), field Grants[0] (bob-encrypts) conflicts with the existing key: the key has a grant named bob-encrypts with other parameters", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_seed_policy_that_locks_out_the_account_root_fails_the_start_unless_the_check_is_bypassed()
    {
        const string OnlyBob = """{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"kms:*","Resource":"*"}]}""";
        var seed = WriteSeed("seed.json", $$"""{ "Keys": [ { "KeyId": "{{AppKey}}", "Policy": {{OnlyBob}} } ] }""");

        var failure = await Assert.ThrowsAsync<SeedException>(() => EmulatorHost.StartNewAsync("--seed", seed));
        Assert.Contains($"Keys[0] (key id {AppKey}), field Policy: The new key policy will not allow you to update the key policy in the future", failure.Message, StringComparison.Ordinal);

        // A replica's policy is checked too.
        File.WriteAllText(seed, $$"""{ "Keys": [ { "KeyId": "{{MrkKey}}", "ReplicaRegions": ["eu-west-1"], "Policy": {{OnlyBob}} } ] }""");
        failure = await Assert.ThrowsAsync<SeedException>(() => EmulatorHost.StartNewAsync("--seed", seed));
        Assert.Contains($"Keys[0] (key id {MrkKey}), field Policy: The new key policy", failure.Message, StringComparison.Ordinal);

        File.WriteAllText(seed, $$"""{ "Keys": [ { "KeyId": "{{AppKey}}", "Policy": {{OnlyBob}}, "BypassPolicyLockoutSafetyCheck": true } ] }""");
        await using var host = await EmulatorHost.StartNewAsync("--seed", seed);
        using var kms = host.CreateClient();
        await KmsAssert.ErrorAsync(() => kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = Accounts.KeyArn(AppKey) }), "AccessDeniedException");
    }

    [Fact]
    public async Task A_failed_apply_also_removes_the_replicas_and_imported_keys_it_made()
    {
        var seed = WriteSeed("seed.json", $$"""
            { "Keys": [
                { "KeyId": "{{MrkKey}}", "ReplicaRegions": ["eu-west-1"], "Aliases": ["alias/global"] },
                { "KeyId": "{{ExternalKey}}", "Origin": "EXTERNAL", "KeyMaterial": "{{Convert.ToBase64String(Material(1))}}" },
                { "KeyId": "{{ExternalMac}}", "Origin": "EXTERNAL", "KeySpec": "HMAC_256", "KeyMaterial": "{{Convert.ToBase64String(Material(3))}}" } ] }
            """);
        var dataDir = Path.Combine(Path.GetTempPath(), $"kmsemu-seed-{Guid.NewGuid():N}", "data");
        var token = "s" + Guid.NewGuid().ToString("N")[..12];
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);

        // The third key's import cannot make its wrapping key pair: the multi-Region key, its replica and the first
        // imported key were made before and must go again.
        var failure = await Assert.ThrowsAsync<SeedException>(() => EmulatorHost.StartConfiguredAsync(dataDir, token, clock, FailingCreateFor(ExternalMac), "--seed", seed));
        Assert.Contains("nothing of it was kept", failure.Message, StringComparison.Ordinal);

        await using var host = await EmulatorHost.StartAsync(dataDir, token, clock);
        using var east = host.CreateClient();
        using var west = host.CreateClient(region: "eu-west-1");
        Assert.Empty((await east.ListKeysAsync(new ListKeysRequest())).Keys);
        Assert.Empty((await west.ListKeysAsync(new ListKeysRequest())).Keys);
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
