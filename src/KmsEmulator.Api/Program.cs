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
