using Amazon.KeyManagementService;
using Amazon.Runtime;
using KmsEmulator.Api.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Time.Testing;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>
/// A real emulator in this process: Kestrel on a loopback port, SoftHSM2, SQLite on disk, with a fake clock.
/// PKCS#11 state is per process, so every host of a test run shares one SoftHSM2 token directory and gets a
/// token of its own (its own label); a restart reopens the same data directory and token.
/// </summary>
public sealed class EmulatorHost : IAsyncDisposable
{
    private static readonly string RunRoot = Path.Combine(Path.GetTempPath(), $"kmsemu-e2e-{Environment.ProcessId}");
    private static readonly string TokenDirectory = Path.Combine(RunRoot, "tokens");

    private WebApplication? _app;

    static EmulatorHost() =>
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(RunRoot, recursive: true);
            }
            catch (IOException)
            {
                // Best effort: a leftover temp folder is harmless.
            }
        };

    private EmulatorHost(string dataDir, string tokenLabel, FakeTimeProvider clock)
    {
        DataDir = dataDir;
        TokenLabel = tokenLabel;
        Clock = clock;
    }

    public string DataDir { get; }

    public string TokenLabel { get; }

    public FakeTimeProvider Clock { get; }

    public string Url { get; private set; } = string.Empty;

    public IServiceProvider Services => _app?.Services ?? throw new InvalidOperationException("The host is stopped.");

    /// <summary>Starts a host with a fresh data directory and token.</summary>
    public static Task<EmulatorHost> StartNewAsync() =>
        StartAsync(Path.Combine(RunRoot, "data-" + Guid.NewGuid().ToString("N")[..8]), "t" + Guid.NewGuid().ToString("N")[..12], new FakeTimeProvider(DateTimeOffset.UtcNow));

    /// <summary>Starts a host on an existing data directory and token (a restart).</summary>
    public static async Task<EmulatorHost> StartAsync(string dataDir, string tokenLabel, FakeTimeProvider clock)
    {
        var host = new EmulatorHost(dataDir, tokenLabel, clock);
        string[] args =
        [
            "--urls", "http://127.0.0.1:0",
            "--data-dir", dataDir,
            "--Kms:Hsm:TokenLabel=" + tokenLabel,
            "--Kms:Hsm:TokenDirectory=" + TokenDirectory,
            "--Kms:LogLevel=Warning",
        ];
        host._app = await KmsEmulatorApp.BuildAsync(args, builder => builder.Services.Replace(ServiceDescriptor.Singleton<TimeProvider>(clock)));
        await host._app.StartAsync();
        host.Url = host._app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        return host;
    }

    /// <summary>Stops this host and starts a new one on the same data directory, token and clock.</summary>
    public async Task<EmulatorHost> RestartAsync()
    {
        await StopAsync();
        return await StartAsync(DataDir, TokenLabel, Clock);
    }

    /// <summary>An official AWS SDK client pointed at this host, signing with dummy credentials.</summary>
    public AmazonKeyManagementServiceClient CreateClient(string accessKeyId = "AKIAIOSFODNN7EXAMPLE", string region = "us-east-1") =>
        CreateClient(Url, accessKeyId, region);

    /// <summary>An official AWS SDK client pointed at any emulator URL (also one in another process).</summary>
    public static AmazonKeyManagementServiceClient CreateClient(string url, string accessKeyId = "AKIAIOSFODNN7EXAMPLE", string region = "us-east-1") =>
        new(
            new BasicAWSCredentials(accessKeyId, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            new AmazonKeyManagementServiceConfig { ServiceURL = url, AuthenticationRegion = region, MaxErrorRetry = 0 });

    public async Task StopAsync()
    {
        if (_app is { } app)
        {
            _app = null;
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    public ValueTask DisposeAsync() => new(StopAsync());
}
