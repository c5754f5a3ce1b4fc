using System.Collections.Concurrent;
using Amazon.KeyManagementService.Model;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>
/// SIGTERM under load, on the built emulator as a child process: requests in flight finish, every request a client
/// had answered has its audit record in a delivered log file, the HSM sessions are closed, and the exit code is 0.
/// </summary>
public sealed class GracefulShutdownTests
{
    private const int Clients = 6;
    private static readonly TimeSpan Bound = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task SIGTERM_under_Encrypt_load_drains_the_requests_writes_every_acknowledged_record_and_exits_0()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "kmsemu-e2e-sigterm-" + Guid.NewGuid().ToString("N")[..12]);
        var acknowledged = new ConcurrentBag<string>();
        try
        {
            await using var emulator = await EmulatorProcess.StartAsync(dataDir, "--Kms:ShutdownTimeout=00:00:30");
            string keyId;
            using (var kms = EmulatorHost.CreateClient(emulator.Url))
            {
                keyId = (await kms.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata.KeyId;
            }

            var terminating = false;
            var enough = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var load = Enumerable.Range(0, Clients).Select(client => Task.Run(async () =>
            {
                using var kms = EmulatorHost.CreateClient(emulator.Url);
                for (var i = 0; ; i++)
                {
                    try
                    {
                        var response = await kms.EncryptAsync(new EncryptRequest { KeyId = keyId, Plaintext = Blob.Of($"client {client} message {i}") });
                        acknowledged.Add(response.ResponseMetadata.RequestId);
                        if (acknowledged.Count >= 300)
                        {
                            enough.TrySetResult();
                        }
                    }
                    catch (Exception) when (Volatile.Read(ref terminating))
                    {
                        // The server stopped taking requests (refused or closed connection): nothing was acknowledged.
                        return;
                    }
                }
            })).ToList();

            await enough.Task.WaitAsync(Bound);
            Volatile.Write(ref terminating, true);
            emulator.Terminate();
            var exitCode = await emulator.WaitForExitAsync(Bound);
            await Task.WhenAll(load).WaitAsync(Bound);

            Assert.True(exitCode == 0, $"Exit code {exitCode}:\n{emulator.Output}");
            Assert.Contains("KmsEmulator stopped: requests finished, audit trail written, HSM sessions closed", emulator.Output, StringComparison.Ordinal);
            var recorded = AuditTrailReader.Read(Path.Combine(dataDir, "audit"))
                .Select(r => (string?)r["requestID"])
                .ToHashSet(StringComparer.Ordinal);
            var missing = acknowledged.Where(id => !recorded.Contains(id)).ToList();
            Assert.True(missing.Count == 0, $"{missing.Count} of {acknowledged.Count} acknowledged requests have no audit record, e.g. {string.Join(", ", missing.Take(5))}");
            Assert.False(Directory.Exists(Path.Combine(dataDir, "audit", ".partial")) && Directory.EnumerateFileSystemEntries(Path.Combine(dataDir, "audit", ".partial")).Any(),
                "A graceful stop leaves no open log file behind.");
        }
        finally
        {
            if (Directory.Exists(dataDir))
            {
                Directory.Delete(dataDir, recursive: true);
            }
        }
    }
}
