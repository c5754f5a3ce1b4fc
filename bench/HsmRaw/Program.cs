// The HSM's raw rate for each operation the load benchmark drives through HTTP: KmsEmulator.Hsm's backend called
// in process, in a closed loop on 1 and 2 threads (each thread its own pooled session), no HTTP, no JSON.
// Usage: dotnet run -c Release --project bench/HsmRaw [seconds-per-run]
//        dotnet run -c Release --project bench/HsmRaw -- --token-dir DIR [seconds-per-run] [rounds]
// The second form measures AES-256-GCM encryption with a key added to an existing token (an emulator data directory's
// softhsm/tokens, with its default label and PIN; "new" for a new, empty token): run it on a large store's token and on
// "new" one after the other to see what the number of objects on the token costs the HSM itself. The added key is
// destroyed at the end.
//        dotnet run -c Release --project bench/HsmRaw -- --shared [objects] [seconds-per-run]
// The third form measures what sharing one token between processes costs (SharedToken.cs).
using System.Diagnostics;
using System.Security.Cryptography;
using KmsEmulator.Hsm;
using KmsEmulator.Hsm.Pkcs11;

if (args.Length > 0 && args[0] == "--shared")
{
    await SharedToken.RunAsync(
        args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 1000,
        args.Length > 2 ? double.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 3);
    return;
}

if (args.Length > 3 && args[0] == "--peer")
{
    await SharedToken.PeerAsync(args[1], args[2], args[3], args[4..]);
    return;
}

if (args.Length > 1 && args[0] == "--token-dir")
{
    await CompareTokens(args[1], args.Length > 2 ? double.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 5,
        args.Length > 3 ? int.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture) : 3);
    return;
}

var seconds = args.Length > 0 ? double.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 5;
var root = Path.Combine(Path.GetTempPath(), "kmsemu-hsmraw-" + Environment.ProcessId);
using var hsm = Pkcs11Backend.Open(new HsmOptions { TokenDirectory = Path.Combine(root, "tokens"), TokenLabel = "raw" });

await hsm.CreateAesKeyAsync("aes");
await hsm.CreateKeyPairAsync("rsa", HsmKeySpec.Rsa2048, HsmKeyUsage.SignVerify);
await hsm.CreateKeyPairAsync("ecc", HsmKeySpec.EcP256, HsmKeyUsage.SignVerify);
await hsm.CreateHmacKeyAsync("hmac", HsmKeySpec.Hmac256);

var iv = RandomNumberGenerator.GetBytes(12);
var aad = RandomNumberGenerator.GetBytes(32);
var plaintext = RandomNumberGenerator.GetBytes(32);
var message = RandomNumberGenerator.GetBytes(64);
var digest = SHA256.HashData(message);
var rsaSignature = await hsm.SignAsync("rsa", SignatureScheme.RsaPssSha256, digest, inputIsDigest: true);
var sealedBytes = await hsm.EncryptAesGcmAsync("aes", iv, aad, plaintext);

var operations = new (string Name, Func<ValueTask> Run)[]
{
    ("AES-256-GCM encrypt 32 B", async () => await hsm.EncryptAesGcmAsync("aes", iv, aad, plaintext)),
    ("AES-256-GCM decrypt 32 B", async () => await hsm.DecryptAesGcmAsync("aes", iv, aad, sealedBytes)),
    ("RSA-2048 PSS sign (SHA-256)", async () => await hsm.SignAsync("rsa", SignatureScheme.RsaPssSha256, digest, inputIsDigest: true)),
    ("ECDSA P-256 sign (SHA-256)", async () => await hsm.SignAsync("ecc", SignatureScheme.EcdsaSha256, digest, inputIsDigest: true)),
    ("RSA-2048 PSS verify", async () => await hsm.VerifyAsync("rsa", SignatureScheme.RsaPssSha256, digest, inputIsDigest: true, rsaSignature)),
    ("HMAC-SHA256 64 B", async () => await hsm.MacAsync("hmac", MacAlgorithm.HmacSha256, message)),
    ("C_GenerateRandom 32 B", async () => await hsm.GenerateRandomAsync(32)),
};

Console.WriteLine($"| operation | 1 thread ops/s | 2 threads ops/s |");
Console.WriteLine("|---|---:|---:|");
foreach (var (name, run) in operations)
{
    await Measure(run, 1, 1); // warm-up
    var one = await Measure(run, 1, seconds);
    var two = await Measure(run, 2, seconds);
    Console.WriteLine($"| {name} | {one:N0} | {two:N0} |");
}

Directory.Delete(root, recursive: true);

static async Task<double> Measure(Func<ValueTask> run, int threads, double seconds)
{
    var stop = Stopwatch.StartNew();
    var counts = new long[threads];
    var workers = Enumerable.Range(0, threads).Select(t => Task.Factory.StartNew(
        async () =>
        {
            while (stop.Elapsed.TotalSeconds < seconds)
            {
                await run();
                counts[t]++;
            }
        },
        TaskCreationOptions.LongRunning).Unwrap()).ToArray();
    await Task.WhenAll(workers);
    return counts.Sum() / stop.Elapsed.TotalSeconds;
}

static async Task CompareTokens(string tokenDirectory, double seconds, int rounds)
{
    var fresh = tokenDirectory == "new";
    var root = Path.Combine(Path.GetTempPath(), "kmsemu-hsmraw-token-" + Environment.ProcessId);
    var opened = Stopwatch.StartNew();
    using var hsm = Pkcs11Backend.Open(fresh
        ? new HsmOptions { TokenDirectory = Path.Combine(root, "tokens") }
        : new HsmOptions { TokenDirectory = tokenDirectory, InitializeToken = false });
    Console.WriteLine($"opened {(fresh ? "a new token" : tokenDirectory)} in {opened.Elapsed.TotalSeconds:F1} s");
    var label = $"hsmraw-probe/{Environment.ProcessId}";
    await hsm.CreateAesKeyAsync(label);
    try
    {
        var iv = RandomNumberGenerator.GetBytes(12);
        var aad = RandomNumberGenerator.GetBytes(32);
        var plaintext = RandomNumberGenerator.GetBytes(32);
        await Measure(async () => await hsm.EncryptAesGcmAsync(label, iv, aad, plaintext), 1, 1);
        for (var round = 0; round < rounds; round++)
        {
            var rate = await Measure(async () => await hsm.EncryptAesGcmAsync(label, iv, aad, plaintext), 1, seconds);
            Console.WriteLine($"AES-256-GCM encrypt 32 B, 1 thread, round {round + 1}: {rate:N0}/s");
        }
    }
    finally
    {
        await hsm.DestroyAsync(label);
        if (fresh)
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
