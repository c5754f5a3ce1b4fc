using System.Collections.Immutable;
using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Pipeline;
using KmsEmulator.Api.Protocol;
using KmsEmulator.Policy;

namespace KmsEmulator.Api.Tests;

/// <summary>Grant constraints, grant tokens, grant operations per key type and grantee matching.</summary>
public sealed class GrantRuleTests
{
    private static readonly KeyScope Scope = new("111122223333", "us-east-1");

    private static GrantConstraint Equal(params (string Key, string Value)[] pairs) =>
        GrantConstraint.Of(GrantConstraintKind.EncryptionContextEquals, pairs.Select(p => KeyValuePair.Create(p.Key, p.Value)));

    private static GrantConstraint Subset(params (string Key, string Value)[] pairs) =>
        GrantConstraint.Of(GrantConstraintKind.EncryptionContextSubset, pairs.Select(p => KeyValuePair.Create(p.Key, p.Value)));

    private static Dictionary<string, string> Context(params (string Key, string Value)[] pairs) => pairs.ToDictionary(p => p.Key, p => p.Value);

    private static KeyRecord Key(KeySpec spec = KeySpec.SYMMETRIC_DEFAULT, KeyUsageType usage = KeyUsageType.ENCRYPT_DECRYPT) =>
        TestKeys.Create(spec: spec, usage: usage);

    private static NewGrant Grant(params GrantOperation[] operations) =>
        new() { GranteePrincipal = "arn:aws:iam::111122223333:user/dave", Operations = [.. operations] };

    private static GrantRecord Record(string grantee, params GrantOperation[] operations) => new()
    {
        GrantId = GrantToken.NewGrantId(),
        GranteePrincipal = grantee,
        Operations = [.. operations],
        IssuingAccount = Scope.AccountId,
        CreationDate = DateTimeOffset.UnixEpoch,
    };

    private static CallerIdentity Caller(string arn, PrincipalType type, params string[] identityPolicies) =>
        new(arn.Split(':')[4], arn, null, type) { IdentityPolicies = [.. identityPolicies.Select(p => PolicyDocument.Parse(p))] };

    [Fact]
    public void EncryptionContextEquals_holds_only_for_exactly_its_pairs_in_any_order()
    {
        var constraint = Equal(("tenant", "acme"), ("stage", "prod"));

        Assert.True(constraint.IsSatisfiedBy(Context(("stage", "prod"), ("tenant", "acme"))));
        Assert.False(constraint.IsSatisfiedBy(Context(("tenant", "acme"))));
        Assert.False(constraint.IsSatisfiedBy(Context(("tenant", "acme"), ("stage", "prod"), ("extra", "1"))));
        Assert.False(constraint.IsSatisfiedBy(null));
    }

    [Fact]
    public void EncryptionContextSubset_holds_when_the_request_has_every_pair_and_maybe_more()
    {
        var constraint = Subset(("tenant", "acme"));

        Assert.True(constraint.IsSatisfiedBy(Context(("tenant", "acme"))));
        Assert.True(constraint.IsSatisfiedBy(Context(("tenant", "acme"), ("extra", "1"))));
        Assert.False(constraint.IsSatisfiedBy(Context(("extra", "1"))));
        Assert.False(constraint.IsSatisfiedBy(Context(("tenant", "globex"))));
        Assert.False(constraint.IsSatisfiedBy(null));
    }

    [Fact]
    public void Constraint_keys_match_ignoring_case_but_values_must_match_exactly()
    {
        Assert.True(Equal(("Tenant", "acme")).IsSatisfiedBy(Context(("tenant", "acme"))));
        Assert.True(Subset(("tenant", "acme")).IsSatisfiedBy(Context(("TENANT", "acme"), ("x", "y"))));
        Assert.False(Equal(("tenant", "acme")).IsSatisfiedBy(Context(("tenant", "ACME"))));
        Assert.False(Subset(("tenant", "acme")).IsSatisfiedBy(Context(("TENANT", "Acme"))));
    }

    [Fact]
    public void An_empty_EncryptionContextEquals_allows_only_requests_without_context()
    {
        var constraint = Equal();

        Assert.True(constraint.IsSatisfiedBy(null));
        Assert.True(constraint.IsSatisfiedBy(Context()));
        Assert.False(constraint.IsSatisfiedBy(Context(("a", "b"))));
    }

    [Fact]
    public void A_child_grant_constraint_must_be_at_least_as_strict_as_its_parents()
    {
        Assert.True(GrantConstraint.IsAtLeastAsStrict(null, null));
        Assert.True(GrantConstraint.IsAtLeastAsStrict(Subset(("a", "1")), null));
        Assert.False(GrantConstraint.IsAtLeastAsStrict(null, Subset(("a", "1"))));

        Assert.True(GrantConstraint.IsAtLeastAsStrict(Subset(("a", "1"), ("b", "2")), Subset(("a", "1"))));
        Assert.True(GrantConstraint.IsAtLeastAsStrict(Equal(("a", "1"), ("b", "2")), Subset(("a", "1"))));
        Assert.False(GrantConstraint.IsAtLeastAsStrict(Subset(("b", "2")), Subset(("a", "1"))));
        Assert.False(GrantConstraint.IsAtLeastAsStrict(Equal(("a", "2")), Subset(("a", "1"))));

        Assert.True(GrantConstraint.IsAtLeastAsStrict(Equal(("A", "1")), Equal(("a", "1"))));
        Assert.False(GrantConstraint.IsAtLeastAsStrict(Equal(("a", "1"), ("b", "2")), Equal(("a", "1"))));
        Assert.False(GrantConstraint.IsAtLeastAsStrict(Subset(("a", "1")), Equal(("a", "1"))));
    }

    [Fact]
    public void A_grant_token_names_its_key_and_grant_and_is_new_every_time()
    {
        var grantId = GrantToken.NewGrantId();

        var first = GrantToken.Issue(Scope, "1234abcd-12ab-34cd-56ef-1234567890ab", grantId);
        var second = GrantToken.Issue(Scope, "1234abcd-12ab-34cd-56ef-1234567890ab", grantId);

        Assert.NotEqual(first, second);
        Assert.True(GrantToken.TryParse(first, out var target));
        Assert.Equal(Scope, target.Scope);
        Assert.Equal(grantId, target.GrantId);
        Assert.Equal("arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", target.KeyArn);
        Assert.Matches("^[0-9a-f]{64}$", grantId);
    }

    [Theory]
    [InlineData("not a token")]
    [InlineData("AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4/")]
    [InlineData("")]
    public void Strings_the_emulator_did_not_issue_are_not_grant_tokens(string value)
    {
        Assert.False(GrantToken.TryParse(value, out _));
        var error = Assert.Throws<KmsException>(() => GrantToken.ValidateAll(["x", value]));
        Assert.Equal("InvalidGrantTokenException", error.Code);
    }

    [Fact]
    public void A_grant_token_with_one_changed_character_is_rejected()
    {
        var token = GrantToken.Issue(Scope, "1234abcd-12ab-34cd-56ef-1234567890ab", GrantToken.NewGrantId());
        var index = token.Length / 2;
        var damaged = token[..index] + (token[index] == 'A' ? 'B' : 'A') + token[(index + 1)..];

        Assert.False(GrantToken.TryParse(damaged, out _));
    }

    [Theory]
    [InlineData(KeySpec.SYMMETRIC_DEFAULT, KeyUsageType.ENCRYPT_DECRYPT, "Encrypt,Decrypt,GenerateDataKey,GenerateDataKeyWithoutPlaintext,GenerateDataKeyPair,GenerateDataKeyPairWithoutPlaintext,ReEncryptFrom,ReEncryptTo,DescribeKey,CreateGrant,RetireGrant")]
    [InlineData(KeySpec.RSA_2048, KeyUsageType.ENCRYPT_DECRYPT, "Encrypt,Decrypt,ReEncryptFrom,ReEncryptTo,GetPublicKey,DescribeKey,CreateGrant,RetireGrant")]
    [InlineData(KeySpec.ECC_NIST_P256, KeyUsageType.SIGN_VERIFY, "Sign,Verify,GetPublicKey,DescribeKey,CreateGrant,RetireGrant")]
    [InlineData(KeySpec.ECC_NIST_P384, KeyUsageType.KEY_AGREEMENT, "DeriveSharedSecret,GetPublicKey,DescribeKey,CreateGrant,RetireGrant")]
    [InlineData(KeySpec.HMAC_256, KeyUsageType.GENERATE_VERIFY_MAC, "GenerateMac,VerifyMac,DescribeKey,CreateGrant,RetireGrant")]
    public void Each_key_type_takes_exactly_its_grant_operations(KeySpec spec, KeyUsageType usage, string expected)
    {
        var operations = GrantRules.OperationsFor(Key(spec, usage));

        Assert.Equal(expected.Split(',').Order(), operations.Select(o => o.ToWire()).Order());
    }

    [Fact]
    public void CreateGrant_rejects_operations_the_key_type_does_not_have()
    {
        var error = Assert.Throws<KmsException>(() => GrantRules.Check(Key(), Grant(GrantOperation.Encrypt, GrantOperation.Sign, GrantOperation.GenerateMac)));

        Assert.Equal("ValidationException", error.Code);
        Assert.Contains("[Sign, GenerateMac]", error.Message, StringComparison.Ordinal);
        Assert.Contains("SYMMETRIC_DEFAULT", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CreateGrant_rejects_encryption_context_constraints_on_keys_that_are_not_symmetric_encryption_keys()
    {
        var grant = Grant(GrantOperation.Sign) with { Constraint = Subset(("a", "b")) };

        var error = Assert.Throws<KmsException>(() => GrantRules.Check(Key(KeySpec.ECC_NIST_P256, KeyUsageType.SIGN_VERIFY), grant));

        Assert.Equal("ValidationException", error.Code);
        GrantRules.Check(Key(), Grant(GrantOperation.Decrypt) with { Constraint = Subset(("a", "b")) });
    }

    [Fact]
    public void CreateGrant_rejects_a_grant_of_only_CreateGrant_with_AWS_wording()
    {
        var error = Assert.Throws<KmsException>(() => GrantRules.Check(Key(), Grant(GrantOperation.CreateGrant)));

        Assert.Equal("Grants must not contain only the CreateGrant operation.", error.Message);
    }

    [Fact]
    public void CreateGrant_limits_constraints_to_eight_pairs_of_values_up_to_384_characters()
    {
        var nine = GrantConstraint.Of(GrantConstraintKind.EncryptionContextSubset, Enumerable.Range(0, 9).Select(i => KeyValuePair.Create($"k{i}", "v")));
        var longValue = Subset(("k", new string('v', 385)));

        Assert.Throws<KmsException>(() => GrantRules.Check(Key(), Grant(GrantOperation.Decrypt) with { Constraint = nine }));
        Assert.Throws<KmsException>(() => GrantRules.Check(Key(), Grant(GrantOperation.Decrypt) with { Constraint = longValue }));
        GrantRules.Check(Key(), Grant(GrantOperation.Decrypt) with { Constraint = Subset(("k", new string('v', 384))) });
    }

    [Fact]
    public void A_grantee_is_matched_by_its_ARN_and_a_role_grantee_by_its_sessions()
    {
        const string keyArn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        var dave = Caller("arn:aws:iam::111122223333:user/dave", PrincipalType.IAMUser);
        var session = Caller("arn:aws:sts::111122223333:assumed-role/App/worker", PrincipalType.AssumedRole);

        Assert.True(GrantEvaluator.PrincipalMatches(dave.Arn, dave, "kms:Decrypt", keyArn));
        Assert.False(GrantEvaluator.PrincipalMatches("arn:aws:iam::111122223333:user/erin", dave, "kms:Decrypt", keyArn));
        Assert.True(GrantEvaluator.PrincipalMatches("arn:aws:iam::111122223333:role/App", session, "kms:Decrypt", keyArn));
        Assert.True(GrantEvaluator.PrincipalMatches("arn:aws:iam::111122223333:role/service/App", session, "kms:Decrypt", keyArn));
        Assert.False(GrantEvaluator.PrincipalMatches("arn:aws:iam::111122223333:role/Other", session, "kms:Decrypt", keyArn));
        Assert.False(GrantEvaluator.PrincipalMatches("arn:aws:iam::444455556666:role/App", session, "kms:Decrypt", keyArn));
    }

    [Fact]
    public void An_account_grantee_covers_its_root_and_principals_its_identity_policies_allow()
    {
        const string keyArn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        const string account = "arn:aws:iam::444455556666:root";
        var root = Caller(account, PrincipalType.Root);
        var allowed = Caller("arn:aws:iam::444455556666:user/carol", PrincipalType.IAMUser, """{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}]}""");
        var bare = Caller("arn:aws:iam::444455556666:user/frank", PrincipalType.IAMUser);
        var elsewhere = Caller("arn:aws:iam::111122223333:root", PrincipalType.Root);

        Assert.True(GrantEvaluator.PrincipalMatches(account, root, "kms:Decrypt", keyArn));
        Assert.True(GrantEvaluator.PrincipalMatches(account, allowed, "kms:Decrypt", keyArn));
        Assert.False(GrantEvaluator.PrincipalMatches(account, allowed, "kms:Encrypt", keyArn));
        Assert.False(GrantEvaluator.PrincipalMatches(account, bare, "kms:Decrypt", keyArn));
        Assert.False(GrantEvaluator.PrincipalMatches(account, elsewhere, "kms:Decrypt", keyArn));
    }

    [Fact]
    public void The_evaluator_allows_only_the_grants_operations_for_its_grantee_under_its_constraint()
    {
        var dave = Caller("arn:aws:iam::111122223333:user/dave", PrincipalType.IAMUser);
        var grant = Record(dave.Arn, GrantOperation.Encrypt, GrantOperation.Decrypt) with { Constraint = Subset(("tenant", "acme")) };
        var key = Key() with { Grants = KeyRecord.NoGrants.Add(grant.GrantId, grant) };
        var context = new KmsRequestContext("id", KmsOperation.Encrypt, dave, "us-east-1", DateTimeOffset.UnixEpoch, null, null);
        var evaluator = new GrantEvaluator();
        KeyAccess Access(string operation) => new(new ResolvedKey(key, null), "kms:" + operation, operation, FromCiphertext: false);

        Assert.True(Allows(evaluator, context, Access("Encrypt"), new EncryptRequest { EncryptionContext = Context(("tenant", "acme"), ("x", "1")) }));
        Assert.False(Allows(evaluator, context, Access("Encrypt"), new EncryptRequest { EncryptionContext = Context(("tenant", "globex")) }));
        Assert.False(Allows(evaluator, context, Access("Encrypt"), new EncryptRequest()));
        Assert.False(Allows(evaluator, context, Access("GenerateDataKey"), new GenerateDataKeyRequest { EncryptionContext = Context(("tenant", "acme")) }));
        Assert.False(Allows(evaluator, context, Access("ListGrants"), new ListGrantsRequest()));
        var erin = context with { Caller = Caller("arn:aws:iam::111122223333:user/erin", PrincipalType.IAMUser) };
        Assert.False(Allows(evaluator, erin, Access("Encrypt"), new EncryptRequest { EncryptionContext = Context(("tenant", "acme")) }));
    }

    [Fact]
    public void ReEncrypt_checks_the_source_context_against_ReEncryptFrom_and_the_destination_context_against_ReEncryptTo()
    {
        var grant = Record("x", GrantOperation.ReEncryptFrom, GrantOperation.ReEncryptTo) with { Constraint = Equal(("side", "source")) };
        var request = new ReEncryptRequest { SourceEncryptionContext = Context(("side", "source")), DestinationEncryptionContext = Context(("side", "destination")) };

        Assert.True(ConstraintHolds(grant, GrantOperation.ReEncryptFrom, request));
        Assert.False(ConstraintHolds(grant, GrantOperation.ReEncryptTo, request));
    }

    [Fact]
    public void Constraints_do_not_apply_to_DescribeKey_and_RetireGrant()
    {
        var grant = Record("x", GrantOperation.DescribeKey, GrantOperation.RetireGrant, GrantOperation.Decrypt) with { Constraint = Equal(("a", "1")) };

        Assert.True(ConstraintHolds(grant, GrantOperation.DescribeKey, new DescribeKeyRequest()));
        Assert.True(ConstraintHolds(grant, GrantOperation.RetireGrant, new RetireGrantRequest()));
        Assert.False(ConstraintHolds(grant, GrantOperation.Decrypt, new DecryptRequest()));
    }

    [Fact]
    public void A_grant_with_CreateGrant_allows_only_child_grants_with_a_subset_of_its_operations()
    {
        var parent = Record("x", GrantOperation.CreateGrant, GrantOperation.Encrypt, GrantOperation.Decrypt) with { Constraint = Subset(("a", "1")) };

        Assert.True(ConstraintHolds(parent, GrantOperation.CreateGrant, new CreateGrantRequest
        {
            Operations = ["Decrypt"],
            Constraints = new GrantConstraints { EncryptionContextEquals = Context(("a", "1"), ("b", "2")) },
        }));
        Assert.False(ConstraintHolds(parent, GrantOperation.CreateGrant, new CreateGrantRequest
        {
            Operations = ["Decrypt", "GenerateDataKey"],
            Constraints = new GrantConstraints { EncryptionContextSubset = Context(("a", "1")) },
        }));
        Assert.False(ConstraintHolds(parent, GrantOperation.CreateGrant, new CreateGrantRequest { Operations = ["Decrypt"] }));
    }

    [Fact]
    public void A_grant_named_like_an_existing_one_is_the_same_grant_only_with_the_same_parameters()
    {
        var existing = Record("arn:aws:iam::111122223333:user/dave", GrantOperation.Encrypt, GrantOperation.Decrypt) with { Name = "app" };
        var same = Grant(GrantOperation.Decrypt, GrantOperation.Encrypt) with { Name = "app" };

        Assert.True(existing.IsSameGrant(same, Scope.AccountId));
        Assert.False(existing.IsSameGrant(same with { Name = "other" }, Scope.AccountId));
        Assert.False(existing.IsSameGrant(same with { Operations = [GrantOperation.Decrypt] }, Scope.AccountId));
        Assert.False(existing.IsSameGrant(same with { Constraint = Subset(("a", "1")) }, Scope.AccountId));
        Assert.False(existing.IsSameGrant(same, "444455556666"));
        Assert.False((existing with { Name = null }).IsSameGrant(same with { Name = null }, Scope.AccountId));
    }

    private static readonly Lazy<OperationTable> Table = new(OperationTableTests.BuildTable);

    /// <summary>A request with its operation's real row, as the pipeline hands it to the grant evaluator.</summary>
    private static OperationRequest Row(object body) =>
        new(Table.Value[Enum.Parse<KmsOperation>(body.GetType().Name[..^"Request".Length])], body);

    private static bool ConstraintHolds(GrantRecord grant, GrantOperation operation, object body) =>
        GrantEvaluator.ConstraintHolds(grant, operation, "kms:" + operation, Row(body));

    private static bool Allows(GrantEvaluator evaluator, KmsRequestContext context, KeyAccess access, object body) =>
        evaluator.Allows(context, access, Row(body));
}
