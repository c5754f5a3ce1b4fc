// What a token shared by two processes costs the process that did not make the change (docs/scale-out.md):
// - AES-256-GCM encryption on one thread with session copies never checked, checked before every use
//   (Kms:Hsm:SessionCopyCheckInterval=0), checked once a second, and on the token object (copies off);
// - the first use here of a key another process made (a search of the whole token), at the given number of objects;
// - the first checked use here after another process changed the token (SoftHSM2 re-reads the token's directory).
// The other process is this program again (--peer), started for each change.
using System.Diagnostics;
using System.Security.Cryptography;
using KmsEmulator.Hsm;
using KmsEmulator.Hsm.Pkcs11;

internal static class SharedToken
{
    private const string TokenLabel = "shared";

    public static async Task RunAsync(int objects, double seconds)
    {
        var root = Path.Combine(Path.GetTempPath(), "kmsemu-hsmraw-shared-" + Environment.ProcessId);
        var tokens = Path.Combine(root, "tokens");
        try
        {
            HsmOptions Options(bool copies, TimeSpan? interval) =>
                new() { TokenDirectory = tokens, TokenLabel = TokenLabel, SessionKeyCopies = copies, SessionCopyCheckInterval = interval, SessionPoolSize = 2 };

            using var maker = Pkcs11Backend.Open(Options(true, null));
            var filled = Stopwatch.StartNew();
            for (var i = 0; i < objects; i++)
            {
                await maker.CreateAesKeyAsync($"kmsemu/bench/{Guid.NewGuid():D}/1");
            }

            Console.WriteLine($"token of {objects:N0} AES keys made in {filled.Elapsed.TotalSeconds:F1} s");
            var iv = RandomNumberGenerator.GetBytes(12);
            var plaintext = RandomNumberGenerator.GetBytes(32);
            const string Key = "bench/encrypt";
            await maker.CreateAesKeyAsync(Key);

            // Interleaved rounds, so that a busy moment of the machine hits every variant alike; the median is printed.
            var variants = new (string Name, Pkcs11Backend Backend)[]
            {
                ("session copy, never checked (default)", Pkcs11Backend.Open(Options(true, null))),
                ("session copy, checked every use (interval 0)", Pkcs11Backend.Open(Options(true, TimeSpan.Zero))),
                ("session copy, checked once a second", Pkcs11Backend.Open(Options(true, TimeSpan.FromSeconds(1)))),
                ("token object (SessionKeyCopies=false)", Pkcs11Backend.Open(Options(false, null))),
            };
            var rates = variants.Select(_ => new List<double>()).ToArray();
            try
            {
                foreach (var (_, backend) in variants)
                {
                    await backend.IndexAsync("bench/", [HsmKeyDescription.Aes(Key)]);
                }

                for (var round = 0; round < 5; round++)
                {
                    for (var i = 0; i < variants.Length; i++)
                    {
                        var backend = variants[i].Backend;
                        rates[i].Add(await Rate(async () => await backend.EncryptAesGcmAsync(Key, iv, default, plaintext), seconds));
                    }
                }
            }
            finally
            {
                foreach (var (_, backend) in variants)
                {
                    backend.Dispose();
                }
            }

            Console.WriteLine("| AES-256-GCM encrypt 32 B, 1 thread, 5 interleaved rounds | median ops/s | µs per call | range ops/s |");
            Console.WriteLine("|---|---:|---:|---:|");
            for (var i = 0; i < variants.Length; i++)
            {
                var sorted = rates[i].Order().ToList();
                var median = sorted[sorted.Count / 2];
                Console.WriteLine($"| {variants[i].Name} | {median:N0} | {1e6 / median:F1} | {sorted[0]:N0}-{sorted[^1]:N0} |");
            }

            using var node = Pkcs11Backend.Open(Options(true, TimeSpan.Zero));
            await node.IndexAsync("bench/", [HsmKeyDescription.Aes(Key)]);
            await node.EncryptAesGcmAsync(Key, iv, default, plaintext);
            Console.WriteLine();
            Console.WriteLine("| after another process | first use here, ms | next use, µs |");
            Console.WriteLine("|---|---:|---:|");
            for (var round = 1; round <= 3; round++)
            {
                var theirs = $"kmsemu/peer/{Guid.NewGuid():D}/1";
                await PeerRunAsync(tokens, "create", theirs);
                var first = Stopwatch.StartNew();
                await node.EncryptAesGcmAsync(theirs, iv, default, plaintext);
                var firstMs = first.Elapsed.TotalMilliseconds;
                var next = Stopwatch.StartNew();
                await node.EncryptAesGcmAsync(theirs, iv, default, plaintext);
                Console.WriteLine($"| made a key; this process uses it (search by label of {objects + round + 1:N0} objects) | {firstMs:F1} | {next.Elapsed.TotalMicroseconds:F0} |");

                await PeerRunAsync(tokens, "create", $"kmsemu/peer/{Guid.NewGuid():D}/1");
                first.Restart();
                await node.EncryptAesGcmAsync(Key, iv, default, plaintext);
                firstMs = first.Elapsed.TotalMilliseconds;
                next.Restart();
                await node.EncryptAesGcmAsync(Key, iv, default, plaintext);
                Console.WriteLine($"| made another key; this process uses a known key, checked (SoftHSM2 re-reads the directory) | {firstMs:F1} | {next.Elapsed.TotalMicroseconds:F0} |");

                await PeerRunAsync(tokens, "destroy", theirs);
                first.Restart();
                var refused = false;
                try
                {
                    await node.EncryptAesGcmAsync(theirs, iv, default, plaintext);
                }
                catch (HsmException e) when (e.Kind == HsmErrorKind.KeyNotFound)
                {
                    refused = true;
                }

                Console.WriteLine($"| destroyed the first key; this process's next use is {(refused ? "refused" : "NOT refused")} | {first.Elapsed.TotalMilliseconds:F1} | |");
            }
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>The other process: opens the token, creates or destroys one AES key, exits.</summary>
    public static async Task PeerAsync(string tokens, string action, string label, string[] rest)
    {
        _ = rest;
        using var backend = Pkcs11Backend.Open(new HsmOptions { TokenDirectory = tokens, TokenLabel = TokenLabel });
        if (action == "create")
        {
            await backend.CreateAesKeyAsync(label);
        }
        else
        {
            await backend.DestroyAsync(label);
        }
    }

    private static async Task PeerRunAsync(string tokens, string action, string label)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath ?? "dotnet") { UseShellExecute = false };
        if (!Path.GetFileNameWithoutExtension(start.FileName).Equals("HsmRaw", StringComparison.Ordinal))
        {
            start.ArgumentList.Add(typeof(SharedToken).Assembly.Location);
        }

        foreach (var argument in new[] { "--peer", tokens, action, label })
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment.Remove("SOFTHSM2_CONF");
        using var peer = Process.Start(start) ?? throw new InvalidOperationException("The peer did not start.");
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await peer.WaitForExitAsync(timeout.Token);
        if (peer.ExitCode != 0)
        {
            throw new InvalidOperationException($"The peer failed to {action} {label} (exit code {peer.ExitCode}).");
        }
    }

    private static async Task<double> Rate(Func<ValueTask> run, double seconds)
    {
        for (var i = 0; i < 200; i++)
        {
            await run();
        }

        long count = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            await run();
            count++;
        }

        return count / clock.Elapsed.TotalSeconds;
    }
}
