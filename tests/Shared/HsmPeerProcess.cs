using System.Diagnostics;
using System.Text;

namespace KmsEmulator.Tests.Shared;

/// <summary>
/// Another emulator node's HSM backend as a separate process (tests/KmsEmulator.HsmPeer, copied into the test output by
/// a project reference), on a token directory and token this process uses too: PKCS#11 state is per process, so only
/// another process shows what sharing a SoftHSM2 token does. Every wait is bounded.
/// </summary>
internal sealed class HsmPeerProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);

    private readonly Process _process;
    private readonly StringBuilder _log = new();
    private readonly SemaphoreSlim _turn = new(1, 1);

    private HsmPeerProcess(Process process) => _process = process;

    /// <summary>Starts the peer on <paramref name="tokenDirectory"/> and the token <paramref name="tokenLabel"/> (which must exist).</summary>
    public static async Task<HsmPeerProcess> StartAsync(string tokenDirectory, string tokenLabel)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "KmsEmulator.HsmPeer.dll");
        if (!File.Exists(dll))
        {
            throw new InvalidOperationException($"{dll} is missing: the test project must reference tests/KmsEmulator.HsmPeer.");
        }

        var start = new ProcessStartInfo(Environment.ProcessPath ?? "dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        if (!Path.GetFileNameWithoutExtension(start.FileName).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            start.FileName = "dotnet"; // The test host's own executable when it is not the dotnet muxer.
        }

        foreach (var argument in new[] { dll, tokenDirectory, tokenLabel })
        {
            start.ArgumentList.Add(argument);
        }

        // The peer writes its own softhsm2.conf for the directory, as an emulator node would.
        start.Environment.Remove("SOFTHSM2_CONF");
        var peer = new HsmPeerProcess(Process.Start(start) ?? throw new InvalidOperationException("The HSM peer did not start."));
        peer._process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (peer._log)
                {
                    peer._log.AppendLine(e.Data);
                }
            }
        };
        peer._process.BeginErrorReadLine();
        var ready = await peer.ReadLineAsync(StartTimeout);
        if (ready != "ready")
        {
            await peer.DisposeAsync();
            throw new InvalidOperationException($"The HSM peer did not get ready ({ready ?? "no output"}): {peer.Log}");
        }

        return peer;
    }

    /// <summary>What the peer wrote to standard error (the backend's log lines).</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>Runs one command and returns the hex payload of its "ok" answer (empty when there is none).</summary>
    /// <exception cref="InvalidOperationException">The peer answered with an error (its kind and message are in the text).</exception>
    public async Task<string> RunAsync(string command)
    {
        var answer = await AnswerAsync(command);
        return answer == "ok" ? string.Empty
            : answer.StartsWith("ok ", StringComparison.Ordinal) ? answer[3..]
            : throw new InvalidOperationException($"The HSM peer answered '{command}' with: {answer}");
    }

    /// <summary>Runs one command and returns the whole answer line ("ok ..." or "error KIND message").</summary>
    public async Task<string> AnswerAsync(string command)
    {
        await _turn.WaitAsync();
        try
        {
            await _process.StandardInput.WriteLineAsync(command);
            await _process.StandardInput.FlushAsync();
            return await ReadLineAsync(CommandTimeout) ?? throw new InvalidOperationException($"The HSM peer exited during '{command}': {Log}");
        }
        finally
        {
            _turn.Release();
        }
    }

    private async Task<string?> ReadLineAsync(TimeSpan bound)
    {
        using var timeout = new CancellationTokenSource(bound);
        try
        {
            return await _process.StandardOutput.ReadLineAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"The HSM peer did not answer within {bound.TotalSeconds} s: {Log}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                await _process.StandardInput.WriteLineAsync("quit");
                await _process.StandardInput.FlushAsync();
                using var timeout = new CancellationTokenSource(StartTimeout);
                try
                {
                    await _process.WaitForExitAsync(timeout.Token);
                }
                catch (OperationCanceledException)
                {
                    _process.Kill(entireProcessTree: true);
                }
            }
        }
        catch (IOException)
        {
            // The peer is gone already; nothing to stop.
        }
        finally
        {
            _process.Dispose();
            _turn.Dispose();
        }
    }
}
