using System.Runtime.Versioning;
using System.Text;
using Dapper;
using KmsEmulator.Api.Audit;
using KmsEmulator.Api.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;

namespace KmsEmulator.Api.Tests;

/// <summary>The audit index (audit.db) on SQLite on disk: appends, every lookup attribute, time ranges, paging, pruning, last key use.</summary>
public sealed class SqliteAuditIndexTests : IDisposable
{
    private const string Account = "111122223333";
    private const string Other = "444455556666";
    private const string Region = "us-east-1";
    private const string KeyA = "arn:aws:kms:us-east-1:111122223333:key/aaaaaaaa-0000-0000-0000-000000000001";
    private const string KeyB = "arn:aws:kms:us-east-1:111122223333:key/bbbbbbbb-0000-0000-0000-000000000002";
    private const string AliasArn = "arn:aws:kms:us-east-1:111122223333:alias/app";

    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "kmsemu-audit-" + Guid.NewGuid().ToString("N"));
    private readonly FakeTimeProvider _clock = new(T0.AddDays(-1));

    private string DbPath => Path.Combine(_dir, SqliteAuditIndex.FileName);

    // Each index closes its own pooled connections when disposed; other classes' pools (tests run in parallel) are left alone.
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private SqliteConnection Connect()
    {
        var connection = new SqliteConnection($"Data Source={DbPath};Pooling=False");
        connection.Open();
        return connection;
    }

    private SqliteAuditIndex Open() => SqliteAuditIndex.Open(DbPath, _clock);

    private static IndexedEvent Event(
        string name,
        int second,
        string account = Account,
        string region = Region,
        bool readOnly = true,
        string? accessKeyId = "AKIDALICE",
        string username = "alice",
        string[]? resources = null,
        string[]? used = null,
        int millis = 0)
    {
        var id = Guid.NewGuid();
        var time = T0.AddSeconds(second).AddMilliseconds(millis);
        var record = Encoding.UTF8.GetBytes($$"""{"eventID":"{{id}}","eventName":"{{name}}","eventTime":"{{time:yyyy-MM-dd'T'HH:mm:ss'Z'}}"}""");
        return new IndexedEvent(id, account, region, time, name, "kms.amazonaws.com", readOnly, accessKeyId, username,
            resources ?? [], used ?? [], Guid.NewGuid().ToString(), record);
    }

    private static AuditLookup Query(
        (LookupAttributeKey, string)? attribute = null,
        DateTimeOffset? start = null,
        DateTimeOffset? end = null,
        int max = 50,
        AuditCursor? after = null,
        string account = Account) =>
        new(account, Region, attribute, start, end, max, after);

    /// <summary>Eight events of the default account and region, one a second, and three that must never show up in its lookups.</summary>
    private static List<IndexedEvent> History() =>
    [
        Event("CreateKey", 0, readOnly: false, resources: [KeyA]),
        Event("CreateAlias", 1, readOnly: false, resources: [AliasArn, KeyA]),
        Event("Encrypt", 2, resources: [KeyA], used: [KeyA]),
        Event("Encrypt", 3, accessKeyId: "AKIDBOB", username: "bob", resources: [KeyB], used: [KeyB]),
        Event("Decrypt", 4, resources: [KeyA], used: [KeyA]),
        Event("GenerateRandom", 5, accessKeyId: null, username: "root"),
        Event("DisableKey", 6, readOnly: false, resources: [KeyB]),
        Event("ListKeys", 7),
        Event("Encrypt", 8, account: Other, resources: [KeyA]),
        Event("Encrypt", 9, region: "eu-west-1", resources: [KeyA]),
        Event("Encrypt", 10, account: Other, region: "eu-west-1"),
    ];

    private static string[] Names(AuditEventPage page) => [.. page.Events.Select(e => e.EventName)];

    [SkippableFact]
    [UnsupportedOSPlatform("windows")]
    public void The_index_is_its_own_file_0600_in_WAL_mode_with_its_own_migrations()
    {
        Skip.If(OperatingSystem.IsWindows(), "Unix file modes only.");
        using var index = Open();

        Assert.Equal(StoreFilePermissions.OwnerOnlyFile, File.GetUnixFileMode(DbPath));
        using var connection = Connect();
        Assert.Equal((long)SqliteMigrations.Audit.Max(m => m.Version), connection.ExecuteScalar<long>("PRAGMA user_version;"));
        Assert.Equal("wal", connection.ExecuteScalar<string>("PRAGMA journal_mode;"));
        var tables = connection.Query<string>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").ToList();
        Assert.Equal(["audit_meta", "event_resources", "event_scopes", "events", "key_last_use"], tables);
        Assert.DoesNotContain(SqliteMigrations.Audit, m => SqliteMigrations.Available.Contains(m));
    }

    [Fact]
    public async Task TrackingStart_is_the_time_of_the_first_open_and_survives_a_reopen()
    {
        var first = _clock.GetUtcNow();
        using (var index = Open())
        {
            Assert.Equal(first, index.TrackingStart);
            await index.AppendAsync([Event("Encrypt", 1, used: [KeyA])], CancellationToken.None);
        }

        _clock.Advance(TimeSpan.FromDays(3));
        using var reopened = Open();

        Assert.Equal(first, reopened.TrackingStart);
        Assert.NotEqual(_clock.GetUtcNow(), reopened.TrackingStart);
        Assert.Equal("Encrypt", (await reopened.FindAsync(KeyA, CancellationToken.None))?.Operation);
    }

    [Fact]
    public async Task A_lookup_without_attribute_returns_the_callers_account_and_region_newest_first_with_the_exact_record()
    {
        using var index = Open();
        var history = History();
        await index.AppendAsync(history, CancellationToken.None);

        var page = await index.LookupAsync(Query(), CancellationToken.None);

        Assert.Equal(["ListKeys", "DisableKey", "GenerateRandom", "Decrypt", "Encrypt", "Encrypt", "CreateAlias", "CreateKey"], Names(page));
        Assert.Null(page.Next);
        var decrypt = page.Events[3];
        var source = history[4];
        Assert.Equal(source.EventId.ToString(), decrypt.EventId);
        Assert.Equal(source.Record, decrypt.Record);
        Assert.Equal(T0.AddSeconds(4), decrypt.EventTime);
        Assert.True(decrypt.ReadOnly);
        Assert.Equal("AKIDALICE", decrypt.AccessKeyId);
        Assert.Equal("alice", decrypt.Username);
        Assert.Equal("kms.amazonaws.com", decrypt.EventSource);
        Assert.Equal([new LookedUpResource("AWS::KMS::Key", KeyA)], decrypt.Resources);
        Assert.Equal(
            [new LookedUpResource("AWS::KMS::Key", AliasArn), new LookedUpResource("AWS::KMS::Key", KeyA)],
            page.Events[6].Resources);
        Assert.Null(page.Events[2].AccessKeyId);

        Assert.Equal(["Encrypt"], Names(await index.LookupAsync(Query(account: Other), CancellationToken.None)));
    }

    public static TheoryData<LookupAttributeKey, string, string[]> Attributes() => new()
    {
        { LookupAttributeKey.EventName, "Encrypt", ["Encrypt", "Encrypt"] },
        { LookupAttributeKey.EventName, "encrypt", [] },
        { LookupAttributeKey.ReadOnly, "false", ["DisableKey", "CreateAlias", "CreateKey"] },
        { LookupAttributeKey.ReadOnly, "true", ["ListKeys", "GenerateRandom", "Decrypt", "Encrypt", "Encrypt"] },
        { LookupAttributeKey.Username, "bob", ["Encrypt"] },
        { LookupAttributeKey.Username, "root", ["GenerateRandom"] },
        { LookupAttributeKey.AccessKeyId, "AKIDBOB", ["Encrypt"] },
        { LookupAttributeKey.EventSource, "kms.amazonaws.com", ["ListKeys", "DisableKey", "GenerateRandom", "Decrypt", "Encrypt", "Encrypt", "CreateAlias", "CreateKey"] },
        { LookupAttributeKey.EventSource, "s3.amazonaws.com", [] },
        { LookupAttributeKey.ResourceName, KeyA, ["Decrypt", "Encrypt", "CreateAlias", "CreateKey"] },
        { LookupAttributeKey.ResourceName, AliasArn, ["CreateAlias"] },
        { LookupAttributeKey.ResourceName, KeyB, ["DisableKey", "Encrypt"] },
        // CreateAlias names two resources of this type and is still found once.
        { LookupAttributeKey.ResourceType, "AWS::KMS::Key", ["DisableKey", "Decrypt", "Encrypt", "Encrypt", "CreateAlias", "CreateKey"] },
        { LookupAttributeKey.ResourceType, "AWS::S3::Bucket", [] },
    };

    [Theory]
    [MemberData(nameof(Attributes))]
    public async Task Each_lookup_attribute_finds_exactly_its_events_in_the_account_and_region(LookupAttributeKey key, string value, string[] expected)
    {
        using var index = Open();
        await index.AppendAsync(History(), CancellationToken.None);

        var page = await index.LookupAsync(Query((key, value)), CancellationToken.None);

        Assert.Equal(expected, Names(page));
    }

    [Fact]
    public async Task An_EventSource_lookup_tells_sources_apart_when_a_scope_has_several()
    {
        using var index = Open();
        await index.AppendAsync(History(), CancellationToken.None);
        await index.AppendAsync([Event("LookupEvents", 11) with { EventSource = "cloudtrail.amazonaws.com" }], CancellationToken.None);

        var kms = await index.LookupAsync(Query((LookupAttributeKey.EventSource, "kms.amazonaws.com"), max: 3), CancellationToken.None);
        var rest = await index.LookupAsync(Query((LookupAttributeKey.EventSource, "kms.amazonaws.com"), after: kms.Next), CancellationToken.None);
        var cloudTrail = await index.LookupAsync(Query((LookupAttributeKey.EventSource, "cloudtrail.amazonaws.com")), CancellationToken.None);
        var otherAccount = await index.LookupAsync(Query((LookupAttributeKey.EventSource, "cloudtrail.amazonaws.com"), account: Other), CancellationToken.None);

        Assert.Equal(["ListKeys", "DisableKey", "GenerateRandom", "Decrypt", "Encrypt", "Encrypt", "CreateAlias", "CreateKey"], [.. Names(kms), .. Names(rest)]);
        Assert.Equal(["LookupEvents"], Names(cloudTrail));
        Assert.Empty(otherAccount.Events);
    }

    [Fact]
    public async Task An_EventId_lookup_finds_that_one_event_whatever_the_case_of_the_id()
    {
        using var index = Open();
        var history = History();
        await index.AppendAsync(history, CancellationToken.None);

        var byId = await index.LookupAsync(Query((LookupAttributeKey.EventId, history[3].EventId.ToString().ToUpperInvariant())), CancellationToken.None);
        var otherAccountsEvent = await index.LookupAsync(Query((LookupAttributeKey.EventId, history[8].EventId.ToString())), CancellationToken.None);

        Assert.Equal(history[3].EventId.ToString(), Assert.Single(byId.Events).EventId);
        Assert.Empty(otherAccountsEvent.Events);
    }

    [Fact]
    public async Task The_time_range_is_inclusive_at_both_ends_in_whole_seconds()
    {
        using var index = Open();
        await index.AppendAsync(History(), CancellationToken.None);

        var range = await index.LookupAsync(Query(start: T0.AddSeconds(2), end: T0.AddSeconds(4)), CancellationToken.None);
        var withAttribute = await index.LookupAsync(Query((LookupAttributeKey.EventName, "Encrypt"), start: T0.AddSeconds(3)), CancellationToken.None);
        var untilThird = await index.LookupAsync(Query(end: T0.AddSeconds(2.5)), CancellationToken.None);
        var fromHalf = await index.LookupAsync(Query(start: T0.AddSeconds(6.5)), CancellationToken.None);

        Assert.Equal(["Decrypt", "Encrypt", "Encrypt"], Names(range));
        Assert.Equal(["Encrypt"], Names(withAttribute));
        Assert.Equal(["Encrypt", "CreateAlias", "CreateKey"], Names(untilThird));
        Assert.Equal(["ListKeys"], Names(fromHalf));
    }

    [Theory]
    [InlineData(null, 1)]
    [InlineData(null, 3)]
    [InlineData(LookupAttributeKey.ReadOnly, 2)]
    [InlineData(LookupAttributeKey.ResourceType, 4)]
    public async Task Pages_follow_each_other_newest_first_without_gaps_or_repeats(LookupAttributeKey? key, int pageSize)
    {
        using var index = Open();
        // Forty events in three batches; several in the same second and some indexed out of time order.
        var events = Enumerable.Range(0, 40).Select(i => Event("Encrypt", 100 + (i / 3), resources: [KeyA], millis: i % 3 * 100)).ToList();
        await index.AppendAsync(events[20..], CancellationToken.None);
        await index.AppendAsync(events[..10], CancellationToken.None);
        await index.AppendAsync(events[10..20], CancellationToken.None);
        (LookupAttributeKey, string)? attribute = key switch
        {
            LookupAttributeKey.ReadOnly => (LookupAttributeKey.ReadOnly, "true"),
            LookupAttributeKey.ResourceType => (LookupAttributeKey.ResourceType, "AWS::KMS::Key"),
            _ => null,
        };

        var seen = new List<LookedUpEvent>();
        AuditCursor? after = null;
        var pages = 0;
        do
        {
            var page = await index.LookupAsync(Query(attribute, max: pageSize, after: after), CancellationToken.None);
            Assert.InRange(page.Events.Count, 1, pageSize);
            seen.AddRange(page.Events);
            after = page.Next;
            pages++;
        }
        while (after is not null);

        Assert.Equal((40 + pageSize - 1) / pageSize, pages);
        Assert.Equal(40, seen.Select(e => e.EventId).Distinct().Count());
        Assert.Equal(seen.Select(e => e.EventTime).OrderDescending(), seen.Select(e => e.EventTime));
        Assert.Equal(events.Select(e => e.EventId.ToString()).Order(), seen.Select(e => e.EventId).Order());
    }

    [Fact]
    public async Task Prune_removes_events_older_than_the_cut_with_their_resources_and_keeps_the_last_key_use()
    {
        using var index = Open();
        await index.AppendAsync(History(), CancellationToken.None);

        var removed = await index.PruneAsync(T0.AddSeconds(4), CancellationToken.None);

        Assert.Equal(4, removed);
        Assert.Equal(["ListKeys", "DisableKey", "GenerateRandom", "Decrypt"], Names(await index.LookupAsync(Query(), CancellationToken.None)));
        Assert.Equal(["Decrypt"], Names(await index.LookupAsync(Query((LookupAttributeKey.ResourceName, KeyA)), CancellationToken.None)));
        Assert.Equal("Encrypt", (await index.FindAsync(KeyB, CancellationToken.None))?.Operation);
        using var connection = Connect();
        Assert.Equal(0, connection.ExecuteScalar<long>("SELECT COUNT(*) FROM event_resources r WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.seq = r.seq)"));
    }

    [Fact]
    public async Task The_last_use_of_a_key_is_replaced_only_by_a_newer_one()
    {
        using var index = Open();
        var newer = Event("Decrypt", 20, used: [KeyA], millis: 250);
        var older = Event("Encrypt", 20, used: [KeyA], millis: 100);
        var oldest = Event("Sign", 5, used: [KeyA, KeyB]);

        await index.AppendAsync([older, newer, oldest], CancellationToken.None);
        await index.AppendAsync([Event("GenerateMac", 10, used: [KeyA])], CancellationToken.None);

        var useOfA = await index.FindAsync(KeyA, CancellationToken.None);
        Assert.NotNull(useOfA);
        Assert.Equal("Decrypt", useOfA.Operation);
        Assert.Equal(newer.EventTime, useOfA.Timestamp);
        Assert.Equal(newer.EventId.ToString(), useOfA.CloudTrailEventId);
        Assert.Equal(newer.RequestId, useOfA.KmsRequestId);
        Assert.Equal("Sign", (await index.FindAsync(KeyB, CancellationToken.None))?.Operation);
        Assert.Null(await index.FindAsync("arn:aws:kms:us-east-1:111122223333:key/never-used", CancellationToken.None));

        await index.AppendAsync([Event("Verify", 30, used: [KeyA])], CancellationToken.None);
        Assert.Equal("Verify", (await index.FindAsync(KeyA, CancellationToken.None))?.Operation);
    }

    [Fact]
    public async Task Of_two_uses_at_the_same_instant_the_later_appended_is_the_last_use()
    {
        // A clock that did not move between two calls (a test's fake clock, or two calls in one tick): the order of
        // the trail decides, as it did for the caller.
        using var index = Open();
        await index.AppendAsync([Event("Encrypt", 20, used: [KeyA], millis: 100)], CancellationToken.None);
        await index.AppendAsync([Event("ReEncrypt", 20, used: [KeyA], millis: 100)], CancellationToken.None);
        await index.AppendAsync([Event("Sign", 30, used: [KeyB], millis: 100), Event("Verify", 30, used: [KeyB], millis: 100)], CancellationToken.None);

        Assert.Equal("ReEncrypt", (await index.FindAsync(KeyA, CancellationToken.None))?.Operation);
        Assert.Equal("Verify", (await index.FindAsync(KeyB, CancellationToken.None))?.Operation);
    }

    [Fact]
    public async Task An_append_that_fails_leaves_nothing_and_the_next_one_works()
    {
        using var index = Open();
        await index.AppendAsync([Event("CreateKey", 0)], CancellationToken.None);
        var broken = Event("Encrypt", 1) with { EventName = null! };

        await Assert.ThrowsAnyAsync<Exception>(async () => await index.AppendAsync([Event("Decrypt", 1), broken], CancellationToken.None));
        await index.AppendAsync([Event("ListKeys", 2)], CancellationToken.None);

        Assert.Equal(["ListKeys", "CreateKey"], Names(await index.LookupAsync(Query(), CancellationToken.None)));
    }

    public static TheoryData<LookupAttributeKey?, bool> Plans()
    {
        var data = new TheoryData<LookupAttributeKey?, bool>();
        foreach (var key in Enum.GetValues<LookupAttributeKey>().Select(k => (LookupAttributeKey?)k).Append(null))
        {
            data.Add(key, false);
            data.Add(key, true);
        }

        return data;
    }

    /// <summary>No lookup scans a table or sorts: each is a range of one index read backwards (newest first).</summary>
    [Theory]
    [MemberData(nameof(Plans))]
    public async Task Every_lookup_is_one_index_range_scan_without_a_sort(LookupAttributeKey? key, bool afterCursor)
    {
        using var index = Open();
        await index.AppendAsync(History(), CancellationToken.None);
        var query = Query(
            key is { } k ? (k, "x") : null,
            start: T0,
            end: T0.AddHours(1),
            after: afterCursor ? new AuditCursor(T0.AddSeconds(30).ToUnixTimeSeconds(), 5) : null);

        using var connection = Connect();
        var plan = connection.Query<PlanRow>("EXPLAIN QUERY PLAN " + SqliteAuditIndex.LookupSql(key, afterCursor), SqliteAuditIndex.LookupParameters(query))
            .Select(row => row.Detail)
            .ToList();

        Assert.NotEmpty(plan);
        Assert.All(plan, step =>
        {
            Assert.StartsWith("SEARCH", step, StringComparison.Ordinal);
            Assert.DoesNotContain("TEMP B-TREE", step, StringComparison.Ordinal);
        });
        Assert.Contains(plan, step => step.Contains("USING INDEX ix_", StringComparison.Ordinal) || step.Contains("USING COVERING INDEX ix_", StringComparison.Ordinal));
    }

    private sealed record PlanRow(long Id, long Parent, long Notused, string Detail);
}
