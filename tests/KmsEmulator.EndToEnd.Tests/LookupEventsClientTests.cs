using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using static KmsEmulator.EndToEnd.Tests.LookupFixture;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>
/// The user story of LookupEvents: <c>aws cloudtrail lookup-events --endpoint-url ...</c> and boto3's CloudTrail client,
/// with the same port and credentials as KMS, see the calls of <see cref="LookupFixture"/> newest first, by each
/// attribute, by time and page by page. A client that is not installed here is skipped.
/// </summary>
public sealed class LookupEventsClientTests(LookupFixture fixture) : IClassFixture<LookupFixture>
{
    // ---------------------------------------------------------------- AWS CLI

    [SkippableFact]
    public async Task The_AWS_CLI_lists_the_calls_newest_first_and_pages_with_page_size_and_max_items()
    {
        var all = await CliAsync();
        var paged = await CliAsync("--page-size", "3");
        var first = await CliAsync("--max-items", "3");
        var rest = await CliAsync("--starting-token", first["NextToken"]!.GetValue<string>());

        Assert.Equal(NewestFirst, Names(all));
        Assert.Null(all["NextToken"]);
        Assert.Equal(NewestFirst, Names(paged));
        Assert.Equal(NewestFirst[..3], Names(first));
        Assert.Equal(NewestFirst[3..], Names(rest));
        var encrypt = all["Events"]![0]!;
        var record = JsonNode.Parse(encrypt["CloudTrailEvent"]!.GetValue<string>())!;
        Assert.Equal(encrypt["EventId"]!.GetValue<string>(), record["eventID"]!.GetValue<string>());
        Assert.Equal(fixture.Key2Arn, encrypt["Resources"]![0]!["ResourceName"]!.GetValue<string>());
    }

    [SkippableFact]
    public async Task The_AWS_CLI_filters_by_each_attribute()
    {
        var eventId = (await CliAsync("--max-items", "1"))["Events"]![0]!["EventId"]!.GetValue<string>();
        (string Key, string Value, string[] Expected)[] cases =
        [
            ("EventId", eventId, ["Encrypt"]),
            ("EventName", "CreateKey", ["CreateKey", "CreateKey"]),
            ("ReadOnly", "false", ["CreateKey", "CreateKey"]),
            ("Username", "bob", ["Encrypt"]),
            ("AccessKeyId", Bob.AccessKeyId, ["Encrypt"]),
            ("EventSource", "kms.amazonaws.com", NewestFirst),
            ("ResourceType", "AWS::KMS::Key", ["Encrypt", "Decrypt", "CreateKey", "Encrypt", "Encrypt", "CreateKey"]),
            ("ResourceName", fixture.Key2Arn, ["Encrypt", "CreateKey"]),
        ];

        foreach (var (key, value, expected) in cases)
        {
            var answer = await CliAsync("--lookup-attributes", $"AttributeKey={key},AttributeValue={value}");
            Assert.True(expected.SequenceEqual(Names(answer)), $"{key}={value}: expected [{string.Join(", ", expected)}], got [{string.Join(", ", Names(answer))}]");
        }
    }

    [SkippableFact]
    public async Task The_AWS_CLI_takes_a_time_range_and_shows_CloudTrails_errors()
    {
        var times = await TimesAsync();

        var range = await CliAsync("--start-time", Iso(times[5]), "--end-time", Iso(times[3]));
        var backwards = await CliFailureAsync("--start-time", Iso(times[3]), "--end-time", Iso(times[5]));
        var tooMany = await CliFailureAsync("--page-size", "51");
        var twoAttributes = await CliFailureAsync(
            "--lookup-attributes", "AttributeKey=EventName,AttributeValue=Encrypt", "AttributeKey=Username,AttributeValue=bob");
        var otherOperation = await CommandFailureAsync(["cloudtrail", "describe-trails"]);

        Assert.Equal(["Decrypt", "CreateKey", "Encrypt"], Names(range));
        Assert.Contains("(InvalidTimeRangeException)", backwards, StringComparison.Ordinal);
        Assert.Contains("(InvalidMaxResultsException)", tooMany, StringComparison.Ordinal);
        Assert.Contains("(InvalidLookupAttributesException)", twoAttributes, StringComparison.Ordinal);
        Assert.Contains("(UnsupportedOperationException)", otherOperation, StringComparison.Ordinal);
        Assert.Contains("DescribeTrails", otherOperation, StringComparison.Ordinal);
    }

    // ---------------------------------------------------------------- boto3

    [SkippableFact]
    public async Task Boto3_looks_up_by_each_attribute_and_time_range_and_pages_with_NextToken_and_the_paginator()
    {
        var times = await TimesAsync();
        var eventId = (await Boto3Async(new { call = "lookup", args = new { MaxResults = 1 } }))[0]!["pages"]![0]!["events"]![0]!["EventId"]!.GetValue<string>();
        (string Key, string Value, string[] Expected)[] cases =
        [
            ("EventId", eventId, ["Encrypt"]),
            ("EventName", "Encrypt", ["Encrypt", "Encrypt", "Encrypt"]),
            ("ReadOnly", "true", ["Encrypt", "DescribeKey", "ListKeys", "Decrypt", "Encrypt", "Encrypt"]),
            ("Username", "root", ["ListKeys"]),
            ("AccessKeyId", Alice.AccessKeyId, ["Encrypt", "DescribeKey", "Decrypt", "CreateKey", "Encrypt", "CreateKey"]),
            ("EventSource", "kms.amazonaws.com", NewestFirst),
            ("ResourceType", "AWS::KMS::Key", ["Encrypt", "Decrypt", "CreateKey", "Encrypt", "Encrypt", "CreateKey"]),
            ("ResourceName", fixture.Key1Arn, ["Decrypt", "Encrypt", "Encrypt", "CreateKey"]),
        ];
        object[] calls =
        [
            .. cases.Select(c => new { call = "lookup", args = (object)new { LookupAttributes = new[] { new { AttributeKey = c.Key, AttributeValue = c.Value } } } }),
            new { call = "lookup", args = new { StartTime = times[5], EndTime = times[3] } },
            new { call = "lookup", args = new { MaxResults = 5 } },
            new { call = "paginate", args = new { }, page_size = 3 },
            new { call = "paginate", args = new { LookupAttributes = new[] { new { AttributeKey = "EventName", AttributeValue = "Encrypt" } } }, page_size = 2 },
        ];

        var results = await Boto3Async(calls);

        for (var i = 0; i < cases.Length; i++)
        {
            var names = PageNames(results[i]!["pages"]![0]!);
            Assert.True(cases[i].Expected.SequenceEqual(names), $"{cases[i].Key}={cases[i].Value}: got [{string.Join(", ", names)}]");
        }

        Assert.Equal(["Decrypt", "CreateKey", "Encrypt"], PageNames(results[cases.Length]!["pages"]![0]!));
        var firstFive = results[cases.Length + 1]!["pages"]![0]!;
        Assert.Equal(NewestFirst[..5], PageNames(firstFive));
        var token = firstFive["next"]!.GetValue<string>();
        var nextPage = (await Boto3Async(new { call = "lookup", args = new { MaxResults = 5, NextToken = token } }))[0]!["pages"]![0]!;
        Assert.Equal(NewestFirst[5..], PageNames(nextPage));
        Assert.Null(nextPage["next"]);

        var pages = results[cases.Length + 2]!["pages"]!.AsArray();
        Assert.Equal([3, 3, 2], pages.Select(p => p!["events"]!.AsArray().Count));
        Assert.Equal(NewestFirst, pages.SelectMany(p => PageNames(p!)));
        var encryptPages = results[cases.Length + 3]!["pages"]!.AsArray();
        Assert.Equal([2, 1], encryptPages.Select(p => p!["events"]!.AsArray().Count));
        var times3 = encryptPages.SelectMany(p => p!["events"]!.AsArray().Select(e => e!["EventTime"]!.GetValue<long>())).ToList();
        Assert.Equal(times3.OrderDescending(), times3);
    }

    [SkippableFact]
    public async Task Boto3_gets_CloudTrails_errors_as_ClientError_codes()
    {
        object[] calls =
        [
            new { call = "lookup", args = new { StartTime = 1_700_000_100, EndTime = 1_700_000_000 } },
            new { call = "lookup", args = new { MaxResults = 0 } },
            new { call = "lookup", args = new { MaxResults = 51 } },
            new { call = "lookup", args = new { NextToken = "bogus" } },
            new { call = "lookup", args = new { LookupAttributes = new[] { new { AttributeKey = "Nope", AttributeValue = "x" } } } },
            new { call = "lookup", args = new { EventCategory = "management" } },
            new { call = "lookup", args = new { EventCategory = "insight" } },
            new { call = "describe_trails" },
        ];

        var results = await Boto3Async(calls);

        string[] codes = [.. results.Take(6).Select(r => r!["error"]?["code"]?.GetValue<string>() ?? "(no error)")];
        Assert.Equal(
            ["InvalidTimeRangeException", "InvalidMaxResultsException", "InvalidMaxResultsException", "InvalidNextTokenException", "InvalidLookupAttributesException", "InvalidEventCategoryException"],
            codes);
        Assert.All(results.Take(6), r => Assert.Equal(400, r!["error"]!["status"]!.GetValue<int>()));
        Assert.Empty(results[6]!["pages"]![0]!["events"]!.AsArray());
        Assert.Equal("UnsupportedOperationException", results[7]!["error"]!["code"]!.GetValue<string>());
    }

    // ---------------------------------------------------------------- helpers

    private static string[] Names(JsonNode answer) => [.. answer["Events"]!.AsArray().Select(e => e!["EventName"]!.GetValue<string>())];

    private static string[] PageNames(JsonNode page) => [.. page["events"]!.AsArray().Select(e => e!["EventName"]!.GetValue<string>())];

    private static string Iso(long seconds) => DateTimeOffset.FromUnixTimeSeconds(seconds).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private async Task<long[]> TimesAsync() =>
        [.. (await CloudTrailHttp.LookupAsync(fixture.Url, new { }, Alice)).Events.Select(e => e.GetProperty("EventTime").GetInt64())];

    private static string? FindCli()
    {
        if (File.Exists("/usr/bin/aws"))
        {
            return "/usr/bin/aws";
        }

        return (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator)
            .Select(dir => Path.Combine(dir, "aws"))
            .FirstOrDefault(File.Exists);
    }

    private static string? FindPythonWithBoto3()
    {
        var candidates = new[] { "/usr/bin/python3" }.Concat(
            (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator).Select(dir => Path.Combine(dir, "python3")));
        foreach (var candidate in candidates.Where(File.Exists).Distinct())
        {
            using var probe = Process.Start(new ProcessStartInfo(candidate, ["-c", "import boto3"]) { RedirectStandardError = true, RedirectStandardOutput = true })!;
            probe.WaitForExit();
            if (probe.ExitCode == 0)
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>Runs a client with alice's credentials and an isolated configuration; returns exit code, stdout, stderr.</summary>
    private static async Task<(int Exit, string Stdout, string Stderr)> RunAsync(string program, IEnumerable<string> arguments, string? stdin = null)
    {
        var start = new ProcessStartInfo(program, arguments)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var isolated = Path.Combine(Path.GetTempPath(), "kmsemu-no-aws-config");
        start.Environment["AWS_ACCESS_KEY_ID"] = Alice.AccessKeyId;
        start.Environment["AWS_SECRET_ACCESS_KEY"] = Alice.Secret;
        start.Environment["AWS_DEFAULT_REGION"] = "us-east-1";
        start.Environment["AWS_REGION"] = "us-east-1";
        start.Environment["AWS_CONFIG_FILE"] = isolated;
        start.Environment["AWS_SHARED_CREDENTIALS_FILE"] = isolated;
        start.Environment["AWS_PAGER"] = string.Empty;
        start.Environment["AWS_EC2_METADATA_DISABLED"] = "true";
        start.Environment["AWS_MAX_ATTEMPTS"] = "1";
        start.Environment.Remove("AWS_SESSION_TOKEN");
        start.Environment.Remove("AWS_PROFILE");

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    private Task<(int Exit, string Stdout, string Stderr)> CliRunAsync(string[] command, string[] options)
    {
        var cli = FindCli();
        Skip.If(cli is null, "The AWS CLI is not installed (apt-get install awscli).");
        return RunAsync(cli!, [.. command, "--endpoint-url", fixture.Url, "--output", "json", .. options]);
    }

    private async Task<JsonNode> CliAsync(params string[] options)
    {
        var (exit, stdout, stderr) = await CliRunAsync(["cloudtrail", "lookup-events"], options);
        Assert.True(exit == 0, $"aws cloudtrail lookup-events {string.Join(' ', options)} failed ({exit}): {stderr}");
        return JsonNode.Parse(stdout)!;
    }

    private Task<string> CliFailureAsync(params string[] options) => CommandFailureAsync(["cloudtrail", "lookup-events"], options);

    private async Task<string> CommandFailureAsync(string[] command, params string[] options)
    {
        var (exit, _, stderr) = await CliRunAsync(command, options);
        Assert.True(exit != 0, $"aws {string.Join(' ', command)} {string.Join(' ', options)} should have failed");
        return stderr;
    }

    private async Task<JsonArray> Boto3Async(params object[] calls)
    {
        var python = FindPythonWithBoto3();
        Skip.If(python is null, "No python3 with boto3 is installed (apt-get install python3-boto3).");
        var script = Path.Combine(RepositoryRoot.Path, "tests", "compat", "lookup_events.py");
        var (exit, stdout, stderr) = await RunAsync(python!, [script, fixture.Url], JsonSerializer.Serialize(calls));
        Assert.True(exit == 0, $"lookup_events.py failed ({exit}): {stderr}");
        return JsonNode.Parse(stdout)!.AsArray();
    }
}
