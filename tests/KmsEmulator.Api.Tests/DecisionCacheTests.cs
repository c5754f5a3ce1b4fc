using KmsEmulator.Api.Pipeline;
using KmsEmulator.Policy;

namespace KmsEmulator.Api.Tests;

public sealed class DecisionCacheTests
{
    private const string KeyArn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    private static readonly PolicyDocument OnlyKeysAOrB = PolicyDocument.Parse("""
        {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},
          "Action":"kms:Encrypt","Resource":"*","Condition":{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["a","b"]}}}]}
        """);

    private static PolicyRequest Encrypt(Dictionary<string, string> context) => new(
        "arn:aws:iam::111122223333:user/alice", "111122223333", PrincipalType.IAMUser, "kms:Encrypt", KeyArn,
        ContextKeys.CreateBuilder().AddEncryptionContext(context).Build());

    [Fact]
    public void A_cached_decision_is_reused_only_for_the_same_condition_values()
    {
        var cache = new DecisionCache();

        var allowed = cache.Decide(OnlyKeysAOrB, [], Encrypt(new() { ["a"] = "1", ["b"] = "2" }), "111122223333", crossAccountAllowed: true);
        // Joining values with a separator without escaping would give this context the same cache entry as {a, b}.
        var smuggled = cache.Decide(OnlyKeysAOrB, [], Encrypt(new() { ["a\u0002b"] = "1" }), "111122223333", crossAccountAllowed: true);

        Assert.True(allowed.IsAllowed);
        Assert.False(smuggled.IsAllowed);
        Assert.Equal(KmsDecision.NoResourcePolicyAllows, smuggled.Decision);
    }

    [Fact]
    public void Long_condition_values_are_told_apart_to_their_last_character()
    {
        var policy = PolicyDocument.Parse("""
            {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},
              "Action":"kms:Encrypt","Resource":"*","Condition":{"StringLike":{"kms:EncryptionContext:a":"*x"}}}]}
            """);
        var cache = new DecisionCache();
        var prefix = new string('v', 5_000);

        for (var round = 0; round < 2; round++)
        {
            Assert.True(cache.Decide(policy, [], Encrypt(new() { ["a"] = prefix + "x" }), "111122223333", crossAccountAllowed: true).IsAllowed);
            Assert.False(cache.Decide(policy, [], Encrypt(new() { ["a"] = prefix + "y" }), "111122223333", crossAccountAllowed: true).IsAllowed);
            Assert.True(cache.Decide(policy, [], Encrypt(new() { ["a"] = "x" }), "111122223333", crossAccountAllowed: true).IsAllowed);
        }
    }

    [Fact]
    public void Decisions_that_read_the_time_are_not_cached_by_referenced_keys()
    {
        var timed = PolicyDocument.Parse("""
            {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*",
              "Condition":{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}}]}
            """);

        Assert.Null(new DecisionCache().ReferencedKeys(timed, []));
        Assert.Equal(["kms:EncryptionContextKeys"], new DecisionCache().ReferencedKeys(OnlyKeysAOrB, []));
    }
}
