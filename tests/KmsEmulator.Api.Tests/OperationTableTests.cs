using System.Text.RegularExpressions;
using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Pipeline;
using KmsEmulator.Api.Protocol;
using KmsEmulator.Api.Hosting;
using KmsEmulator.Api.Storage;
using KmsEmulator.Hsm;
using Microsoft.Extensions.DependencyInjection;

namespace KmsEmulator.Api.Tests;

public sealed class OperationTableTests
{
    // The production registrations, with the two ports (HSM, store) replaced by fakes that must not be called.
    private static OperationTable BuildTable() =>
        new ServiceCollection()
            .AddLogging()
            .AddKmsCore()
            .AddSingleton<IKmsStore>(new UnusedStore())
            .AddSingleton<IKeyMaterialBackend>(new UnusedHsm())
            .BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true })
            .GetRequiredService<OperationTable>();

    [Fact]
    public void Every_operation_of_the_model_has_exactly_one_row()
    {
        var table = BuildTable();

        var rows = table.Rows.Select(r => r.Operation).ToList();

        Assert.Equal(KmsOperations.Count, rows.Count);
        Assert.Equal(KmsOperations.All.OrderBy(o => o), rows.OrderBy(o => o));
        Assert.Equal(54, KmsOperations.Count);
    }

    [Fact]
    public void The_compatibility_table_lists_every_operation_with_the_status_the_operation_table_has()
    {
        var doc = File.ReadAllText(Path.Combine(RepositoryRoot.Path, "docs", "compatibility.md"));
        var statuses = Regex.Matches(doc, @"^\| (?<op>[A-Za-z]+) \| (?<status>supported|partial|not yet) \|", RegexOptions.Multiline)
            .ToDictionary(m => m.Groups["op"].Value, m => m.Groups["status"].Value);

        foreach (var row in BuildTable().Rows)
        {
            var name = row.Operation.Name();
            Assert.True(statuses.TryGetValue(name, out var status), $"docs/compatibility.md has no row for {name}.");
            Assert.True(row.Implemented == (status != "not yet"), $"docs/compatibility.md says {name} is '{status}' but Implemented is {row.Implemented}.");
        }

        Assert.Equal(KmsOperations.Count, statuses.Count);
    }

    [Fact]
    public void An_operation_that_is_not_built_answers_UnsupportedOperationException_naming_it()
    {
        var row = BuildTable()[KmsOperation.ConnectCustomKeyStore];
        var context = new KmsRequestContext("id", KmsOperation.ConnectCustomKeyStore, new CallerIdentity("111122223333", "arn:aws:iam::111122223333:root", null, KmsEmulator.Policy.PrincipalType.Root), "us-east-1", DateTimeOffset.UnixEpoch, null, null);

        var error = Assert.Throws<KmsException>(() => row.ExecuteAsync(context, "{}"u8.ToArray(), CancellationToken.None).AsTask().GetAwaiter().GetResult());

        Assert.Equal("UnsupportedOperationException", error.Code);
        Assert.Contains("ConnectCustomKeyStore", error.Message, StringComparison.Ordinal);
    }
}
