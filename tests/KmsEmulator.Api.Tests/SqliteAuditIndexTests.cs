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
        Assert.Equal(["audit_meta", "chunk_terms", "chunks", "event_scopes", "key_last_use"], tables);
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
    public async Task Clearing_forgets_every_event_and_key_use_and_restarts_tracking_across_a_reopen()
    {
        using (var index = Open())
        {
            await index.AppendAsync([Event("Encrypt", 1, used: [KeyA]), Event("Decrypt", 2, used: [KeyA])], CancellationToken.None);
            _clock.Advance(TimeSpan.FromDays(1));

            await index.ClearAsync(_clock.GetUtcNow(), CancellationToken.None);

            Assert.Empty((await index.LookupAsync(Query(), CancellationToken.None)).Events);
            Assert.Null(await index.FindAsync(KeyA, CancellationToken.None));
            Assert.Equal(_clock.GetUtcNow(), index.TrackingStart);
            await index.AppendAsync([Event("Sign", 3, used: [KeyA])], CancellationToken.None);
        }

        using var reopened = Open();
        Assert.Equal(_clock.GetUtcNow(), reopened.TrackingStart);
        Assert.Equal(["Sign"], Names(await reopened.LookupAsync(Query(), CancellationToken.None)));
        Assert.Equal("Sign", (await reopened.FindAsync(KeyA, CancellationToken.None))?.Operation);
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

    [Theory]
    [InlineData(null, 7)]
    [InlineData(null, 50)]
    [InlineData(LookupAttributeKey.EventName, 50)]
    [InlineData(LookupAttributeKey.ResourceName, 13)]
    public async Task Pages_span_many_chunks_in_exact_newest_first_order(LookupAttributeKey? key, int pageSize)
    {
        // Batches larger than a chunk, several chunks in the same second, records of the other key in between, and one
        // batch indexed after a newer one: the order must still be (time, indexing order), newest first.
        using var index = Open();
        var events = Enumerable.Range(0, 3 * AuditChunks.MaxChunkEvents)
            .Select(i => Event(i % 5 == 0 ? "Decrypt" : "Encrypt", 100 + (i / 400), resources: [i % 2 == 0 ? KeyA : KeyB], millis: i % 1000))
            .ToList();
        await index.AppendAsync(events[700..], CancellationToken.None);
        await index.AppendAsync(events[..700], CancellationToken.None);
        (LookupAttributeKey, string)? attribute = key switch
        {
            LookupAttributeKey.EventName => (LookupAttributeKey.EventName, "Decrypt"),
            LookupAttributeKey.ResourceName => (LookupAttributeKey.ResourceName, KeyA),
            _ => null,
        };
        var matching = events
            .Select((e, i) => (Event: e, Order: i >= 700 ? i - 700 : i + events.Count))
            .Where(x => key switch
            {
                LookupAttributeKey.EventName => x.Event.EventName == "Decrypt",
                LookupAttributeKey.ResourceName => x.Event.ResourceArns.Contains(KeyA),
                _ => true,
            })
            .OrderByDescending(x => x.Event.EventTime.ToUnixTimeSeconds())
            .ThenByDescending(x => x.Order)
            .Select(x => x.Event.EventId.ToString())
            .ToList();

        var seen = new List<string>();
        AuditCursor? after = null;
        do
        {
            var page = await index.LookupAsync(Query(attribute, max: pageSize, after: after), CancellationToken.None);
            seen.AddRange(page.Events.Select(e => e.EventId));
            after = page.Next;
        }
        while (after is not null);

        Assert.Equal(matching, seen);
    }

    [Fact]
    public async Task An_EventId_lookup_of_a_time_ordered_id_reads_only_chunks_of_its_second_and_finds_it()
    {
        using var index = Open();
        var events = Enumerable.Range(0, 2000)
            .Select(i => Event("Encrypt", i / 100) with { EventId = Guid.CreateVersion7(T0.AddSeconds(i / 100).AddMilliseconds(i % 100)) })
            .ToList();
        await index.AppendAsync(events, CancellationToken.None);

        foreach (var wanted in new[] { events[0], events[1234], events[^1] })
        {
            var page = await index.LookupAsync(Query((LookupAttributeKey.EventId, wanted.EventId.ToString())), CancellationToken.None);
            Assert.Equal(wanted.EventId.ToString(), Assert.Single(page.Events).EventId);
            Assert.Equal(wanted.Record, page.Events[0].Record);
        }

        var unknown = Guid.CreateVersion7(T0.AddSeconds(5));
        Assert.Empty((await index.LookupAsync(Query((LookupAttributeKey.EventId, unknown.ToString())), CancellationToken.None)).Events);
        Assert.Empty((await index.LookupAsync(Query((LookupAttributeKey.EventId, "not-a-guid")), CancellationToken.None)).Events);
    }

    [Fact]
    public async Task An_index_written_in_the_per_event_layout_is_converted_to_chunks_on_open()
    {
        // An audit.db at migration 0001, as the first release of the trail wrote it.
        var history = History();
        Directory.CreateDirectory(_dir);
        using (var connection = Connect())
        {
            await SqliteMigrations.ApplyAsync(connection, [SqliteMigrations.Audit[0]]);
            var seq = 1;
            foreach (var e in history)
            {
                connection.Execute(
                    """
                    INSERT INTO events (seq, event_id, account_id, region, event_time, event_name, event_source, read_only, access_key_id, username, request_id, record)
                    VALUES (@seq, @id, @AccountId, @Region, @time, @EventName, @EventSource, @ro, @AccessKeyId, @Username, @RequestId, @Record)
                    """,
                    new { seq, id = e.EventId.ToString(), e.AccountId, e.Region, time = e.EventTime.ToUnixTimeSeconds(), e.EventName, e.EventSource,
                          ro = e.ReadOnly ? "true" : "false", e.AccessKeyId, e.Username, e.RequestId, e.Record });
                var position = 0;
                foreach (var arn in e.ResourceArns)
                {
                    connection.Execute(
                        "INSERT INTO event_resources VALUES (@seq, @position, @AccountId, @Region, 0, 'AWS::KMS::Key', @arn, @first)",
                        new { seq, position, e.AccountId, e.Region, arn, first = position == 0 ? 1 : 0 });
                    position++;
                }

                connection.Execute("INSERT OR IGNORE INTO event_scopes VALUES (@AccountId, @Region, @EventSource)", new { e.AccountId, e.Region, e.EventSource });
                seq++;
            }

            connection.Execute("INSERT INTO key_last_use VALUES (@KeyA, 'Decrypt', 1, 'id', 'req')", new { KeyA });
        }

        using var index = Open();

        Assert.Equal(
            ["ListKeys", "DisableKey", "GenerateRandom", "Decrypt", "Encrypt", "Encrypt", "CreateAlias", "CreateKey"],
            Names(await index.LookupAsync(Query(), CancellationToken.None)));
        var created = Assert.Single((await index.LookupAsync(Query((LookupAttributeKey.EventName, "CreateAlias")), CancellationToken.None)).Events);
        Assert.Equal([AliasArn, KeyA], created.Resources.Select(r => r.ResourceName));
        Assert.Equal(history[1].Record, created.Record);
        Assert.Equal("Decrypt", (await index.FindAsync(KeyA, CancellationToken.None))?.Operation);
        using var check = Connect();
        Assert.Equal(0, check.ExecuteScalar<long>("SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'legacy_%'"));
    }

    [Fact]
    public async Task Prune_removes_chunks_older_than_the_cut_with_their_terms_and_keeps_the_last_key_use()
    {
        // Two deliveries, so two chunks of the default scope: seconds 0-3, and 4 on. Pruning is by chunk (a chunk goes
        // when its newest event is older than the cut).
        using var index = Open();
        var history = History();
        await index.AppendAsync(history[..4], CancellationToken.None);
        await index.AppendAsync(history[4..], CancellationToken.None);

        var removed = await index.PruneAsync(T0.AddSeconds(4), CancellationToken.None);

        Assert.Equal(4, removed);
        Assert.Equal(["ListKeys", "DisableKey", "GenerateRandom", "Decrypt"], Names(await index.LookupAsync(Query(), CancellationToken.None)));
        Assert.Equal(["Decrypt"], Names(await index.LookupAsync(Query((LookupAttributeKey.ResourceName, KeyA)), CancellationToken.None)));
        Assert.Equal("Encrypt", (await index.FindAsync(KeyB, CancellationToken.None))?.Operation);
        using var connection = Connect();
        Assert.Equal(0, connection.ExecuteScalar<long>("SELECT COUNT(*) FROM chunk_terms t WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.chunk_id = t.chunk_id)"));
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

    public static TheoryData<bool> Plans() => new() { false, true };

    /// <summary>Finding the candidate chunks never scans a table or sorts: it is a range of one index read backwards.</summary>
    [Theory]
    [MemberData(nameof(Plans))]
    public async Task Finding_candidate_chunks_is_one_index_range_scan_without_a_sort(bool byTerm)
    {
        using var index = Open();
        await index.AppendAsync(History(), CancellationToken.None);
        var query = Query(byTerm ? (LookupAttributeKey.EventName, "Encrypt") : null, start: T0, end: T0.AddHours(1));

        using var connection = Connect();
        using var command = connection.CreateCommand();
        command.CommandText = "EXPLAIN QUERY PLAN " + SqliteAuditIndex.CandidateSql(byTerm);
        AuditChunks.AddCandidateParameters(command, query, AuditChunks.EventFilter.For(query));
        var plan = new List<string>();
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                plan.Add(reader.GetString(3));
            }
        }

        Assert.NotEmpty(plan);
        Assert.All(plan, step =>
        {
            Assert.StartsWith("SEARCH", step, StringComparison.Ordinal);
            Assert.DoesNotContain("TEMP B-TREE", step, StringComparison.Ordinal);
        });
        Assert.Contains(plan, step => step.Contains(byTerm ? "PRIMARY KEY" : "ix_chunks_time", StringComparison.Ordinal));
    }

}
