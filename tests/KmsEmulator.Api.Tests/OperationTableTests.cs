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
    internal static OperationTable BuildTable() =>
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

        var error = Assert.Throws<KmsException>(() => row.ExecuteAsync(context, "{}"u8.ToArray(), new AuditFacts(), CancellationToken.None).AsTask().GetAwaiter().GetResult());

        Assert.Equal("UnsupportedOperationException", error.Code);
        Assert.Contains("ConnectCustomKeyStore", error.Message, StringComparison.Ordinal);
    }

    /// <summary>AWS's API reference: the operations with "Cross-account use: Yes".</summary>
    private static readonly HashSet<string> AwsCrossAccountOperations =
    [
        "CreateGrant", "Decrypt", "DeriveSharedSecret", "DescribeKey", "Encrypt", "GenerateDataKey", "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext", "GenerateDataKeyWithoutPlaintext", "GenerateMac", "GetKeyRotationStatus",
        "GetPublicKey", "ListGrants", "ReEncrypt", "RetireGrant", "RevokeGrant", "Sign", "Verify", "VerifyMac",
    ];

    /// <summary>Request members that AWS turns into a condition key of the request (besides the encryption context).</summary>
    private static readonly HashSet<string> ConditionMembers =
    [
        "EncryptionAlgorithm", "SourceEncryptionAlgorithm", "DestinationEncryptionAlgorithm", "SigningAlgorithm", "MessageType",
        "MacAlgorithm", "KeyAgreementAlgorithm", "KeySpec", "KeyPairSpec", "KeyUsage", "Origin", "MultiRegion", "Tags", "TagKeys",
        "BypassPolicyLockoutSafetyCheck", "PendingWindowInDays", "GranteePrincipal",
    ];

    [Fact]
    public void Every_built_row_states_the_facts_its_request_calls_for()
    {
        var missing = BuildTable().Rows.Where(r => r.Implemented).SelectMany(MissingFacts).ToList();
        Assert.True(missing.Count == 0, string.Join("\n", missing));
    }

    [Fact]
    public void A_row_that_leaves_out_a_fact_is_caught()
    {
        // Positive control for the check above: the real Encrypt row, once without its encryption context accessor and
        // once claiming no cross-account use.
        var services = new ServiceCollection().AddLogging().AddKmsCore()
            .AddSingleton<IKmsStore>(new UnusedStore()).AddSingleton<IKeyMaterialBackend>(new UnusedHsm())
            .BuildServiceProvider().GetRequiredService<PipelineServices>();
        var encrypt = (Operation<EncryptRequest, EncryptResponse>)BuildTable()[KmsOperation.Encrypt];
        Assert.Empty(MissingFacts(encrypt));

        var withoutContext = new Operation<EncryptRequest, EncryptResponse>(KmsOperation.Encrypt, encrypt.Row with { EncryptionContext = null }, services);
        var notCrossAccount = new Operation<EncryptRequest, EncryptResponse>(KmsOperation.Encrypt, encrypt.Row with { CrossAccount = false }, services);

        Assert.Contains(MissingFacts(withoutContext), m => m.Contains("encryption context", StringComparison.Ordinal));
        Assert.Contains(MissingFacts(notCrossAccount), m => m.Contains("CrossAccount", StringComparison.Ordinal));
    }

    /// <summary>What a built row leaves out of the facts its request shape calls for.</summary>
    private static IEnumerable<string> MissingFacts(OperationDescriptor row)
    {
        var name = row.Operation.Name();
        var requestType = row.GetType().GetGenericArguments()[0];
        var members = requestType.GetProperties().Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        var facts = row.GetType().GetProperty("Row")!.GetValue(row)!;
        bool Has(string fact) => facts.GetType().GetProperty(fact)!.GetValue(facts) is not null;

        if (members.Any(m => m.EndsWith("EncryptionContext", StringComparison.Ordinal)) && !Has("EncryptionContext"))
        {
            yield return $"{name}: the request has an encryption context but the row no EncryptionContext accessor";
        }

        if (members.Contains("DryRun") && !Has("DryRun"))
        {
            yield return $"{name}: the request takes DryRun but the row has no DryRun accessor";
        }

        if (members.Overlaps(ConditionMembers) && !Has("ConditionKeys"))
        {
            yield return $"{name}: the request has {string.Join(", ", members.Intersect(ConditionMembers))} but the row adds no condition keys";
        }

        if (row.CrossAccount != AwsCrossAccountOperations.Contains(name))
        {
            yield return $"{name}: CrossAccount is {row.CrossAccount}, AWS says {AwsCrossAccountOperations.Contains(name)}";
        }

        // DescribeKey takes GrantTokens but its model lists no InvalidGrantTokenException, so they are not checked.
        if (row.TakesGrantTokens != (members.Contains("GrantTokens") && name != "DescribeKey"))
        {
            yield return $"{name}: TakesGrantTokens is {row.TakesGrantTokens} but the request has GrantTokens: {members.Contains("GrantTokens")}";
        }
    }

    [Fact]
    public void Audit_projections_never_carry_secrets()
    {
        // Every built row's request projection, run on a request whose every string and blob member is filled, must not
        // contain any blob (plaintext, ciphertext, message, signature, MAC, key material) nor a grant token.
        var secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQ=";
        foreach (var row in BuildTable().Rows.Where(r => r.Implemented))
        {
            var requestType = row.GetType().GetGenericArguments()[0];
            var request = Activator.CreateInstance(requestType)!;
            foreach (var property in requestType.GetProperties().Where(p => p.CanWrite))
            {
                if (property.PropertyType == typeof(byte[]))
                {
                    property.SetValue(request, Convert.FromBase64String(secret));
                }
                else if (property.PropertyType == typeof(string))
                {
                    property.SetValue(request, property.Name == "GrantToken" ? secret : "value");
                }
                else if (property.PropertyType == typeof(List<string>))
                {
                    property.SetValue(request, property.Name == "GrantTokens" ? new List<string> { secret } : new List<string> { "value" });
                }
            }

            var facts = row.GetType().GetProperty("Row")!.GetValue(row)!;
            var audit = facts.GetType().GetProperty("Audit")!.GetValue(facts)!;
            var project = (Delegate)audit.GetType().GetProperty("Request")!.GetValue(audit)!;
            var json = (project.DynamicInvoke(request) as System.Text.Json.Nodes.JsonNode)?.ToJsonString() ?? string.Empty;
            Assert.DoesNotContain(secret, json, StringComparison.Ordinal);
        }
    }
}
