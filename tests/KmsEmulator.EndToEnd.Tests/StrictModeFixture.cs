using System.Text.Json.Nodes;
using Amazon.KeyManagementService;
using Amazon.Runtime;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>
/// Principals of two accounts for strict-mode tests: the key administrator (account root), alice (identity policy
/// allows all of KMS), bob (no identity policy), carol in another account (identity policy allows all of KMS), an
/// assumed-role session with a session token, dave, whose requests come through EC2 (kms:ViaService), and erin, who
/// may use keys but manage only aliases named alias/team-*.
/// </summary>
public static class StrictPrincipals
{
    public const string Other = "444455556666";

    public static readonly Principal Admin = new("arn:aws:iam::111122223333:root", "AKIDADMIN", "admin-secret");
    public static readonly Principal Alice = new("arn:aws:iam::111122223333:user/alice", "AKIDALICE", "alice-secret", AllowAllKms);
    public static readonly Principal Bob = new("arn:aws:iam::111122223333:user/bob", "AKIDBOB", "bob-secret");
    public static readonly Principal Carol = new("arn:aws:iam::444455556666:user/carol", "AKIDCAROL", "carol-secret", AllowAllKms);
    public static readonly Principal Worker = new("arn:aws:sts::111122223333:assumed-role/App/worker", "ASIAWORKER", "worker-secret", AllowAllKms, SessionToken: "token-1");
    public static readonly Principal Ebs = new("arn:aws:iam::111122223333:user/dave", "AKIDDAVE", "dave-secret", AllowAllKms, ViaService: "ec2.us-east-1.amazonaws.com");
    public static readonly Principal Erin = new("arn:aws:iam::111122223333:user/erin", "AKIDERIN", "erin-secret", KeysAndTeamAliases);
    public static readonly Principal Expired = new("arn:aws:sts::111122223333:assumed-role/App/old", "ASIAOLD", "old-secret", AllowAllKms, SessionToken: "token-2", SessionExpiration: "2020-01-01T00:00:00Z");

    /// <summary>All of KMS on keys, and alias management only on aliases named alias/team-*.</summary>
    private const string KeysAndTeamAliases = """
        {"Version":"2012-10-17","Statement":[
          {"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:*:111122223333:key/*"},
          {"Effect":"Allow","Action":["kms:CreateAlias","kms:UpdateAlias","kms:DeleteAlias"],"Resource":"arn:aws:kms:*:111122223333:alias/team-*"}]}
        """;

    private const string AllowAllKms = """{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}""";

    /// <summary>The configuration file content: strict mode and every principal above.</summary>
    public static object Configuration() => new
    {
        Kms = new
        {
            Auth = new { Mode = "Strict" },
            Principals = new[] { Admin, Alice, Bob, Carol, Worker, Expired, Ebs, Erin }.Select(p => p.ToConfiguration()).ToArray(),
        },
    };

    public static AmazonKeyManagementServiceClient Client(this EmulatorHost host, Principal principal, string region = "us-east-1") =>
        principal.SessionToken is null
            ? host.CreateClient(principal.AccessKeyId, region, principal.Secret)
            : new AmazonKeyManagementServiceClient(
                new SessionAWSCredentials(principal.AccessKeyId, principal.Secret, principal.SessionToken),
                new AmazonKeyManagementServiceConfig { ServiceURL = host.Url, AuthenticationRegion = region, MaxErrorRetry = 0 });

    public sealed record Principal(string Arn, string AccessKeyId, string Secret, string? IdentityPolicy = null, string? SessionToken = null,
        string? SessionExpiration = null, string? ViaService = null)
    {
        public object ToConfiguration() => new
        {
            Arn,
            AccessKeyId,
            SecretAccessKey = Secret,
            SessionToken,
            SessionExpiration,
            ViaService,
            // Identity policies as JSON objects, the form the configuration documents.
            IdentityPolicies = IdentityPolicy is null ? Array.Empty<JsonNode>() : [JsonNode.Parse(IdentityPolicy)!],
        };
    }
}
