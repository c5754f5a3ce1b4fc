using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using KmsEmulator.Api.Keys;
using KmsEmulator.Hsm;
using KmsEmulator.Hsm.Pkcs11;
using Net.Pkcs11Interop.Common;
using Microsoft.Extensions.DependencyInjection;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>Everything acknowledged before a restart is there after it: in this process, and as a separate killed process.</summary>
public sealed class RestartTests : IAsyncLifetime
{
    private EmulatorHost _host = null!;

    public async Task InitializeAsync() => _host = await EmulatorHost.StartNewAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task A_restart_destroys_HSM_objects_that_no_key_metadata_refers_to()
    {
        // What a crash between "create the material in the HSM" and "commit the key row" leaves behind.
        var keyService = _host.Services.GetRequiredService<KeyWriter>();
        var hsm = _host.Services.GetRequiredService<IKeyMaterialBackend>();
        var orphan = keyService.HsmLabelPrefix + "11111111-2222-3333-4444-555555555555/1";
        await hsm.CreateAesKeyAsync(orphan);
        using (var kms = _host.CreateClient())
        {
            await kms.NewKeyAsync("kept");
        }

        var keptLabels = (await hsm.IndexAsync(keyService.HsmLabelPrefix, [])).Unexpected.Where(l => l != orphan).ToList();

        _host = await _host.RestartAsync();

        var after = _host.Services.GetRequiredService<IKeyMaterialBackend>();
        var prefix = _host.Services.GetRequiredService<KeyWriter>().HsmLabelPrefix;
        Assert.False(await after.ExistsAsync(orphan));
        Assert.Equal(keptLabels, (await after.IndexAsync(prefix, [])).Unexpected);
        Assert.Single(keptLabels);
    }

    [Fact]
    public async Task A_key_object_found_wrong_at_start_up_is_reported_by_health_and_never_used()
    {
        string keyId, good;
        string label;
        using (var kms = _host.CreateClient())
        {
            keyId = (await kms.NewKeyAsync("tampered")).KeyId;
            good = (await kms.NewKeyAsync("intact")).KeyId;
        }

        // Replace the key's AES object with one whose value can be read: what the corrupted keys of issue 8 looked like.
        label = _host.Services.GetRequiredService<KeyCatalog>().FindKey(new KeyScope(Accounts.Default, Accounts.DefaultRegion), keyId)!.CurrentMaterial!.HsmLabel;
        var backend = (Pkcs11Backend)_host.Services.GetRequiredService<IKeyMaterialBackend>();
        await backend.DestroyAsync(label);
        await backend.RunAsync("plant a readable key", session =>
        {
            using var template = Pkcs11Template.From(session,
            [
                new(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY), new(CKA.CKA_KEY_TYPE, CKK.CKK_AES), new(CKA.CKA_VALUE_LEN, 32UL),
                new(CKA.CKA_TOKEN, true), new(CKA.CKA_PRIVATE, true), new(CKA.CKA_SENSITIVE, false), new(CKA.CKA_EXTRACTABLE, true),
                new(CKA.CKA_ENCRYPT, true), new(CKA.CKA_DECRYPT, true), new(CKA.CKA_LABEL, label),
                new(CKA.CKA_ID, System.Text.Encoding.UTF8.GetBytes(label)),
            ]);
            using var mechanism = session.Factories.MechanismFactory.Create(CKM.CKM_AES_KEY_GEN);
            return session.GenerateKey(mechanism, template.Attributes);
        }, CancellationToken.None);

        _host = await _host.RestartAsync();

        using var http = new HttpClient();
        var response = await http.GetAsync(_host.Url + "/health");
        using var health = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("degraded", health.RootElement.GetProperty("status").GetString());
        var differences = health.RootElement.GetProperty("defectiveKeyMaterial").GetProperty(label).EnumerateArray().Select(d => d.GetString()).ToList();
        Assert.Contains("CKO_SECRET_KEY: CKA_EXTRACTABLE is true, expected false", differences);
        Assert.Contains("CKO_SECRET_KEY: CKA_SENSITIVE is false, expected true", differences);

        using var after = _host.CreateClient();
        var refused = await Assert.ThrowsAsync<KeyUnavailableException>(() => after.EncryptTextAsync(keyId, "never"));
        Assert.Equal(System.Net.HttpStatusCode.InternalServerError, refused.StatusCode);
        await after.EncryptTextAsync(good, "still fine");
    }

    [Fact]
    public async Task Keys_aliases_tags_policies_and_ciphertexts_survive_a_restart()
    {
        const string policy = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::111122223333:root\"},\"Action\":\"kms:*\",\"Resource\":\"*\"}]}";
        var context = Blob.Context(("tenant", "acme"));
        KeyMetadata plain, multiRegion, disabled, pending;
        string alias, movedAlias;
        MemoryStream ciphertext, mrkCiphertext, dataKeyCiphertext;
        byte[] dataKey;
        DateTime? deletionDate;
        string otherAccountKey;
        MemoryStream otherAccountCiphertext;
        const string otherAccount = "444455556666";

        using (var kms = _host.CreateClient())
        {
            plain = await kms.NewKeyAsync("plain", [new Tag { TagKey = "team", TagValue = "crypto" }, new Tag { TagKey = "empty", TagValue = "" }]);
            multiRegion = await kms.NewKeyAsync("mrk", multiRegion: true);
            disabled = await kms.NewKeyAsync("disabled");
            pending = await kms.NewKeyAsync("pending");
            alias = await kms.NewAliasAsync(plain.KeyId);
            movedAlias = await kms.NewAliasAsync(disabled.KeyId);
            await kms.UpdateAliasAsync(new UpdateAliasRequest { AliasName = movedAlias, TargetKeyId = multiRegion.KeyId });
            await kms.PutKeyPolicyAsync(new PutKeyPolicyRequest { KeyId = plain.KeyId, PolicyName = "default", Policy = policy });
            await kms.UpdateKeyDescriptionAsync(new UpdateKeyDescriptionRequest { KeyId = plain.KeyId, Description = "plain, described" });
            ciphertext = (await kms.EncryptTextAsync(alias, "before restart", context)).CiphertextBlob;
            mrkCiphertext = (await kms.EncryptTextAsync(multiRegion.KeyId, "multi-region before restart")).CiphertextBlob;
            var generated = await kms.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = plain.KeyId, KeySpec = DataKeySpec.AES_256, EncryptionContext = context });
            dataKey = generated.Plaintext.ToArray();
            dataKeyCiphertext = generated.CiphertextBlob;
            await kms.DisableKeyAsync(new DisableKeyRequest { KeyId = disabled.KeyId });
            deletionDate = (await kms.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = pending.KeyId, PendingWindowInDays = 10 })).DeletionDate;
        }

        using (var other = _host.CreateClient(accessKeyId: otherAccount, region: "eu-central-1"))
        {
            otherAccountKey = (await other.NewKeyAsync("elsewhere")).KeyId;
            otherAccountCiphertext = (await other.EncryptTextAsync(otherAccountKey, "other scope")).CiphertextBlob;
        }

        _host = await _host.RestartAsync();

        using (var kms = _host.CreateClient())
        {
            var keys = (await kms.AllKeysAsync()).Select(k => k.KeyId).ToList();
            Assert.Equal(new[] { plain.KeyId, multiRegion.KeyId, disabled.KeyId, pending.KeyId }.Order(StringComparer.Ordinal), keys.Order(StringComparer.Ordinal));

            var restoredPlain = await kms.DescribeAsync(alias);
            Assert.Equal(plain.KeyId, restoredPlain.KeyId);
            Assert.Equal("plain, described", restoredPlain.Description);
            Assert.Equal(plain.CreationDate, restoredPlain.CreationDate);
            Assert.Equal(plain.CurrentKeyMaterialId, restoredPlain.CurrentKeyMaterialId);
            Assert.Equal(KeyState.Enabled, restoredPlain.KeyState);
            Assert.Equal(KeyState.Disabled, (await kms.DescribeAsync(disabled.KeyId)).KeyState);
            var restoredPending = await kms.DescribeAsync(pending.KeyId);
            Assert.Equal(KeyState.PendingDeletion, restoredPending.KeyState);
            Assert.Equal(deletionDate, restoredPending.DeletionDate);
            var restoredMrk = await kms.DescribeAsync(movedAlias);
            Assert.Equal(multiRegion.KeyId, restoredMrk.KeyId);
            Assert.True(restoredMrk.MultiRegion);

            Assert.Equal(
                [("empty", ""), ("team", "crypto")],
                (await kms.TagsAsync(plain.KeyId)).Select(t => (t.TagKey, t.TagValue)).OrderBy(t => t.TagKey, StringComparer.Ordinal).ToList());
            Assert.Equal(policy, (await kms.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = plain.KeyId, PolicyName = "default" })).Policy);
            var aliases = await kms.OwnAliasesAsync();
            Assert.Equal(new[] { alias, movedAlias }.Order(StringComparer.Ordinal), aliases.Select(a => a.AliasName).Order(StringComparer.Ordinal));
            Assert.Equal(multiRegion.KeyId, Assert.Single(aliases, a => a.AliasName == movedAlias).TargetKeyId);

            Assert.Equal("before restart", Blob.Text((await kms.DecryptBlobAsync(ciphertext, context)).Plaintext));
            Assert.Equal("multi-region before restart", Blob.Text((await kms.DecryptBlobAsync(mrkCiphertext)).Plaintext));
            Assert.Equal(dataKey, (await kms.DecryptBlobAsync(dataKeyCiphertext, context)).Plaintext.ToArray());
            await KmsAssert.InvalidCiphertextAsync(() => kms.DecryptBlobAsync(ciphertext));
            await KmsAssert.DisabledAsync(() => kms.EncryptTextAsync(disabled.KeyId, "x"), disabled.Arn);

            var after = await kms.EncryptTextAsync(plain.KeyId, "after restart");
            Assert.Equal("after restart", Blob.Text((await kms.DecryptBlobAsync(after.CiphertextBlob)).Plaintext));
        }

        using (var other = _host.CreateClient(accessKeyId: otherAccount, region: "eu-central-1"))
        {
            Assert.Equal(otherAccountKey, Assert.Single(await other.AllKeysAsync()).KeyId);
            Assert.Equal("other scope", Blob.Text((await other.DecryptBlobAsync(otherAccountCiphertext)).Plaintext));
        }
    }

    [Fact]
    public async Task A_deletion_scheduled_before_a_restart_happens_on_the_clock_after_it()
    {
        KeyMetadata key;
        string alias;
        using (var kms = _host.CreateClient())
        {
            key = await kms.NewKeyAsync();
            alias = await kms.NewAliasAsync(key.KeyId);
            await kms.ScheduleKeyDeletionAsync(new ScheduleKeyDeletionRequest { KeyId = key.KeyId, PendingWindowInDays = 7 });
        }

        _host = await _host.RestartAsync();
        _host.Clock.Advance(TimeSpan.FromDays(7) + TimeSpan.FromMinutes(1));

        using (var kms = _host.CreateClient())
        {
            await KmsAssert.KeyDoesNotExistAsync(() => kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = key.KeyId }), key.Arn);
            await KmsAssert.AliasNotFoundAsync(() => kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = alias }), Accounts.AliasArn(alias));
            Assert.Empty(await kms.AllKeysAsync());
        }

        // Whether the sweep has already removed the rows or not, a further restart does not bring the key back.
        _host = await _host.RestartAsync();
        using (var kms = _host.CreateClient())
        {
            await KmsAssert.KeyDoesNotExistAsync(() => kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = key.KeyId }), key.Arn);
            Assert.Empty(await kms.OwnAliasesAsync());
        }
    }

    [Fact]
    public async Task A_killed_emulator_process_decrypts_its_ciphertexts_after_it_is_started_again()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "kmsemu-e2e-process-" + Guid.NewGuid().ToString("N")[..12]);
        try
        {
            string keyId;
            string alias;
            MemoryStream ciphertext;
            var context = Blob.Context(("run", "first"));

            await using (var first = await EmulatorProcess.StartAsync(dataDir))
            {
                using var kms = EmulatorHost.CreateClient(first.Url);
                var key = await kms.NewKeyAsync("out of process", [new Tag { TagKey = "process", TagValue = "first" }]);
                keyId = key.KeyId;
                alias = await kms.NewAliasAsync(keyId);
                ciphertext = (await kms.EncryptTextAsync(alias, "survives a kill", context)).CiphertextBlob;
                Assert.Equal("survives a kill", Blob.Text((await kms.DecryptBlobAsync(ciphertext, context)).Plaintext));
                await first.KillAsync();
            }

            Assert.True(File.Exists(Path.Combine(dataDir, "kms.db")));
            Assert.True(Directory.Exists(Path.Combine(dataDir, "softhsm", "tokens")), "the child keeps its SoftHSM2 token in its data directory");

            await using (var second = await EmulatorProcess.StartAsync(dataDir))
            {
                using var kms = EmulatorHost.CreateClient(second.Url);
                var decrypted = await kms.DecryptBlobAsync(ciphertext, context);
                Assert.Equal("survives a kill", Blob.Text(decrypted.Plaintext));
                Assert.Equal(Accounts.KeyArn(keyId), decrypted.KeyId);
                Assert.Equal(keyId, (await kms.DescribeAsync(alias)).KeyId);
                Assert.Equal("first", Assert.Single(await kms.TagsAsync(keyId)).TagValue);
                await second.KillAsync();
            }
        }
        finally
        {
            try
            {
                Directory.Delete(dataDir, recursive: true);
            }
            catch (IOException)
            {
                // Best effort: a temp directory left behind does not affect other tests.
            }
        }
    }
}
