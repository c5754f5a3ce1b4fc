using KmsEmulator.Api.Hosting;

namespace KmsEmulator.Api.Tests;

/// <summary>The emulator's command line: --help lists every option with its default, and bad options are clear errors.</summary>
public sealed class CommandLineTests
{
    [Fact]
    public void Help_lists_every_option_with_its_default_and_its_documented_meaning()
    {
        var help = CommandLine.Help();

        foreach (var option in CommandLine.Options)
        {
            Assert.Contains(option.Switch ?? "--" + option.Key, help, StringComparison.Ordinal);
        }

        Assert.Contains("--Kms:Audit:FlushInterval <duration>    default: 00:00:05", help, StringComparison.Ordinal);
        Assert.Contains("--data-dir (--Kms:DataDir) <text>    default: ./data", help, StringComparison.Ordinal);
        Assert.Contains("--Kms:Auth:Mode <Permissive|Strict>    default: Permissive", help, StringComparison.Ordinal);
        Assert.Contains("--Kms:Hsm:SessionKeyCopies <true|false>    default: true", help, StringComparison.Ordinal);
        Assert.Contains("--Kms:Store:Provider <Sqlite|PostgreSql>    default: Sqlite", help, StringComparison.Ordinal);
        Assert.Contains("How long a log file collects records before it is delivered", help, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_option_is_documented_and_every_documented_option_exists()
    {
        var options = CommandLine.Options.Select(o => o.Key).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var documented = CommandLine.DocumentedKeys()
            .Where(k => k.StartsWith("Kms:", StringComparison.Ordinal) || k == "urls")
            .Where(k => k != "Kms:Principals") // A list of objects, read by the principal directory (docs/configuration.md).
            .ToHashSet(StringComparer.OrdinalIgnoreCase);

        Assert.Empty(options.Except(documented, StringComparer.OrdinalIgnoreCase));
        Assert.Empty(documented.Except(options, StringComparer.OrdinalIgnoreCase));
    }

    [Theory]
    [InlineData("--urls http://127.0.0.1:0 --data-dir /tmp/x")]
    [InlineData("--Kms:Audit:FlushInterval=00:00:01 --Kms:Auth:Mode strict --Kms:Admin:Enabled=true")]
    [InlineData("--config settings.json --Kms:Auth:AdditionalRegions:0 xx-lab-1 --Kms:Principals:0:Arn arn:aws:iam::111122223333:user/a")]
    [InlineData("Kms:Audit:Enabled=false --Logging:LogLevel:Default=Warning --environment Development")]
    [InlineData("--Kms:Store:Provider postgresql --Kms:Store:ConnectionString Host=127.0.0.1;Database=kms")]
    [InlineData("")]
    public void Good_command_lines_pass(string commandLine)
    {
        Assert.Empty(CommandLine.Check(Args(commandLine)));
    }

    [Theory]
    [InlineData("--bogus-option 1", "Unknown option --bogus-option. Run with --help to list the options.")]
    [InlineData("--Kms:Audit:Enabld false", "Unknown option --Kms:Audit:Enabld. Did you mean --Kms:Audit:Enabled? Run with --help to list the options.")]
    [InlineData("--Kms:Audit:FlushInterval=abc", "--Kms:Audit:FlushInterval: 'abc' is not a valid duration (e.g. 00:00:05 or 1.00:00:00).")]
    [InlineData("--Kms:Auth:Mode Strictt", "--Kms:Auth:Mode: 'Strictt' is not a valid Permissive|Strict (one of Permissive, Strict).")]
    [InlineData("--Kms:Auth:Mode 1", "--Kms:Auth:Mode: '1' is not a valid Permissive|Strict (one of Permissive, Strict).")]
    [InlineData("--Kms:Store:Provider Postgres", "--Kms:Store:Provider: 'Postgres' is not a valid Sqlite|PostgreSql (one of Sqlite, PostgreSql).")]
    [InlineData("--Kms:Admin:Enabled=yes", "--Kms:Admin:Enabled: 'yes' is not a valid true|false (true or false).")]
    [InlineData("--Kms:Audit:QueueCapacity=lots", "--Kms:Audit:QueueCapacity: 'lots' is not a valid number.")]
    [InlineData("--Kms:Audit:Enabled", "--Kms:Audit:Enabled needs a value (true|false).")]
    [InlineData("stray", "Unexpected argument 'stray': options are --Key value or --Key=value. Run with --help to list them.")]
    public void Bad_command_lines_are_clear_errors(string commandLine, string problem)
    {
        Assert.Equal([problem], CommandLine.Check(Args(commandLine)));
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    public void Help_is_asked_for_alone(string arg)
    {
        Assert.True(CommandLine.WantsHelp([arg]));
        Assert.False(CommandLine.WantsHelp([arg, "--urls", "http://127.0.0.1:0"]));
    }

    private static string[] Args(string commandLine) => commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries);
}
