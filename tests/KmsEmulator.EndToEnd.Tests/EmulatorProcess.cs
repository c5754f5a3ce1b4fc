using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>
/// The built emulator (<c>dotnet KmsEmulator.Api.dll</c>) as a child process with its own data directory and its own
/// SoftHSM2 configuration (SOFTHSM2_CONF is removed, so the token lives in the data directory).
/// </summary>
internal sealed partial class EmulatorProcess : IAsyncDisposable
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

    public static Task<EmulatorProcess> StartAsync(string dataDir, params string[] extraArgs) =>
        StartAsync(dataDir, throughStartScript: false, extraArgs);

    /// <summary>
    /// Starts the emulator as the Docker image does (docker/Dockerfile): through <c>tools/run.sh</c> with
    /// <c>KMS_EMULATOR_APP</c> naming the built DLL, so the script runs it without building.
    /// </summary>
    public static Task<EmulatorProcess> StartThroughScriptAsync(string dataDir, params string[] extraArgs) =>
        StartAsync(dataDir, throughStartScript: true, extraArgs);

    private static async Task<EmulatorProcess> StartAsync(string dataDir, bool throughStartScript, string[] extraArgs)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "KmsEmulator.Api.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing from the test output directory.");

        var dotnet = DotnetHost();
        var start = new ProcessStartInfo(throughStartScript ? "bash" : dotnet)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        string[] program = throughStartScript ? [Path.Combine(RepositoryRoot.Path, "tools", "run.sh")] : [dll];
        foreach (var argument in program.Concat(["--urls", "http://127.0.0.1:0", "--Kms:Tls:Enabled=false", "--data-dir", dataDir]).Concat(extraArgs))
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment.Remove("SOFTHSM2_CONF");
        if (throughStartScript)
        {
            start.Environment["KMS_EMULATOR_APP"] = dll;
            if (Path.GetDirectoryName(dotnet) is { Length: > 0 } dotnetFolder)
            {
                start.Environment["PATH"] = dotnetFolder + Path.PathSeparator + start.Environment["PATH"];
            }
        }

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

    /// <summary>Everything the process wrote to stdout and stderr so far.</summary>
    public string Output => Snapshot(_output);

    /// <summary>Sends SIGTERM (a graceful stop, as from <c>docker stop</c>) and returns at once.</summary>
    public void Terminate() => Assert.Equal(0, SendSignal(_process.Id, SigTerm));

    /// <summary>Waits, at most <paramref name="bound"/>, for the process to exit and returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan bound)
    {
        await _process.WaitForExitAsync().WaitAsync(bound);
        return _process.ExitCode;
    }

    private const int SigTerm = 15;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

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
