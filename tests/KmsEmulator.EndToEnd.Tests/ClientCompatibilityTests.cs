using System.Diagnostics;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>
/// Runs tests/compat/run-all.sh (AWS CLI v2, boto3, AWS SDK for JavaScript v3 and the AWS Encryption SDK) against a
/// real emulator. A client that is not installed is skipped on a developer machine; CI sets
/// KMS_COMPAT_REQUIRE_ALL=1 and installs them all, so there nothing is skipped.
/// </summary>
public sealed class ClientCompatibilityTests : IAsyncLifetime
{
    private EmulatorHost _host = null!;

    public async Task InitializeAsync() => _host = await EmulatorHost.StartNewAsync(EmulatorHost.TlsHostArgs);

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [SkippableFact]
    public Task The_AWS_CLI_boto3_the_JavaScript_SDK_and_the_Encryption_SDK_work_unchanged() => RunAllAsync(_host.Url, new Dictionary<string, string>());

    /// <summary>The same clients over the HTTPS listener, trusting the generated CA as docs/tls.md tells users to.</summary>
    [SkippableFact]
    public Task The_same_clients_work_over_HTTPS_trusting_the_generated_CA_through_AWS_CA_BUNDLE_and_NODE_EXTRA_CA_CERTS()
    {
        var ca = Path.Combine(_host.DataDir, "tls", "ca.pem");
        return RunAllAsync(_host.HttpsUrl!, new Dictionary<string, string> { ["AWS_CA_BUNDLE"] = ca, ["NODE_EXTRA_CA_CERTS"] = ca });
    }

    private static async Task RunAllAsync(string endpoint, Dictionary<string, string> environment)
    {
        var script = Path.Combine(RepositoryRoot.Path, "tests", "compat", "run-all.sh");
        var start = new ProcessStartInfo("bash", [script, endpoint])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment.Remove("SOFTHSM2_CONF");
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await process.WaitForExitAsync(timeout.Token);
        var output = await stdout + await stderr;

        Assert.True(process.ExitCode == 0, "tests/compat/run-all.sh failed:\n" + output);
        var summary = output.Split('\n').LastOrDefault(l => l.StartsWith("compat: ", StringComparison.Ordinal)) ?? string.Empty;
        Skip.If(summary.StartsWith("compat: 0 passed", StringComparison.Ordinal), "No client is installed here: " + summary);
    }
}
