using System.Text.Json;
using System.Text.Json.Nodes;

namespace KmsEmulator.Policy.Tests;

/// <summary>
/// Runs every case of every <c>fixtures/*.json</c> file. A file holds <c>{"description", "defaults", "cases": [...]}</c>;
/// each case is one of:
/// <list type="bullet">
/// <item><c>policy</c> or <c>policyText</c> with <c>expectError</c> (substring of the parse error) or <c>expectValid: true</c>;</item>
/// <item><c>condition</c> (+ <c>keys</c>, optional <c>version</c>) with <c>expect: true|false</c>: an identity policy allowing
/// <c>*</c> on <c>*</c> under that Condition block, checked to allow or not;</item>
/// <item><c>policy</c> + <c>policyType</c> (Identity|Resource) + <c>request</c> with <c>expect</c>: Allow, AllowThroughAccount,
/// Deny or NotApplicable, and optional <c>sids</c> (labels of all matching statements);</item>
/// <item><c>keyPolicy</c> + <c>identityPolicies</c> + <c>request</c> (+ <c>keyOwnerAccount</c>, <c>allowedByGrant</c>) with
/// <c>expect</c> = a <see cref="KmsDecision"/> name and optional <c>allowedBy</c>.</item>
/// </list>
/// A request is <c>{principal, type?, account?, action, resource, keys}</c>, merged over the file's <c>defaults.request</c>;
/// type and account are inferred from the principal ARN when absent.
/// </summary>
public sealed class FixtureTests
{
    private static readonly string Directory = Path.Combine(AppContext.BaseDirectory, "fixtures");

    private static readonly Lazy<Dictionary<string, JsonObject>> Files = new(() =>
        System.IO.Directory.GetFiles(Directory, "*.json")
            .OrderBy(f => f, StringComparer.Ordinal)
            .ToDictionary(f => Path.GetFileName(f), f => JsonNode.Parse(File.ReadAllText(f))!.AsObject(), StringComparer.Ordinal));

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var (file, root) in Files.Value)
        {
            foreach (var item in root["cases"]!.AsArray())
            {
                data.Add(file, (string)item!["name"]!);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Case(string file, string name)
    {
        var root = Files.Value[file];
        var testCase = root["cases"]!.AsArray().Single(c => (string)c!["name"]! == name)!.AsObject();
        var defaults = root["defaults"]?.AsObject();

        if (testCase.ContainsKey("expectError") || testCase.ContainsKey("expectValid"))
        {
            RunParse(testCase);
        }
        else if (testCase.ContainsKey("condition"))
        {
            RunCondition(testCase, defaults);
        }
        else if (testCase.ContainsKey("keyPolicy"))
        {
            RunDecision(testCase, defaults);
        }
        else
        {
            RunPolicy(testCase, defaults);
        }
    }

    [Fact]
    public void Fixture_files_load_and_case_names_are_unique()
    {
        Assert.NotEmpty(Files.Value);
        foreach (var (file, root) in Files.Value)
        {
            var names = root["cases"]!.AsArray().Select(c => (string)c!["name"]!).ToList();
            Assert.True(names.Count > 0, file);
            Assert.Equal(names.Count, names.Distinct(StringComparer.Ordinal).Count());
        }

        Assert.True(Cases().Count() >= 250, $"only {Cases().Count()} fixture cases");
    }

    private static void RunParse(JsonObject testCase)
    {
        var text = PolicyText(testCase, "policy");
        var ok = PolicyDocument.TryParse(text, out var document, out var error);
        if (testCase["expectError"] is { } expected)
        {
            Assert.False(ok, $"parsed, expected an error containing: {expected}");
            Assert.Null(document);
            Assert.Contains((string)expected!, error, StringComparison.Ordinal);
            var thrown = Assert.Throws<PolicyParseException>(() => PolicyDocument.Parse(text));
            Assert.Equal(error, thrown.Reason);
            Assert.Equal(error, PolicyDocumentCheck.FindProblem(text));
        }
        else
        {
            Assert.True(ok, error);
            Assert.NotNull(document);
            Assert.Null(PolicyDocumentCheck.FindProblem(text));
        }
    }

    private static void RunCondition(JsonObject testCase, JsonObject? defaults)
    {
        var policy = new JsonObject
        {
            ["Version"] = (string?)testCase["version"] ?? "2012-10-17",
            ["Statement"] = new JsonObject
            {
                ["Effect"] = "Allow",
                ["Action"] = "*",
                ["Resource"] = "*",
                ["Condition"] = testCase["condition"]!.DeepClone(),
            },
        };
        if (testCase["version"] is JsonValue { } v && (string?)v == "")
        {
            policy.Remove("Version");
        }

        var document = PolicyDocument.Parse(policy.ToJsonString());
        var request = Request(testCase, defaults);
        var expected = (bool)testCase["expect"]!;
        var result = document.Evaluate(request, PolicyType.Identity);
        Assert.Equal(expected, result.IsAllowed);
        Assert.False(result.IsExplicitDeny);

        // The same condition on a Deny statement must deny exactly when it matched.
        var deny = JsonNode.Parse(policy.ToJsonString())!;
        deny["Statement"]!["Effect"] = "Deny";
        Assert.Equal(expected, PolicyDocument.Parse(deny.ToJsonString()).Evaluate(request, PolicyType.Identity).IsExplicitDeny);
    }

    private static void RunPolicy(JsonObject testCase, JsonObject? defaults)
    {
        var document = PolicyDocument.Parse(PolicyText(testCase, "policy"));
        var type = Enum.Parse<PolicyType>((string?)testCase["policyType"] ?? (string?)defaults?["policyType"] ?? "Identity");
        var request = Request(testCase, defaults);
        var result = document.Evaluate(request, type);
        var actual = result switch
        {
            { IsExplicitDeny: true } => "Deny",
            { IsAllowed: true, AllowedOnlyThroughAccountPrincipal: true } => "AllowThroughAccount",
            { IsAllowed: true } => "Allow",
            _ => "NotApplicable",
        };
        Assert.Equal((string)testCase["expect"]!, actual);
        if (testCase["sids"] is JsonArray sids)
        {
            Assert.Equal(sids.Select(s => (string)s!), document.MatchingStatements(request, type).Select(s => s.Label));
        }
    }

    private static void RunDecision(JsonObject testCase, JsonObject? defaults)
    {
        var keyPolicyNode = testCase["keyPolicy"];
        var keyPolicy = keyPolicyNode is null ? null : PolicyDocument.Parse(keyPolicyNode.ToJsonString());
        var identity = (testCase["identityPolicies"]?.AsArray() ?? [])
            .Select(p => PolicyDocument.Parse(p is JsonValue ? (string)p! : p!.ToJsonString()))
            .ToList();
        var owner = (string?)testCase["keyOwnerAccount"] ?? (string?)defaults?["keyOwnerAccount"] ?? "111122223333";
        var request = Request(testCase, defaults);
        var grant = (bool?)testCase["allowedByGrant"] ?? false;

        var result = KmsAuthorization.Decide(keyPolicy, identity, request, owner, AwsCrossAccountActions.All.Contains(request.Action), grant);

        Assert.Equal(Enum.Parse<KmsDecision>((string)testCase["expect"]!), result.Decision);
        Assert.Equal(result.Decision == KmsDecision.Allow, result.IsAllowed);
        Assert.Equal(result.IsAllowed, result.AccessDeniedMessage(request) is null);
        if (testCase["allowedBy"] is { } allowedBy)
        {
            Assert.Equal(Enum.Parse<KmsAllowSource>((string)allowedBy!), result.AllowedBy);
        }

        if (testCase["decidingSid"] is { } sid)
        {
            Assert.Equal((string?)sid, result.DecidingStatement?.Sid);
        }
    }

    private static string PolicyText(JsonObject testCase, string member) =>
        testCase["policyText"] is { } raw && member == "policy" ? (string)raw! : testCase[member]!.ToJsonString();

    private static PolicyRequest Request(JsonObject testCase, JsonObject? defaults)
    {
        var merged = new JsonObject();
        foreach (var source in new[] { defaults?["request"]?.AsObject(), testCase["request"]?.AsObject() })
        {
            if (source is null)
            {
                continue;
            }

            foreach (var (key, value) in source)
            {
                if (key == "keys" && merged["keys"] is JsonObject existing && value is JsonObject more)
                {
                    foreach (var (k, v) in more)
                    {
                        existing[k] = v?.DeepClone();
                    }
                }
                else
                {
                    merged[key] = value?.DeepClone();
                }
            }
        }

        if (testCase["keys"] is JsonObject shorthand)
        {
            var keysObject = merged["keys"] as JsonObject ?? new JsonObject();
            foreach (var (k, v) in shorthand)
            {
                keysObject[k] = v?.DeepClone();
            }

            merged["keys"] = keysObject;
        }

        var builder = ContextKeys.CreateBuilder();
        if (merged["keys"] is JsonObject keys)
        {
            foreach (var (key, value) in keys)
            {
                switch (value)
                {
                    case JsonArray array:
                        builder.AddValues(key, array.Select(v => (string)v!));
                        break;
                    case null:
                        break;
                    default:
                        builder.Add(key, value.GetValueKind() == JsonValueKind.String ? (string)value! : value.ToJsonString());
                        break;
                }
            }
        }

        var principal = (string?)merged["principal"] ?? "arn:aws:iam::111122223333:user/alice";
        var action = (string?)merged["action"] ?? "kms:Encrypt";
        var resource = (string?)merged["resource"] ?? "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        var request = PolicyRequest.Create(principal == "anonymous" ? "*" : principal, action, resource, builder.Build());
        if (merged["type"] is { } type)
        {
            request = request with { PrincipalType = Enum.Parse<PrincipalType>((string)type!) };
        }

        if (merged["account"] is { } account)
        {
            request = request with { PrincipalAccount = (string)account! };
        }

        return request;
    }
}
