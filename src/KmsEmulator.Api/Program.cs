using KmsEmulator.Api.Hosting;
using Serilog;

if (args is ["audit", "decrypt", .. var decryptArgs])
{
    return await AuditDecryptCommand.RunAsync(decryptArgs, Console.OpenStandardOutput(), Console.Error);
}

if (AuditVerifyCommand.Matches(args))
{
    return AuditVerifyCommand.Run(args[2..], Console.Out);
}

if (CommandLine.WantsHelp(args))
{
    Console.Out.Write(CommandLine.Help());
    return 0;
}

if (CommandLine.Check(args) is { Count: > 0 } problems)
{
    foreach (var problem in problems)
    {
        Console.Error.WriteLine(problem);
    }

    return 2;
}

Log.Logger = new LoggerConfiguration().WriteTo.Console().CreateBootstrapLogger();
var started = false;
try
{
    await using var app = await KmsEmulatorApp.BuildAsync(args);
    await app.StartAsync();
    started = true;
    KmsEmulatorApp.LogListening(app);
    // SIGTERM or Ctrl+C: Kestrel stops accepting and lets requests in flight finish (Kms:ShutdownTimeout), audit
    // delivery writes every queued record, then the HSM sessions are closed.
    await app.WaitForShutdownAsync();
    KmsEmulatorApp.CloseHsm(app);
    return 0;
}
catch (InvalidOperationException e) when (e.Message.StartsWith("Failed to convert configuration value", StringComparison.Ordinal))
{
    // A bad value in a --config file or an environment variable (the command line was checked above): the binder's
    // message names the key, the value and the type; a stack trace would add nothing.
    Log.Fatal("KmsEmulator could not start: {Message}", e.Message);
    return 2;
}
catch (Exception e) when (e is SeedException or StartupConfigurationException)
{
    // The message names the setting (or the seed file, entry and field); nothing was opened or applied.
    Log.Fatal("KmsEmulator could not start: {Message}", e.Message);
    return 2;
}
catch (Exception e) when (e is not HostAbortedException)
{
    if (started)
    {
        Log.Fatal(e, "KmsEmulator failed while stopping");
    }
    else
    {
        Log.Fatal(e, "KmsEmulator could not start");
    }

    return 1;
}
finally
{
    await Log.CloseAndFlushAsync();
}
