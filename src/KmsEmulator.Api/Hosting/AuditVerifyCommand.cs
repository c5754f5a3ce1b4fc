using KmsEmulator.Api.Audit;
using Microsoft.Extensions.Configuration;

namespace KmsEmulator.Api.Hosting;

/// <summary>
/// <c>KmsEmulator.Api audit verify [--data-dir DIR] [--audit-dir DIR] [--config FILE] [--Kms:...=...]</c>: checks the
/// audit trail's log and digest files (docs/audit.md, "Integrity validation") without starting the server or opening
/// the HSM. Finds the audit folder and bucket name as the server does (same configuration sources). Exit status 0 when
/// the trail is intact, 1 otherwise or when there is nothing to check, 2 for a usage error.
/// </summary>
public static class AuditVerifyCommand
{
    private static readonly Dictionary<string, string> SwitchMappings = new(StringComparer.Ordinal)
    {
        ["--data-dir"] = "Kms:DataDir",
        ["--config"] = "Kms:ConfigFile",
        ["--audit-dir"] = AuditOptions.Section + ":Directory",
    };

    public static bool Matches(string[] args) => args is ["audit", "verify", ..];

    /// <param name="args">The arguments after <c>audit verify</c>.</param>
    public static int Run(string[] args, TextWriter output)
    {
        if (args.Any(a => a is "-h" or "--help"))
        {
            output.WriteLine("usage: KmsEmulator.Api audit verify [--data-dir DIR] [--audit-dir DIR] [--config FILE] [--Kms:Audit:BucketName=NAME]");
            return 0;
        }

        IConfiguration configuration;
        try
        {
            configuration = Configuration(args);
        }
        catch (Exception e) when (e is FormatException or InvalidDataException or IOException)
        {
            output.WriteLine($"audit verify: {e.Message}");
            return 2;
        }

        var options = configuration.GetSection(AuditOptions.Section).Get<AuditOptions>() ?? new AuditOptions();
        var kms = configuration.GetSection(KmsOptions.Section).Get<KmsOptions>() ?? new KmsOptions();
        var root = Path.GetFullPath(options.Directory ?? Path.Combine(kms.DataDir, "audit"));
        if (!Directory.Exists(root))
        {
            output.WriteLine($"audit verify: there is no audit folder {root}");
            return 1;
        }

        output.WriteLine($"Verifying the audit trail in {root} (bucket {options.BucketName})");
        TrailReport report;
        try
        {
            report = new TrailVerifier(root, options.BucketName).Verify();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            output.WriteLine($"audit verify: cannot read the audit folder: {e.Message}");
            return 1;
        }

        foreach (var line in report.Lines())
        {
            output.WriteLine(line);
        }

        return report.Intact ? 0 : 1;
    }

    private static ConfigurationManager Configuration(string[] args)
    {
        var configuration = new ConfigurationManager();
        configuration.AddKmsJsonFile(Path.GetFullPath("appsettings.json"), optional: true);
        configuration.AddEnvironmentVariables();
        configuration.AddCommandLine(args, SwitchMappings);
        if (configuration["Kms:ConfigFile"] is { Length: > 0 } configFile)
        {
            configuration.AddKmsJsonFile(Path.GetFullPath(configFile), optional: false);
            configuration.AddCommandLine(args, SwitchMappings);
        }

        return configuration;
    }
}
