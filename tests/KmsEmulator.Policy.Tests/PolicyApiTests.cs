using System.Text;

namespace KmsEmulator.Policy.Tests;

public sealed class PolicyApiTests
{
    private const string Owner = "111122223333";
    private const string KeyArn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    private const string Alice = "arn:aws:iam::111122223333:user/alice";

    [Fact]
    public void Parse_builds_the_model_with_condition_values_as_text()
    {
        var document = PolicyDocument.Parse(
            """
            {"Version":"2012-10-17","Id":"p1","Statement":[
              {"Sid":"S1","Effect":"Deny","NotPrincipal":{"AWS":["111122223333"],"Service":"ec2.amazonaws.com"},
               "NotAction":"kms:Describe*","Resource":["*"],
               "Condition":{"NumericLessThan":{"kms:ScheduleKeyDeletionPendingWindowInDays":30},"Bool":{"aws:SecureTransport":[true,false]}}},
              {"Effect":"Allow","Action":"kms:Encrypt"}]}
            """);

        Assert.Equal("2012-10-17", document.Version);
        Assert.Equal("p1", document.Id);
        Assert.Equal(2, document.Statements.Count);
        var first = document.Statements[0];
        Assert.Equal("S1", first.Sid);
        Assert.Equal(PolicyEffect.Deny, first.Effect);
        Assert.True(first.IsNotPrincipal);
        Assert.Equal([new PolicyPrincipal("AWS", "111122223333"), new PolicyPrincipal("Service", "ec2.amazonaws.com")], first.Principals);
        Assert.True(first.IsNotAction);
        Assert.Equal(["kms:Describe*"], first.Actions);
        Assert.False(first.IsNotResource);
        Assert.Equal(["*"], first.Resources);
        Assert.Equal("NumericLessThan", first.Conditions[0].Operator);
        Assert.Equal(["30"], first.Conditions[0].Values);
        Assert.Equal(["true", "false"], first.Conditions[1].Values);
        var second = document.Statements[1];
        Assert.Null(second.Sid);
        Assert.Equal("Statement[1]", second.Label);
        Assert.Null(second.Resources);
        Assert.Null(second.Principals);
    }

    [Fact]
    public void Parse_throws_with_the_reason_and_TryParse_returns_it()
    {
        var exception = Assert.Throws<PolicyParseException>(() => PolicyDocument.Parse("{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"kms:*\",\"NotAction\":\"kms:Decrypt\"}}"));
        Assert.Equal("Statement 1 contains both Action and NotAction; use one of them.", exception.Reason);
        Assert.IsAssignableFrom<FormatException>(exception);

        Assert.False(PolicyDocument.TryParse("{", out var document, out var error));
        Assert.Null(document);
        Assert.Equal("The policy document is not valid JSON.", error);
    }

    [Fact]
    public void The_default_key_policy_parses_and_delegates_to_IAM()
    {
        var policy = PolicyDocument.Parse(DefaultKeyPolicy.For("arn:aws:iam::111122223333:root"));
        var request = PolicyRequest.Create(Alice, "kms:Encrypt", KeyArn);

        var result = policy.Evaluate(request, PolicyType.Resource);

        Assert.True(result.IsAllowed);
        Assert.True(result.AllowedOnlyThroughAccountPrincipal);
        Assert.False(result.IsAllowedDirectly);
        Assert.Equal("Enable IAM User Permissions", result.AllowingStatement!.Sid);
    }

    [Fact]
    public void Create_infers_principal_type_and_account()
    {
        Assert.Equal((PrincipalType.Root, "111122223333"), Describe("arn:aws:iam::111122223333:root"));
        Assert.Equal((PrincipalType.IAMUser, "111122223333"), Describe("arn:aws:iam::111122223333:user/a/b"));
        Assert.Equal((PrincipalType.Role, "444455556666"), Describe("arn:aws:iam::444455556666:role/R"));
        Assert.Equal((PrincipalType.AssumedRole, "111122223333"), Describe("arn:aws:sts::111122223333:assumed-role/R/s"));
        Assert.Equal((PrincipalType.FederatedUser, "111122223333"), Describe("arn:aws:sts::111122223333:federated-user/f"));
        Assert.Equal((PrincipalType.AWSService, ""), Describe("ec2.amazonaws.com"));
        Assert.Equal((PrincipalType.Anonymous, ""), Describe("*"));
        Assert.Throws<ArgumentException>(() => PolicyRequest.Create("arn:aws:iam::111122223333:group/G", "kms:Encrypt", KeyArn));

        static (PrincipalType, string) Describe(string arn)
        {
            var request = PolicyRequest.Create(arn, "kms:Encrypt", KeyArn);
            return (request.PrincipalType, request.PrincipalAccount);
        }
    }

    [Fact]
    public void Requests_and_context_keys_compare_structurally()
    {
        var keys1 = ContextKeys.CreateBuilder().Add("kms:ViaService", "ec2.us-east-1.amazonaws.com").AddValues("aws:TagKeys", ["a", "b"]).Build();
        var keys2 = ContextKeys.CreateBuilder().AddValues("AWS:TAGKEYS", ["a", "b"]).Add("KMS:viaservice", "ec2.us-east-1.amazonaws.com").Build();
        var keys3 = ContextKeys.CreateBuilder().AddValues("aws:TagKeys", ["b", "a"]).Add("kms:ViaService", "ec2.us-east-1.amazonaws.com").Build();

        Assert.Equal(keys1, keys2);
        Assert.Equal(keys1.GetHashCode(), keys2.GetHashCode());
        Assert.NotEqual(keys1, keys3);
        var request1 = PolicyRequest.Create(Alice, "kms:Encrypt", KeyArn, keys1);
        var request2 = PolicyRequest.Create(Alice, "kms:Encrypt", KeyArn, keys2);
        Assert.Equal(request1, request2);
        Assert.Equal(request1.GetHashCode(), request2.GetHashCode());
        Assert.NotEqual(request1, request1 with { Action = "kms:Decrypt" });

        // A cached derived value must not survive a change of principal.
        var policy = PolicyDocument.Parse("""{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:username":"alice"}}}}""");
        Assert.True(policy.Evaluate(request1, PolicyType.Identity).IsAllowed);
        var bob = request1 with { PrincipalArn = "arn:aws:iam::111122223333:user/bob" };
        Assert.False(policy.Evaluate(bob, PolicyType.Identity).IsAllowed);
        Assert.True(policy.Evaluate(request1, PolicyType.Identity).IsAllowed);
    }

    [Fact]
    public void A_builder_limited_to_some_names_keeps_only_those_keys_in_any_case()
    {
        var only = new HashSet<string>(["KMS:EncryptionContext:department", "aws:tagkeys"], StringComparer.OrdinalIgnoreCase);

        var keys = ContextKeys.CreateBuilder(only)
            .AddEncryptionContext(new Dictionary<string, string> { ["Department"] = "IT", ["Project"] = "Alpha" })
            .AddValues("aws:TagKeys", ["a"])
            .Add("aws:SourceIp", "127.0.0.1")
            .Build();

        Assert.Equal(
            ["aws:TagKeys", "kms:EncryptionContext:Department"],
            keys.Select(pair => pair.Key).Order(StringComparer.Ordinal));
        Assert.True(ContextKeys.CreateBuilder(only).Keeps("AWS:TAGKEYS"));
        Assert.False(ContextKeys.CreateBuilder(only).Keeps("kms:EncryptionContextKeys"));
        Assert.True(ContextKeys.CreateBuilder().Keeps("kms:EncryptionContextKeys"));
    }

    [Fact]
    public void Encryption_context_and_time_helpers_fill_the_keys_AWS_uses()
    {
        var keys = ContextKeys.CreateBuilder()
            .AddEncryptionContext(new Dictionary<string, string> { ["Department"] = "IT", ["Project"] = "Alpha" })
            .AddCurrentTime(new DateTimeOffset(2025, 3, 1, 10, 0, 0, TimeSpan.Zero))
            .Build();

        Assert.True(keys.TryGetValues("KMS:ENCRYPTIONCONTEXT:department", out var department));
        Assert.Equal(["IT"], department);
        Assert.True(keys.TryGetValues("kms:EncryptionContextKeys", out var contextKeys));
        Assert.Equal(["Department", "Project"], contextKeys);
        Assert.True(keys.TryGetValues("aws:CurrentTime", out var now));
        Assert.Equal(["2025-03-01T10:00:00Z"], now);
        Assert.True(keys.TryGetValues("aws:EpochTime", out var epoch));
        Assert.Equal(["1740823200"], epoch);
        Assert.Equal(0, ContextKeys.CreateBuilder().AddEncryptionContext(null).AddEncryptionContext([]).Build().Count);

        var policy = PolicyDocument.Parse(
            """
            {"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*","Condition":{
              "DateLessThan":{"aws:CurrentTime":"2025-06-01T00:00:00Z"},
              "ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["Department","Project"]},
              "StringEquals":{"kms:EncryptionContext:Department":"IT"}}}}
            """);
        Assert.True(policy.Evaluate(PolicyRequest.Create(Alice, "kms:Decrypt", KeyArn, keys), PolicyType.Identity).IsAllowed);
        var later = ContextKeys.CreateBuilder().AddEncryptionContext(new Dictionary<string, string> { ["Department"] = "IT" })
            .AddCurrentTime(new DateTimeOffset(2025, 7, 1, 0, 0, 0, TimeSpan.Zero)).Build();
        Assert.False(policy.Evaluate(PolicyRequest.Create(Alice, "kms:Decrypt", KeyArn, later), PolicyType.Identity).IsAllowed);
    }

    [Fact]
    public void Decisions_carry_AWS_access_denied_messages()
    {
        var keyPolicy = PolicyDocument.Parse(DefaultKeyPolicy.For("arn:aws:iam::111122223333:root"));
        var request = PolicyRequest.Create(Alice, "kms:Decrypt", KeyArn);

        var denied = KmsAuthorization.Decide(keyPolicy, [], request, Owner, crossAccountAllowed: true);

        Assert.Equal(KmsDecision.NoIdentityPolicyAllows, denied.Decision);
        Assert.False(denied.IsExplicitDeny);
        Assert.Equal(
            $"User: {Alice} is not authorized to perform: kms:Decrypt on resource: {KeyArn} because no identity-based policy allows the kms:Decrypt action",
            denied.AccessDeniedMessage(request));

        var denyPolicy = PolicyDocument.Parse("""{"Statement":{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*"}}""");
        var explicitDeny = KmsAuthorization.Decide(denyPolicy, [], request, Owner, crossAccountAllowed: true);
        Assert.True(explicitDeny.IsExplicitDeny);
        Assert.EndsWith(" with an explicit deny in a resource-based policy", explicitDeny.AccessDeniedMessage(request), StringComparison.Ordinal);
        Assert.Equal("Statement[0]", explicitDeny.DecidingStatement!.Label);

        var noKey = KmsAuthorization.Decide(null, [], request, Owner, crossAccountAllowed: true);
        Assert.EndsWith(" because no resource-based policy allows the kms:Decrypt action", noKey.AccessDeniedMessage(request), StringComparison.Ordinal);

        var allowed = KmsAuthorization.Decide(keyPolicy, [], request with { PrincipalArn = "arn:aws:iam::111122223333:root", PrincipalType = PrincipalType.Root }, Owner, crossAccountAllowed: true);
        Assert.True(allowed.IsAllowed);
        Assert.Null(allowed.AccessDeniedMessage(request));
    }

    [Fact]
    public void Operations_without_a_key_are_decided_by_identity_policies()
    {
        var request = PolicyRequest.Create(Alice, "kms:CreateKey", "*");
        var allowCreate = PolicyDocument.Parse("""{"Statement":{"Effect":"Allow","Action":"kms:Create*","Resource":"*"}}""");
        var denyAll = PolicyDocument.Parse("""{"Statement":{"Effect":"Deny","Action":"kms:*","Resource":"*"}}""");

        Assert.Equal(KmsDecision.Allow, KmsAuthorization.DecideWithoutKey([allowCreate], request).Decision);
        Assert.Equal(KmsDecision.NoIdentityPolicyAllows, KmsAuthorization.DecideWithoutKey([], request).Decision);
        Assert.Equal(KmsDecision.ExplicitDenyInIdentityPolicy, KmsAuthorization.DecideWithoutKey([allowCreate, denyAll], request).Decision);
        Assert.Equal(KmsDecision.Allow, KmsAuthorization.DecideWithoutKey(null, PolicyRequest.Create("arn:aws:iam::111122223333:root", "kms:CreateKey", "*")).Decision);
    }

    [Fact]
    public void The_lockout_check_is_a_decision_on_the_new_policy()
    {
        // PutKeyPolicy's safety check: would the caller still be allowed kms:PutKeyPolicy under the new policy?
        var caller = PolicyRequest.Create("arn:aws:iam::111122223333:user/admin", "kms:PutKeyPolicy", KeyArn);
        var identity = new[] { PolicyDocument.Parse("""{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}""") };
        var locksOut = PolicyDocument.Parse("""{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/other"},"Action":"kms:*","Resource":"*"}}""");

        Assert.False(KmsAuthorization.Decide(locksOut, identity, caller, Owner, crossAccountAllowed: true).IsAllowed);
        Assert.True(KmsAuthorization.Decide(PolicyDocument.Parse(DefaultKeyPolicy.For("arn:aws:iam::111122223333:root")), identity, caller, Owner, crossAccountAllowed: true).IsAllowed);
    }

    [Fact]
    public void FindProblem_uses_the_parser()
    {
        Assert.Null(PolicyDocumentCheck.FindProblem(DefaultKeyPolicy.For("arn:aws:iam::111122223333:root")));
        Assert.Equal(
            "Policy contains a statement with one or more invalid principals.",
            PolicyDocumentCheck.FindProblem("""{"Statement":{"Effect":"Allow","Principal":{"AWS":"alice"},"Action":"kms:*","Resource":"*"}}"""));
        Assert.StartsWith("OverlyPermissiveCondition:", PolicyDocumentCheck.FindProblem(
            """{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"ForAllValues:StringEquals":{"kms:EncryptionContext:a":"b"}}}}"""),
            StringComparison.Ordinal);
    }

    [Fact]
    public void Evaluation_is_thread_safe()
    {
        var policy = PolicyDocument.Parse(TwentyStatementPolicy());
        var requests = Enumerable.Range(0, 64).Select(i => PolicyRequest.Create(
            i % 2 == 0 ? Alice : "arn:aws:sts::111122223333:assumed-role/App/s" + i, i % 3 == 0 ? "kms:Decrypt" : "kms:Encrypt", KeyArn,
            ContextKeys.CreateBuilder().Add("kms:EncryptionContext:tenant", "t" + (i % 5)).Add("aws:SourceIp", "10.0.0." + i).Build())).ToArray();
        var expected = requests.Select(r => policy.Evaluate(r, PolicyType.Resource)).ToArray();

        Parallel.For(0, 20_000, i =>
        {
            var n = i % requests.Length;
            Assert.Equal(expected[n], policy.Evaluate(requests[n], PolicyType.Resource));
        });
    }

    [Fact]
    public void A_20_statement_key_policy_decides_by_its_matching_statement_on_every_call()
    {
        var policy = PolicyDocument.Parse(TwentyStatementPolicy());
        var keys = ContextKeys.CreateBuilder()
            .AddEncryptionContext(new Dictionary<string, string> { ["tenant"] = "t1", ["app"] = "billing" })
            .Add("kms:ViaService", "s3.us-east-1.amazonaws.com")
            .Add("aws:SecureTransport", "true")
            .Build();
        var request = PolicyRequest.Create("arn:aws:sts::111122223333:assumed-role/App/worker-7", "kms:Decrypt", KeyArn, keys);
        var identity = new[] { PolicyDocument.Parse("""{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:*:111122223333:key/*"}}""") };

        var expected = KmsAuthorization.Decide(policy, identity, request, Owner, crossAccountAllowed: true);
        Assert.Equal(KmsDecision.Allow, expected.Decision);
        Assert.Equal("AppDecrypt", expected.DecidingStatement!.Sid);

        // Compiled matchers are reused across calls: repeated decisions must stay the same.
        for (var i = 0; i < 1_000; i++)
        {
            Assert.Equal(expected.Decision, KmsAuthorization.Decide(policy, identity, request, Owner, crossAccountAllowed: true).Decision);
        }
    }

    private static string TwentyStatementPolicy()
    {
        var statements = new List<string>
        {
            """{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}""",
            """{"Sid":"NoPlainHttp","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}""",
            """{"Sid":"OfficeOnly","Effect":"Deny","Principal":"*","Action":"kms:ScheduleKeyDeletion","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32"]}}}""",
        };
        for (var i = 0; i < 16; i++)
        {
            statements.Add(
                """{"Sid":"User#","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:user/u#","arn:aws:iam::111122223333:role/R#"]},"Action":["kms:Encrypt","kms:Decrypt","kms:GenerateDataKey*"],"Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"t#"},"StringLike":{"kms:ViaService":"*.us-east-1.amazonaws.com"}}}""".Replace("#", i.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal));
        }

        statements.Add(
            """{"Sid":"AppDecrypt","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/App"},"Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:tenant":["t1","t2"],"kms:CallerAccount":"111122223333"},"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["tenant","app"]}}}""");
        var text = new StringBuilder("{\"Version\":\"2012-10-17\",\"Statement\":[").AppendJoin(',', statements).Append("]}").ToString();
        Assert.Equal(20, PolicyDocument.Parse(text).Statements.Count);
        return text;
    }
}
