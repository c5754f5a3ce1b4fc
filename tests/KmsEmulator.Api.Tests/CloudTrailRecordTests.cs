using System.Text.Json;
using System.Text.Json.Nodes;
using KmsEmulator.Api.Audit;
using KmsEmulator.Api.Pipeline;
using KmsEmulator.Policy;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// The CloudTrail record as <see cref="CloudTrailRecord.ToUtf8"/> writes it through its reused per-thread writer: times,
/// ids and identities for every kind of caller, records written one after another and on many threads at once.
/// </summary>
public sealed class CloudTrailRecordTests
{
    private const string Account = "111122223333";
    private const string Other = "444455556666";
    private const string KeyArn = "arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    private static readonly string[] Kinds = ["root", "user", "role", "session", "service", "anonymous"];

    public static TheoryData<string> Callers() => [.. Kinds];

    private static CallerIdentity Caller(string kind) => kind switch
    {
        "root" => new(Account, $"arn:aws:iam::{Account}:root", "AKIAROOT", PrincipalType.Root),
        "user" => new(Account, $"arn:aws:iam::{Account}:user/team/alice", "AKIAALICE", PrincipalType.IAMUser),
        "role" => new(Account, $"arn:aws:iam::{Account}:role/deployer", "ASIAROLE", PrincipalType.Role),
        "session" => new(Account, $"arn:aws:sts::{Account}:assumed-role/deployer/build-42", "ASIASESSION", PrincipalType.AssumedRole),
        "service" => new(Account, "dynamodb.amazonaws.com", null, PrincipalType.AWSService),
        "anonymous" => new(Account, string.Empty, "AKIAUNKNOWN", PrincipalType.Anonymous),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    private static AuditEvent Event(CallerIdentity caller, DateTimeOffset time, bool failed = false, bool crossAccount = false) => new()
    {
        EventId = Guid.CreateVersion7(time),
        RequestId = Guid.NewGuid().ToString(),
        EventTime = time,
        EventName = "Encrypt",
        Region = "us-east-1",
        Caller = caller,
        SourceIp = "127.0.0.1",
        UserAgent = "aws-sdk-dotnet/4.0 \"quoted\" \u00e9",
        ErrorCode = failed ? "NotFoundException" : null,
        ErrorMessage = failed ? "Key 'x' does not exist" : null,
        ReadOnly = true,
        RequestParameters = new JsonObject { ["keyId"] = KeyArn, ["encryptionAlgorithm"] = "SYMMETRIC_DEFAULT" },
        Resources = [new AuditResource(Other, KeyArn)],
        RecipientAccountId = crossAccount ? Other : Account,
        CallerCopyEventId = crossAccount ? Guid.CreateVersion7(time) : null,
        SharedEventId = crossAccount ? Guid.NewGuid() : null,
        Tls = new TlsDetails("TLSv1.3", "TLS_AES_256_GCM_SHA384", "localhost:4600"),
    };

    [Theory]
    [MemberData(nameof(Callers))]
    public void Each_record_carries_its_own_time_ids_and_caller_however_many_came_before_it(string kind)
    {
        var caller = Caller(kind);
        var times = new[]
        {
            new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero),
            new DateTimeOffset(2026, 12, 31, 23, 59, 59, 999, TimeSpan.Zero),
            new DateTimeOffset(2027, 7, 9, 18, 0, 0, TimeSpan.FromHours(-7)),
        };
        foreach (var time in times)
        {
            foreach (var (failed, crossAccount) in new[] { (false, false), (true, false), (false, true) })
            {
                var e = Event(caller, time, failed, crossAccount);
                var owner = JsonDocument.Parse(CloudTrailRecord.ToUtf8(e)).RootElement;
                Assert.Equal(CloudTrailRecord.FormatTime(time), owner.GetProperty("eventTime").GetString());
                Assert.Equal(time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture), owner.GetProperty("eventTime").GetString());
                Assert.Equal(e.EventId.ToString(), owner.GetProperty("eventID").GetString());
                Assert.Equal(e.RequestId, owner.GetProperty("requestID").GetString());
                Assert.Equal(e.UserAgent, owner.GetProperty("userAgent").GetString());
                Assert.Equal(failed, owner.TryGetProperty("errorCode", out _));
                Assert.Equal(crossAccount ? Other : Account, owner.GetProperty("recipientAccountId").GetString());
                Assert.Equal(KeyArn, owner.GetProperty("resources")[0].GetProperty("ARN").GetString());
                Assert.Equal("TLSv1.3", owner.GetProperty("tlsDetails").GetProperty("tlsVersion").GetString());
                var identity = owner.GetProperty("userIdentity");
                Assert.Equal(
                    kind switch { "root" => "Root", "user" => "IAMUser", "role" => "Role", "session" => "AssumedRole", "service" => "AWSService", _ => "Unknown" },
                    identity.GetProperty("type").GetString());
                if (crossAccount)
                {
                    Assert.Equal(e.SharedEventId.ToString(), owner.GetProperty("sharedEventID").GetString());
                    var copy = JsonDocument.Parse(CloudTrailRecord.ToUtf8(e, callerCopy: true)).RootElement;
                    Assert.Equal(e.CallerCopyEventId.ToString(), copy.GetProperty("eventID").GetString());
                    Assert.Equal(Account, copy.GetProperty("recipientAccountId").GetString());
                }

                // The same event written again gives the same bytes: nothing of the previous record is left over.
                Assert.Equal(CloudTrailRecord.ToUtf8(e), CloudTrailRecord.ToUtf8(e));
            }
        }
    }

    [Fact]
    public void The_principal_id_of_a_principal_is_stable_and_differs_between_principals()
    {
        var time = new DateTimeOffset(2026, 5, 1, 0, 0, 0, TimeSpan.Zero);
        string PrincipalId(CallerIdentity caller) =>
            JsonDocument.Parse(CloudTrailRecord.ToUtf8(Event(caller, time))).RootElement.GetProperty("userIdentity").GetProperty("principalId").GetString()!;

        var alice = Caller("user");
        var bob = alice with { Arn = $"arn:aws:iam::{Account}:user/team/bob" };
        Assert.Equal(PrincipalId(alice), PrincipalId(alice));
        Assert.NotEqual(PrincipalId(alice), PrincipalId(bob));
        Assert.StartsWith("AIDA", PrincipalId(alice), StringComparison.Ordinal);
        Assert.EndsWith(":build-42", PrincipalId(Caller("session")), StringComparison.Ordinal);
    }

    /// <summary>
    /// The writer keeps what a record shares with the one before it (caller, user agent, address, key, ...) encoded;
    /// records that each differ from the last in one of those parts carry their own, and request parameters of every
    /// JSON kind come out as the projection holds them.
    /// </summary>
    [Fact]
    public async Task Records_that_differ_from_the_one_before_in_one_part_each_carry_their_own()
    {
        var time = new DateTimeOffset(2026, 5, 1, 0, 0, 0, TimeSpan.Zero);
        var alice = Caller("user");
        var variants = new List<AuditEvent>
        {
            Event(alice, time),
            Event(alice with { AccessKeyId = "AKIAOTHER" }, time),
            Event(alice with { Arn = $"arn:aws:iam::{Account}:user/team/bob" }, time),
            Event(alice with { PrincipalType = PrincipalType.Role, Arn = $"arn:aws:iam::{Account}:role/alice" }, time),
            Event(alice with { ViaService = "ec2.us-east-1.amazonaws.com" }, time),
            Event(alice, time) with { UserAgent = "other-agent/1.0" },
            Event(alice, time) with { SourceIp = "127.0.0.2" },
            Event(alice, time) with { Region = "eu-west-1" },
            Event(alice, time) with { EventName = "Decrypt" },
            Event(alice, time) with { Resources = [new AuditResource(Account, KeyArn.Replace("1234abcd", "5678abcd", StringComparison.Ordinal))] },
            Event(alice, time) with { Resources = [new AuditResource(Account, KeyArn)] },
            Event(alice, time) with { Resources = [] },
            Event(alice, time) with
            {
                RequestParameters = new JsonObject
                {
                    ["keyId"] = "alias/x\"y",
                    ["encryptionContext"] = new JsonObject { ["a"] = "1", ["\u00e9"] = "\u2603" },
                    ["grantTokens"] = new JsonArray("t1", "t2"),
                    ["numberOfBytes"] = 32,
                    ["dryRun"] = true,
                    ["nothing"] = null,
                    ["keyMetadata"] = JsonNode.Parse("""{"keySpec":"SYMMETRIC_DEFAULT","multiRegion":false,"size":[1,2.5]}"""),
                },
            },
        };

        foreach (var (e, i) in variants.Concat(variants.AsEnumerable().Reverse()).Select((e, i) => (e, i)))
        {
            var record = JsonDocument.Parse(CloudTrailRecord.ToUtf8(e)).RootElement;
            // On another thread, whose writer last wrote some other record or none: the same bytes.
            var elsewhere = await Task.Run(() => CloudTrailRecord.ToUtf8(e));
            Assert.Equal(elsewhere, CloudTrailRecord.ToUtf8(e));
            // A call through a service shows the service as its user agent and address, as CloudTrail does.
            var via = e.Caller.ViaService is null ? null : "ec2.amazonaws.com";
            Assert.Equal(via ?? e.UserAgent, record.GetProperty("userAgent").GetString());
            Assert.Equal(via ?? e.SourceIp, record.GetProperty("sourceIPAddress").GetString());
            Assert.Equal(e.Caller.AccessKeyId, record.GetProperty("userIdentity").GetProperty("accessKeyId").GetString());
            Assert.Equal(e.Caller.Arn, record.GetProperty("userIdentity").GetProperty("arn").GetString());
            Assert.Equal(e.Region, record.GetProperty("awsRegion").GetString());
            Assert.Equal(e.EventName, record.GetProperty("eventName").GetString());
            Assert.Equal(e.Resources.Select(r => r.Arn), record.GetProperty("resources").EnumerateArray().Select(r => r.GetProperty("ARN").GetString()));
            Assert.True(JsonNode.DeepEquals(e.RequestParameters, JsonNode.Parse(record.GetProperty("requestParameters").GetRawText())), $"record {i}");
        }
    }

    [Fact]
    public async Task Records_written_on_many_threads_at_once_are_each_whole()
    {
        var time = new DateTimeOffset(2026, 5, 1, 0, 0, 0, TimeSpan.Zero);
        await Task.WhenAll(Enumerable.Range(0, 8).Select(worker => Task.Run(() =>
        {
            for (var i = 0; i < 2_000; i++)
            {
                var e = Event(Caller(Kinds[(worker + i) % Kinds.Length]), time.AddSeconds(i), failed: i % 3 == 0, crossAccount: i % 5 == 0);
                var record = JsonDocument.Parse(CloudTrailRecord.ToUtf8(e)).RootElement;
                Assert.Equal(e.EventId.ToString(), record.GetProperty("eventID").GetString());
                Assert.Equal(e.RequestId, record.GetProperty("requestID").GetString());
                Assert.Equal(CloudTrailRecord.FormatTime(e.EventTime), record.GetProperty("eventTime").GetString());
            }
        })));
    }
}
