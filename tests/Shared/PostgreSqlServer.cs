using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Npgsql;
using Xunit;

namespace KmsEmulator.Tests.Shared;

/// <summary>
/// A throwaway PostgreSQL cluster of this test process: initdb into a temporary folder, started with pg_ctl on a free
/// port of 127.0.0.1 (its Unix socket in that folder too), password authentication for one superuser with a random
/// password, fsync off (nothing in it outlives the run). Stopped with <c>pg_ctl stop -m immediate</c> and deleted at
/// the end. Run as root (as CI is), initdb refuses to work, so the commands then run as the <c>postgres</c> user
/// through runuser, and the folder is that user's.
/// </summary>
internal sealed class PostgreSqlServer : IAsyncDisposable
{
    /// <summary>Where Debian installs the server binaries, one folder per major version; overridable for a test of the skip.</summary>
    internal static string InstallRoot => Environment.GetEnvironmentVariable("KMS_TEST_POSTGRESQL_ROOT") is { Length: > 0 } root ? root : "/usr/lib/postgresql";

    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(120);

    private readonly string _bin;
    private readonly string _folder;
    private readonly string? _runAs;
    private bool _stopped;

    private PostgreSqlServer(string bin, string folder, string? runAs, int port, string password)
    {
        _bin = bin;
        _folder = folder;
        _runAs = runAs;
        Port = port;
        Password = password;
    }

    public const string User = "kmsemu";

    public int Port { get; }

    public string Password { get; }

    private string DataDirectory => Path.Combine(_folder, "data");

    /// <summary>A connection string for <paramref name="database"/> as the superuser, over TCP on 127.0.0.1.</summary>
    public string ConnectionString(string database = "postgres") =>
        new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = Port, Username = User, Password = Password, Database = database }.ConnectionString;

    /// <summary>
    /// The folder with initdb, pg_ctl and postgres of the newest version under /usr/lib/postgresql, or null when there is none.
    /// </summary>
    public static string? FindBinaries()
    {
        if (OperatingSystem.IsWindows() || !Directory.Exists(InstallRoot))
        {
            return null;
        }

        return Directory.GetDirectories(InstallRoot)
            .Select(version => Path.Combine(version, "bin"))
            .Where(bin => File.Exists(Path.Combine(bin, "initdb")) && File.Exists(Path.Combine(bin, "pg_ctl")) && File.Exists(Path.Combine(bin, "postgres")))
            .OrderByDescending(bin => int.TryParse(Path.GetFileName(Path.GetDirectoryName(bin)), out var major) ? major : 0)
            .FirstOrDefault();
    }

    /// <summary>Makes and starts a cluster with the binaries in <paramref name="bin"/>.</summary>
    public static async Task<PostgreSqlServer> StartAsync(string bin)
    {
        string? runAs = null;
        if (geteuid() == 0)
        {
            // initdb and postgres refuse to run as root.
            runAs = "postgres";
            var (found, _) = await RunAsync("id", ["-u", runAs]);
            if (found != 0)
            {
                throw new InvalidOperationException("The tests run as root and there is no postgres user to run PostgreSQL as (Debian's postgresql package makes one).");
            }
        }

        var folder = Directory.CreateTempSubdirectory("kmsemu-pg-").FullName;
        var password = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var passwordFile = Path.Combine(folder, "password");
        await File.WriteAllTextAsync(passwordFile, password + "\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(passwordFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        if (runAs is not null)
        {
            await CheckAsync("chown", ["-R", runAs + ":", folder]);
        }

        var server = new PostgreSqlServer(bin, folder, runAs, 0, password);
        try
        {
            await server.RunAsUserAsync("initdb", ["-D", server.DataDirectory, "-U", User, "--pwfile=" + passwordFile, "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"]);
            File.Delete(passwordFile);
            // A free port can be taken by someone else between finding it and the server binding it: try a few.
            for (var attempt = 1; ; attempt++)
            {
                var port = FreeLoopbackPort();
                var started = new PostgreSqlServer(bin, folder, runAs, port, password);
                var (exitCode, output) = await started.RunAsUserAsync("pg_ctl", [
                    "-D", started.DataDirectory, "-l", Path.Combine(folder, "server.log"), "-w", "-t", "60",
                    "-o", $"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
                    "start",
                ], check: false);
                if (exitCode == 0)
                {
                    await started.WaitUntilAcceptingAsync();
                    return started;
                }

                if (attempt == 3)
                {
                    throw new InvalidOperationException($"pg_ctl start failed (exit {exitCode}):\n{output}\n{ReadLog(folder)}");
                }
            }
        }
        catch
        {
            await server.DeleteFolderAsync();
            throw;
        }
    }

    /// <summary>Creates an empty database with a random name and returns the name.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = "kmsemu_" + Guid.NewGuid().ToString("N");
        await using var connection = new NpgsqlConnection(AdminConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
        await command.ExecuteNonQueryAsync();
        return name;
    }

    /// <summary>Drops a database made by <see cref="CreateDatabaseAsync"/>, closing whatever connections it still has.</summary>
    public async Task DropDatabaseAsync(string name)
    {
        await using var connection = new NpgsqlConnection(AdminConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)", connection);
        await command.ExecuteNonQueryAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        try
        {
            await RunAsUserAsync("pg_ctl", ["-D", DataDirectory, "-m", "immediate", "-w", "stop"], check: false);
        }
        finally
        {
            await DeleteFolderAsync();
        }
    }

    // Unpooled: a pooled connection would be dead after StopAsync and StartAgainAsync.
    private string AdminConnectionString => new NpgsqlConnectionStringBuilder(ConnectionString()) { Pooling = false }.ConnectionString;

    /// <summary>Stops the server (fast shutdown: open connections are cut), keeping its data and port for <see cref="StartAgainAsync"/>.</summary>
    public async Task StopAsync() => await RunAsUserAsync("pg_ctl", ["-D", DataDirectory, "-m", "fast", "-w", "stop"]);

    /// <summary>Starts a server stopped by <see cref="StopAsync"/> again on the same port, and waits until it accepts a client.</summary>
    public async Task StartAgainAsync()
    {
        await RunAsUserAsync("pg_ctl", [
            "-D", DataDirectory, "-l", Path.Combine(_folder, "server.log"), "-w", "-t", "60",
            "-o", $"-c listen_addresses=127.0.0.1 -p {Port} -k {_folder} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
            "start",
        ]);
        await WaitUntilAcceptingAsync();
    }

    private Task DeleteFolderAsync()
    {
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover temporary folder is harmless.
        }

        return Task.CompletedTask;
    }

    /// <summary>pg_ctl -w waits for the server; this also proves that a client gets in with the password, within a bound.</summary>
    private async Task WaitUntilAcceptingAsync()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        var settings = new NpgsqlConnectionStringBuilder(ConnectionString()) { Pooling = false, Timeout = 5 };
        while (true)
        {
            try
            {
                await using var connection = new NpgsqlConnection(settings.ConnectionString);
                await connection.OpenAsync();
                return;
            }
            catch (NpgsqlException) when (DateTime.UtcNow < deadline)
            {
                // Not accepting yet: try again until the deadline.
            }
            catch (NpgsqlException e)
            {
                throw new InvalidOperationException($"PostgreSQL on 127.0.0.1:{Port} did not accept a connection within 60 s: {e.Message}\n{ReadLog(_folder)}", e);
            }
        }
    }

    private Task<(int ExitCode, string Output)> RunAsUserAsync(string program, IEnumerable<string> arguments, bool check = true)
    {
        var path = Path.Combine(_bin, program);
        return _runAs is null
            ? check ? CheckAsync(path, arguments) : RunAsync(path, arguments)
            : check ? CheckAsync("runuser", ["-u", _runAs, "--", path, .. arguments]) : RunAsync("runuser", ["-u", _runAs, "--", path, .. arguments]);
    }

    private static async Task<(int ExitCode, string Output)> CheckAsync(string program, IEnumerable<string> arguments)
    {
        var (exitCode, output) = await RunAsync(program, arguments);
        return exitCode == 0 ? (exitCode, output) : throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} failed (exit {exitCode}):\n{output}");
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string program, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = Path.GetTempPath() };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(CommandTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} did not finish within {CommandTimeout.TotalSeconds} s.");
        }

        return (process.ExitCode, await stdout + await stderr);
    }

    private static string ReadLog(string folder)
    {
        var log = Path.Combine(folder, "server.log");
        return File.Exists(log) ? "server.log:\n" + File.ReadAllText(log) : "(no server.log)";
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [DllImport("libc")]
    private static extern uint geteuid();
}

/// <summary>
/// The cluster shared by the tests of the <see cref="PostgreSqlCollection"/>: started before the first of them and
/// stopped after the last. Where the server binaries are missing, the tests skip with the reason, unless
/// KMS_COMPAT_REQUIRE_ALL=1 (CI, which installs them), where they fail.
/// </summary>
public sealed class PostgreSqlFixture : IAsyncLifetime
{
    private PostgreSqlServer? _server;
    private string? _missing;
    private Exception? _failed;

    internal PostgreSqlServer Server
    {
        get
        {
            if (_server is not null)
            {
                return _server;
            }

            if (_failed is not null)
            {
                throw new InvalidOperationException("The test PostgreSQL cluster did not start: " + _failed.Message, _failed);
            }

            var reason = _missing ?? "The test PostgreSQL cluster is not available.";
            if (Environment.GetEnvironmentVariable("KMS_COMPAT_REQUIRE_ALL") == "1")
            {
                throw new InvalidOperationException(reason + " KMS_COMPAT_REQUIRE_ALL=1 requires it (.ci/run installs Debian's postgresql).");
            }

            Skip.If(true, reason);
            throw new InvalidOperationException("unreachable");
        }
    }

    public async Task InitializeAsync()
    {
        if (PostgreSqlServer.FindBinaries() is not { } bin)
        {
            _missing = $"The PostgreSQL server binaries (initdb, pg_ctl, postgres) are not installed under {PostgreSqlServer.InstallRoot}/*/bin: apt-get install postgresql.";
            return;
        }

        try
        {
            _server = await PostgreSqlServer.StartAsync(bin);
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException or IOException or System.ComponentModel.Win32Exception)
        {
            // Reported by every test that needs the cluster, rather than as a fixture failure without a test name.
            _failed = e;
        }
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

/// <summary>The tests that use the throwaway PostgreSQL cluster; they run one after another.</summary>
[CollectionDefinition(Name)]
public sealed class PostgreSqlCollection : ICollectionFixture<PostgreSqlFixture>
{
    public const string Name = "PostgreSQL";
}
