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
    /// <summary>The one SoftHSM2 token directory of every host in this process (and of peers that share a host's token).</summary>
    internal static readonly string TokenDirectory = Path.Combine(RunRoot, "tokens");

    /// <summary>The secret the clients use unless a test names another (permissive mode does not check it).</summary>
    public const string DummySecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

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

    private EmulatorHost(string dataDir, string tokenLabel, FakeTimeProvider clock, string[] extraArgs)
    {
        ExtraArgs = extraArgs;
        DataDir = dataDir;
        TokenLabel = tokenLabel;
        Clock = clock;
    }

    public string DataDir { get; }

    public string TokenLabel { get; }

    public FakeTimeProvider Clock { get; }

    /// <summary>Further command-line arguments, e.g. <c>--config</c> with principals and strict mode.</summary>
    public string[] ExtraArgs { get; }

    /// <summary>The plain HTTP listener's address (empty when it is off).</summary>
    public string Url { get; private set; } = string.Empty;

    /// <summary>The HTTPS listener's address, when it was turned on (<see cref="TlsHostArgs"/>).</summary>
    public string? HttpsUrl { get; private set; }

    /// <summary>Arguments that turn the HTTPS listener on, on a free loopback port.</summary>
    public static readonly string[] TlsHostArgs = ["--Kms:Tls:Enabled=true", "--Kms:Tls:Port=0"];

    public IServiceProvider Services => _app?.Services ?? throw new InvalidOperationException("The host is stopped.");

    /// <summary>Starts a host with a fresh data directory and token.</summary>
    public static Task<EmulatorHost> StartNewAsync(params string[] extraArgs) =>
        StartAsync(Path.Combine(RunRoot, "data-" + Guid.NewGuid().ToString("N")[..8]), "t" + Guid.NewGuid().ToString("N")[..12], new FakeTimeProvider(DateTimeOffset.UtcNow), extraArgs);

    /// <summary>
    /// Starts a host with a configuration file (same schema as appsettings.json), e.g. strict mode and principals.
    /// </summary>
    public static Task<EmulatorHost> StartWithConfigAsync(object configuration) =>
        StartWithConfigFileAsync(System.Text.Json.JsonSerializer.Serialize(configuration));

    /// <summary>Starts a host with a configuration file on disk holding exactly <paramref name="json"/>.</summary>
    public static Task<EmulatorHost> StartWithConfigFileAsync(string json)
    {
        Directory.CreateDirectory(RunRoot);
        var path = Path.Combine(RunRoot, "config-" + Guid.NewGuid().ToString("N")[..8] + ".json");
        File.WriteAllText(path, json);
        return StartNewAsync("--config", path);
    }

    /// <summary>Starts a host on an existing data directory and token (a restart).</summary>
    public static Task<EmulatorHost> StartAsync(string dataDir, string tokenLabel, FakeTimeProvider clock, params string[] extraArgs) =>
        StartConfiguredAsync(dataDir, tokenLabel, clock, configure: null, extraArgs);

    /// <summary>Starts a host on a data directory and token, with a further hook on the builder (e.g. a failing HSM).</summary>
    public static async Task<EmulatorHost> StartConfiguredAsync(string dataDir, string tokenLabel, FakeTimeProvider clock, Action<WebApplicationBuilder>? configure, params string[] extraArgs)
    {
        var host = new EmulatorHost(dataDir, tokenLabel, clock, extraArgs);
        string[] args =
        [
            "--urls", "http://127.0.0.1:0",
            "--data-dir", dataDir,
            "--Kms:Hsm:TokenLabel=" + tokenLabel,
            "--Kms:Hsm:TokenDirectory=" + TokenDirectory,
            "--Kms:LogLevel=Warning",
            // The HTTPS listener's default port is fixed (4600); tests that want it pass --Kms:Tls:Enabled=true
            // --Kms:Tls:Port=0 (see TlsHostArgs).
            "--Kms:Tls:Enabled=false",
            .. extraArgs,
        ];
        host._app = await KmsEmulatorApp.BuildAsync(args, builder =>
        {
            builder.Services.Replace(ServiceDescriptor.Singleton(new ClockSource(clock)));
            configure?.Invoke(builder);
        });
        await host._app.StartAsync();
        var addresses = host._app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses;
        host.Url = addresses.SingleOrDefault(a => a.StartsWith("http://", StringComparison.Ordinal)) ?? string.Empty;
        host.HttpsUrl = addresses.SingleOrDefault(a => a.StartsWith("https://", StringComparison.Ordinal));
        return host;
    }

    /// <summary>Stops this host and starts a new one on the same data directory, token and clock.</summary>
    public async Task<EmulatorHost> RestartAsync()
    {
        await StopAsync();
        return await StartAsync(DataDir, TokenLabel, Clock, ExtraArgs);
    }

    /// <summary>An official AWS SDK client pointed at this host, signing with dummy credentials.</summary>
    public AmazonKeyManagementServiceClient CreateClient(string accessKeyId = "AKIAIOSFODNN7EXAMPLE", string region = "us-east-1", string secretAccessKey = DummySecret) =>
        CreateClient(Url, accessKeyId, region, secretAccessKey);

    /// <summary>An official AWS SDK client pointed at any emulator URL (also one in another process).</summary>
    public static AmazonKeyManagementServiceClient CreateClient(string url, string accessKeyId = "AKIAIOSFODNN7EXAMPLE", string region = "us-east-1", string secretAccessKey = DummySecret) =>
        new(
            new BasicAWSCredentials(accessKeyId, secretAccessKey),
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
