using System.Collections.Concurrent;
using System.Text.Json;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>
/// Keys made by many clients at once stay whole: every key created by 16 parallel SDK clients (every key type, the
/// garbage collector forced all along) works at once and after a restart, and the restart finds every key object
/// exactly as it was made. And a killed emulator keeps every key and ciphertext it acknowledged under load.
/// </summary>
public sealed class ConcurrentKeyTests
{
    private const int Clients = 16;

    private static readonly (string Spec, string Usage)[] Kinds =
    [
        ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
        ("HMAC_256", "GENERATE_VERIFY_MAC"),
        ("HMAC_384", "GENERATE_VERIFY_MAC"),
        ("ECC_NIST_P256", "SIGN_VERIFY"),
        ("ECC_NIST_P384", "KEY_AGREEMENT"),
        ("ECC_SECG_P256K1", "SIGN_VERIFY"),
        ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY"),
        ("RSA_2048", "ENCRYPT_DECRYPT"),
        ("RSA_2048", "SIGN_VERIFY"),
    ];

    [Fact]
    public async Task Keys_of_every_type_created_by_16_parallel_clients_work_before_and_after_a_restart()
    {
        var host = await EmulatorHost.StartNewAsync();
        try
        {
            var created = new ConcurrentBag<KeyMetadata>();
            using (new GarbageCollectorStorm())
            {
                await Task.WhenAll(Enumerable.Range(0, Clients).Select(client => Task.Run(async () =>
                {
                    using var kms = host.CreateClient();
                    for (var i = 0; i < Kinds.Length; i++)
                    {
                        var (spec, usage) = Kinds[(client + i) % Kinds.Length];
                        var key = (await kms.CreateKeyAsync(new CreateKeyRequest { KeySpec = spec, KeyUsage = usage })).KeyMetadata;
                        created.Add(key);
                        await RoundTripAsync(kms, key);
                    }
                })));
            }

            Assert.Equal(Clients * Kinds.Length, created.Count);
            host = await host.RestartAsync();

            var health = await HealthAsync(host);
            Assert.Equal("ready", health.GetProperty("status").GetString());
            using var after = host.CreateClient();
            foreach (var key in created)
            {
                await RoundTripAsync(after, key);
            }
        }
        finally
        {
            await host.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_process_killed_under_CreateKey_and_Encrypt_load_keeps_every_key_and_ciphertext_it_acknowledged()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "kmsemu-e2e-kill-" + Guid.NewGuid().ToString("N")[..12]);
        var acknowledged = new ConcurrentBag<(string KeyId, byte[] Ciphertext, string Plaintext)>();
        try
        {
            await using (var emulator = await EmulatorProcess.StartAsync(dataDir))
            {
                using var stop = new CancellationTokenSource();
                using var killing = new CancellationTokenSource();
                var enough = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                var load = Enumerable.Range(0, Clients).Select(client => Task.Run(async () =>
                {
                    using var kms = EmulatorHost.CreateClient(emulator.Url);
                    for (var i = 0; !stop.IsCancellationRequested; i++)
                    {
                        try
                        {
                            var keyId = (await kms.CreateKeyAsync(new CreateKeyRequest(), stop.Token)).KeyMetadata.KeyId;
                            var plaintext = $"client {client} message {i}";
                            var encrypted = await kms.EncryptAsync(new EncryptRequest { KeyId = keyId, Plaintext = Blob.Of(plaintext) }, stop.Token);
                            acknowledged.Add((keyId, encrypted.CiphertextBlob.ToArray(), plaintext));
                            if (acknowledged.Count >= 120)
                            {
                                enough.TrySetResult();
                            }
                        }
                        catch (Exception) when (killing.IsCancellationRequested)
                        {
                            // The process was killed before or during this call (refused connection, reset, or the
                            // cancellation that follows): nothing was acknowledged.
                            return;
                        }
                    }
                })).ToList();

                await enough.Task.WaitAsync(TimeSpan.FromMinutes(2));
                await killing.CancelAsync();
                await emulator.KillAsync();
                await stop.CancelAsync();
                await Task.WhenAll(load);
            }

            await using var restarted = await EmulatorProcess.StartAsync(dataDir);
            using var after = EmulatorHost.CreateClient(restarted.Url);
            var lost = new List<string>();
            foreach (var (keyId, ciphertext, plaintext) in acknowledged)
            {
                try
                {
                    var decrypted = await after.DecryptAsync(new DecryptRequest { CiphertextBlob = Blob.Of(ciphertext) });
                    if (Blob.Text(decrypted.Plaintext) != plaintext || decrypted.KeyId != Accounts.KeyArn(keyId))
                    {
                        lost.Add($"{keyId}: decrypted to something else");
                    }

                    await after.EncryptTextAsync(keyId, "still usable");
                }
                catch (AmazonKeyManagementServiceException e)
                {
                    lost.Add($"{keyId}: {e.ErrorCode} {e.Message}");
                }
            }

            Assert.True(acknowledged.Count >= 120);
            Assert.Empty(lost);
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

    private static async Task RoundTripAsync(IAmazonKeyManagementService kms, KeyMetadata key)
    {
        var message = Blob.Of("concurrent " + key.KeyId);
        switch (key.KeyUsage.Value, key.KeySpec.Value)
        {
            case ("ENCRYPT_DECRYPT", "SYMMETRIC_DEFAULT"):
                var encrypted = await kms.EncryptTextAsync(key.KeyId, "concurrent");
                Assert.Equal("concurrent", Blob.Text((await kms.DecryptBlobAsync(encrypted.CiphertextBlob)).Plaintext));
                break;
            case ("ENCRYPT_DECRYPT", _):
                var rsa = await kms.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = Blob.Of("concurrent"), EncryptionAlgorithm = "RSAES_OAEP_SHA_256" });
                var plain = await kms.DecryptAsync(new DecryptRequest { KeyId = key.KeyId, CiphertextBlob = rsa.CiphertextBlob, EncryptionAlgorithm = "RSAES_OAEP_SHA_256" });
                Assert.Equal("concurrent", Blob.Text(plain.Plaintext));
                break;
            case ("GENERATE_VERIFY_MAC", var spec):
                var algorithm = spec == "HMAC_256" ? "HMAC_SHA_256" : "HMAC_SHA_384";
                var mac = await kms.GenerateMacAsync(new GenerateMacRequest { KeyId = key.KeyId, Message = Blob.Copy(message), MacAlgorithm = algorithm });
                Assert.True((await kms.VerifyMacAsync(new VerifyMacRequest { KeyId = key.KeyId, Message = Blob.Copy(message), Mac = mac.Mac, MacAlgorithm = algorithm })).MacValid);
                break;
            case ("SIGN_VERIFY", var spec):
                var signing = spec switch
                {
                    "ECC_NIST_EDWARDS25519" => "ED25519_SHA_512",
                    "RSA_2048" => "RSASSA_PSS_SHA_256",
                    _ => "ECDSA_SHA_256",
                };
                var signature = await kms.SignAsync(new SignRequest { KeyId = key.KeyId, Message = Blob.Copy(message), SigningAlgorithm = signing, MessageType = "RAW" });
                Assert.True((await kms.VerifyAsync(new VerifyRequest
                {
                    KeyId = key.KeyId, Message = Blob.Copy(message), Signature = signature.Signature, SigningAlgorithm = signing, MessageType = "RAW",
                })).SignatureValid);
                break;
            default:
                using (var peer = System.Security.Cryptography.ECDiffieHellman.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP384))
                {
                    var shared = await kms.DeriveSharedSecretAsync(new DeriveSharedSecretRequest
                    {
                        KeyId = key.KeyId, KeyAgreementAlgorithm = "ECDH", PublicKey = Blob.Of(peer.ExportSubjectPublicKeyInfo()),
                    });
                    Assert.Equal(48, shared.SharedSecret.Length);
                }

                break;
        }
    }

    private static async Task<JsonElement> HealthAsync(EmulatorHost host)
    {
        using var http = new HttpClient();
        var body = await http.GetStringAsync(host.Url + "/health");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>Forces full, compacting collections and runs finalizers in a loop until disposed.</summary>
    private sealed class GarbageCollectorStorm : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Thread _thread;

        public GarbageCollectorStorm()
        {
            _thread = new Thread(() =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
                    GC.WaitForPendingFinalizers();
                }
            }) { IsBackground = true, Name = "gc-storm" };
            _thread.Start();
        }

        public void Dispose()
        {
            _stop.Cancel();
            _thread.Join();
            _stop.Dispose();
        }
    }
}
