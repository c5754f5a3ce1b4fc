using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using KmsEmulator.Api.Keys;
using KmsEmulator.Hsm;
using Microsoft.Extensions.DependencyInjection;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>Everything acknowledged before a restart is there after it: in this process, and as a separate killed process.</summary>
public sealed partial class RestartTests : IAsyncLifetime
{
    private EmulatorHost _host = null!;

    public async Task InitializeAsync() => _host = await EmulatorHost.StartNewAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task A_restart_destroys_HSM_objects_that_no_key_metadata_refers_to()
    {
        // What a crash between "create the material in the HSM" and "commit the key row" leaves behind.
        var keyService = _host.Services.GetRequiredService<KeyService>();
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
        var prefix = _host.Services.GetRequiredService<KeyService>().HsmLabelPrefix;
        Assert.False(await after.ExistsAsync(orphan));
        Assert.Equal(keptLabels, (await after.IndexAsync(prefix, [])).Unexpected);
        Assert.Single(keptLabels);
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
            var aliases = await kms.AllAliasesAsync();
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
            Assert.Empty(await kms.AllAliasesAsync());
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

    /// <summary>
    /// The built emulator (<c>dotnet KmsEmulator.Api.dll</c>) as a child process with its own data directory and its own
    /// SoftHSM2 configuration (SOFTHSM2_CONF is removed, so the token lives in the data directory).
    /// </summary>
    private sealed partial class EmulatorProcess : IAsyncDisposable
    {
        private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

        private readonly Process _process;
        private readonly StringBuilder _output;

        private EmulatorProcess(Process process, StringBuilder output, string url)
        {
            _process = process;
            _output = output;
            Url = url;
        }

        public string Url { get; }

        public static async Task<EmulatorProcess> StartAsync(string dataDir)
        {
            var dll = Path.Combine(AppContext.BaseDirectory, "KmsEmulator.Api.dll");
            Assert.True(File.Exists(dll), $"{dll} is missing from the test output directory.");

            var start = new ProcessStartInfo(DotnetHost())
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = AppContext.BaseDirectory,
            };
            foreach (var argument in new[] { dll, "--urls", "http://127.0.0.1:0", "--data-dir", dataDir })
            {
                start.ArgumentList.Add(argument);
            }

            start.Environment.Remove("SOFTHSM2_CONF");

            var output = new StringBuilder();
            var listening = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            var process = new Process { StartInfo = start, EnableRaisingEvents = true };
            process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is null)
                {
                    listening.TrySetException(new InvalidOperationException($"The emulator closed its output before listening:\n{Snapshot(output)}"));
                    return;
                }

                Append(output, e.Data);
                if (ListeningLine().Match(e.Data) is { Success: true } match)
                {
                    listening.TrySetResult(match.Groups["url"].Value);
                }
            };
            process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is not null)
                {
                    Append(output, e.Data);
                }
            };

            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            try
            {
                var url = await listening.Task.WaitAsync(StartTimeout);
                return new EmulatorProcess(process, output, url);
            }
            catch (Exception e)
            {
                Kill(process);
                process.Dispose();
                throw new InvalidOperationException($"The emulator process did not report listening: {e.Message}\n{Snapshot(output)}", e);
            }
        }

        /// <summary>Kills the process (SIGKILL: no graceful shutdown) and waits until it is gone.</summary>
        public async Task KillAsync()
        {
            Kill(_process);
            await _process.WaitForExitAsync().WaitAsync(StartTimeout);
            Assert.True(_process.HasExited, Snapshot(_output));
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                await KillAsync();
            }

            _process.Dispose();
        }

        private static void Kill(Process process)
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Already exited.
            }
        }

        /// <summary>The dotnet host running this test process, so the child uses the same runtime.</summary>
        private static string DotnetHost()
        {
            if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } hostPath && File.Exists(hostPath))
            {
                return hostPath;
            }

            return Environment.ProcessPath is { } processPath && Path.GetFileNameWithoutExtension(processPath) == "dotnet" ? processPath : "dotnet";
        }

        private static void Append(StringBuilder output, string line)
        {
            lock (output)
            {
                output.AppendLine(line);
            }
        }

        private static string Snapshot(StringBuilder output)
        {
            lock (output)
            {
                return output.ToString();
            }
        }

        [GeneratedRegex(@"KmsEmulator listening on (?<url>http://127\.0\.0\.1:[0-9]+)")]
        private static partial Regex ListeningLine();
    }
}
