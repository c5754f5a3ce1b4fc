using System.Text;
using KmsEmulator.Api.Audit;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Storage;
using Microsoft.Extensions.Time.Testing;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// What every audit index (<see cref="IAuditIndex"/> with <see cref="IKeyUsageHistory"/>) promises, tested through
/// those interfaces so that each implementation runs the same tests: appends, every lookup attribute, time ranges,
/// paging, pruning, clearing, the last use of each key and its tracking start. Derive, and supply instances over one
/// index of the test's own (a file, a database), a way to close one, a count by plain SQL over the shared tables, and
/// the check of the candidate query's plan. The tests are skippable, so an implementation whose server is missing here
/// skips them all from <see cref="OpenIndexAsync"/>.
/// </summary>
public abstract class AuditIndexContract<TIndex> : IAsyncLifetime
    where TIndex : IAuditIndex, IKeyUsageHistory, IDisposable
{
    protected const string Account = "111122223333";
    protected const string Other = "444455556666";
    protected const string Region = "us-east-1";
    protected const string KeyA = "arn:aws:kms:us-east-1:111122223333:key/aaaaaaaa-0000-0000-0000-000000000001";
    protected const string KeyB = "arn:aws:kms:us-east-1:111122223333:key/bbbbbbbb-0000-0000-0000-000000000002";
    protected const string AliasArn = "arn:aws:kms:us-east-1:111122223333:alias/app";

    protected static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private readonly List<TIndex> _open = [];

    /// <summary>The clock indexes are opened on (their tracking start when they create the index).</summary>
    protected FakeTimeProvider Clock { get; } = new(T0.AddDays(-1));

    /// <summary>A new instance over this test's index, on <paramref name="clock"/>; the first call makes the index.</summary>
    protected abstract Task<TIndex> OpenIndexAsync(TimeProvider clock);

    /// <summary>Removes what the test's indexes left (files, a database), once every instance is closed.</summary>
    protected abstract Task DestroyAsync();

    /// <summary>Runs a query that returns one number against the index's tables directly.</summary>
    protected abstract Task<long> CountAsync(string sql);

    /// <summary>
    /// Asserts that the query that finds the candidate chunks of <paramref name="query"/> is one index range read
    /// backwards, with no scan of a whole table and no sort.
    /// </summary>
    protected abstract Task AssertCandidatesAreOneBackwardIndexRangeAsync(bool byTerm, AuditLookup query);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var index in _open)
        {
            index.Dispose();
        }

        _open.Clear();
        await DestroyAsync();
    }

    protected async Task<TIndex> OpenAsync(TimeProvider? clock = null)
    {
        var index = await OpenIndexAsync(clock ?? Clock);
        _open.Add(index);
        return index;
    }

    /// <summary>Closes an instance (as a stopped emulator would).</summary>
    protected void Close(TIndex index)
    {
        _open.Remove(index);
        index.Dispose();
    }

    protected static IndexedEvent Event(
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
            resources ?? [], used ?? [], Guid.NewGuid().ToString(), RecordSlice.Pack([record])[0]);
    }

    protected static AuditLookup Query(
        (LookupAttributeKey, string)? attribute = null,
        DateTimeOffset? start = null,
        DateTimeOffset? end = null,
        int max = 50,
        AuditCursor? after = null,
        string account = Account) =>
        new(account, Region, attribute, start, end, max, after);

    /// <summary>Every event of <paramref name="query"/>, page after page (each page asked with the previous one's cursor).</summary>
    protected static async Task<List<LookedUpEvent>> AllPagesAsync(TIndex index, AuditLookup query)
    {
        var seen = new List<LookedUpEvent>();
        AuditCursor? after = null;
        do
        {
            var page = await index.LookupAsync(query with { After = after }, CancellationToken.None);
            seen.AddRange(page.Events);
            after = page.Next;
        }
        while (after is not null);

        return seen;
    }

    /// <summary>Eight events of the default account and region, one a second, and three that must never show up in its lookups.</summary>
    protected static List<IndexedEvent> History() =>
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

    protected static string[] Names(AuditEventPage page) => [.. page.Events.Select(e => e.EventName)];

    [SkippableFact]
    public async Task TrackingStart_is_the_time_of_the_first_open_and_survives_a_reopen()
    {
        var first = Clock.GetUtcNow();
        var index = await OpenAsync();
        Assert.Equal(first, index.TrackingStart);
        await index.AppendAsync([Event("Encrypt", 1, used: [KeyA])], CancellationToken.None);
        Close(index);

        Clock.Advance(TimeSpan.FromDays(3));
        var reopened = await OpenAsync();

        Assert.Equal(first, reopened.TrackingStart);
        Assert.NotEqual(Clock.GetUtcNow(), reopened.TrackingStart);
        Assert.Equal("Encrypt", (await reopened.FindAsync(KeyA, CancellationToken.None))?.Operation);
    }

    [SkippableFact]
    public async Task Clearing_forgets_every_event_and_key_use_and_restarts_tracking_across_a_reopen()
    {
        var index = await OpenAsync();
        await index.AppendAsync([Event("Encrypt", 1, used: [KeyA]), Event("Decrypt", 2, used: [KeyA])], CancellationToken.None);
        Clock.Advance(TimeSpan.FromDays(1));

        await index.ClearAsync(Clock.GetUtcNow(), CancellationToken.None);

        Assert.Empty((await index.LookupAsync(Query(), CancellationToken.None)).Events);
        Assert.Null(await index.FindAsync(KeyA, CancellationToken.None));
        Assert.Equal(Clock.GetUtcNow(), index.TrackingStart);
        await index.AppendAsync([Event("Sign", 3, used: [KeyA])], CancellationToken.None);
        Close(index);

        var reopened = await OpenAsync();
        Assert.Equal(Clock.GetUtcNow(), reopened.TrackingStart);
        Assert.Equal(["Sign"], Names(await reopened.LookupAsync(Query(), CancellationToken.None)));
        Assert.Equal("Sign", (await reopened.FindAsync(KeyA, CancellationToken.None))?.Operation);
    }

    [SkippableFact]
    public async Task A_lookup_without_attribute_returns_the_callers_account_and_region_newest_first_with_the_exact_record()
    {
        var index = await OpenAsync();
        var history = History();
        await index.AppendAsync(history, CancellationToken.None);

        var page = await index.LookupAsync(Query(), CancellationToken.None);

        Assert.Equal(["ListKeys", "DisableKey", "GenerateRandom", "Decrypt", "Encrypt", "Encrypt", "CreateAlias", "CreateKey"], Names(page));
        Assert.Null(page.Next);
        var decrypt = page.Events[3];
        var source = history[4];
        Assert.Equal(source.EventId.ToString(), decrypt.EventId);
        Assert.Equal(source.Record.ToArray(), decrypt.Record);
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

    [SkippableTheory]
    [MemberData(nameof(Attributes))]
    public async Task Each_lookup_attribute_finds_exactly_its_events_in_the_account_and_region(LookupAttributeKey key, string value, string[] expected)
    {
        var index = await OpenAsync();
        await index.AppendAsync(History(), CancellationToken.None);

        var page = await index.LookupAsync(Query((key, value)), CancellationToken.None);

        Assert.Equal(expected, Names(page));
    }

    [SkippableFact]
    public async Task An_EventSource_lookup_tells_sources_apart_when_a_scope_has_several()
    {
        var index = await OpenAsync();
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

    [SkippableFact]
    public async Task An_EventId_lookup_finds_that_one_event_whatever_the_case_of_the_id()
    {
        var index = await OpenAsync();
        var history = History();
        await index.AppendAsync(history, CancellationToken.None);

        var byId = await index.LookupAsync(Query((LookupAttributeKey.EventId, history[3].EventId.ToString().ToUpperInvariant())), CancellationToken.None);
        var otherAccountsEvent = await index.LookupAsync(Query((LookupAttributeKey.EventId, history[8].EventId.ToString())), CancellationToken.None);

        Assert.Equal(history[3].EventId.ToString(), Assert.Single(byId.Events).EventId);
        Assert.Empty(otherAccountsEvent.Events);
    }

    [SkippableFact]
    public async Task The_time_range_is_inclusive_at_both_ends_in_whole_seconds()
    {
        var index = await OpenAsync();
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

    [SkippableTheory]
    [InlineData(null, 1)]
    [InlineData(null, 3)]
    [InlineData(LookupAttributeKey.ReadOnly, 2)]
    [InlineData(LookupAttributeKey.ResourceType, 4)]
    public async Task Pages_follow_each_other_newest_first_without_gaps_or_repeats(LookupAttributeKey? key, int pageSize)
    {
        var index = await OpenAsync();
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

    [SkippableTheory]
    [InlineData(null, 7)]
    [InlineData(null, 50)]
    [InlineData(LookupAttributeKey.EventName, 50)]
    [InlineData(LookupAttributeKey.ResourceName, 13)]
    public async Task Pages_span_many_chunks_in_exact_newest_first_order(LookupAttributeKey? key, int pageSize)
    {
        // Batches larger than a chunk, several chunks in the same second, records of the other key in between, and one
        // batch indexed after a newer one: the order must still be (time, indexing order), newest first.
        var index = await OpenAsync();
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

        var seen = (await AllPagesAsync(index, Query(attribute, max: pageSize))).Select(e => e.EventId);

        Assert.Equal(matching, seen);
    }

    /// <summary>
    /// Records arrive in the compressed groups the log files hold, and the index stores those groups as they are. One
    /// event with a group of its own first puts the chunk boundary inside a group, which both chunks then store: every
    /// record still comes back whole.
    /// </summary>
    [SkippableFact]
    public async Task Records_in_shared_groups_come_back_whole_also_from_a_group_split_between_two_chunks()
    {
        var index = await OpenAsync();
        var records = Enumerable.Range(0, AuditChunks.MaxChunkEvents + 90)
            .Select(i => Encoding.UTF8.GetBytes($$"""{"n":{{i}},"pad":"{{new string('x', i % 61)}}"}"""))
            .ToList();
        var slices = RecordSlice.Pack(records.Take(1)).Concat(RecordSlice.Pack(records.Skip(1))).ToList();
        var events = slices.Select((slice, i) => Event("Encrypt", i / 100) with { Record = slice }).ToList();
        await index.AppendAsync(events, CancellationToken.None);

        var seen = (await AllPagesAsync(index, Query(max: 50))).Select(e => e.Record).Reverse();

        Assert.Equal(records, seen);
    }

    [SkippableFact]
    public async Task An_EventId_lookup_of_a_time_ordered_id_reads_only_chunks_of_its_second_and_finds_it()
    {
        var index = await OpenAsync();
        var events = Enumerable.Range(0, 2000)
            .Select(i => Event("Encrypt", i / 100) with { EventId = Guid.CreateVersion7(T0.AddSeconds(i / 100).AddMilliseconds(i % 100)) })
            .ToList();
        await index.AppendAsync(events, CancellationToken.None);

        foreach (var wanted in new[] { events[0], events[1234], events[^1] })
        {
            var page = await index.LookupAsync(Query((LookupAttributeKey.EventId, wanted.EventId.ToString())), CancellationToken.None);
            Assert.Equal(wanted.EventId.ToString(), Assert.Single(page.Events).EventId);
            Assert.Equal(wanted.Record.ToArray(), page.Events[0].Record);
        }

        var unknown = Guid.CreateVersion7(T0.AddSeconds(5));
        Assert.Empty((await index.LookupAsync(Query((LookupAttributeKey.EventId, unknown.ToString())), CancellationToken.None)).Events);
        Assert.Empty((await index.LookupAsync(Query((LookupAttributeKey.EventId, "not-a-guid")), CancellationToken.None)).Events);
    }

    [SkippableFact]
    public async Task Prune_removes_chunks_older_than_the_cut_with_their_terms_and_keeps_the_last_key_use()
    {
        // Two deliveries, so two chunks of the default scope: seconds 0-3, and 4 on. Pruning is by chunk (a chunk goes
        // when its newest event is older than the cut).
        var index = await OpenAsync();
        var history = History();
        await index.AppendAsync(history[..4], CancellationToken.None);
        await index.AppendAsync(history[4..], CancellationToken.None);

        var removed = await index.PruneAsync(T0.AddSeconds(4), CancellationToken.None);

        Assert.Equal(4, removed);
        Assert.Equal(["ListKeys", "DisableKey", "GenerateRandom", "Decrypt"], Names(await index.LookupAsync(Query(), CancellationToken.None)));
        Assert.Equal(["Decrypt"], Names(await index.LookupAsync(Query((LookupAttributeKey.ResourceName, KeyA)), CancellationToken.None)));
        Assert.Equal("Encrypt", (await index.FindAsync(KeyB, CancellationToken.None))?.Operation);
        Assert.Equal(0, await CountAsync("SELECT COUNT(*) FROM chunk_terms t WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.chunk_id = t.chunk_id)"));
    }

    [SkippableFact]
    public async Task The_last_use_of_a_key_is_replaced_only_by_a_newer_one()
    {
        var index = await OpenAsync();
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

    [SkippableFact]
    public async Task Of_two_uses_at_the_same_instant_the_later_appended_is_the_last_use()
    {
        // A clock that did not move between two calls (a test's fake clock, or two calls in one tick): the order of
        // the trail decides, as it did for the caller.
        var index = await OpenAsync();
        await index.AppendAsync([Event("Encrypt", 20, used: [KeyA], millis: 100)], CancellationToken.None);
        await index.AppendAsync([Event("ReEncrypt", 20, used: [KeyA], millis: 100)], CancellationToken.None);
        await index.AppendAsync([Event("Sign", 30, used: [KeyB], millis: 100), Event("Verify", 30, used: [KeyB], millis: 100)], CancellationToken.None);

        Assert.Equal("ReEncrypt", (await index.FindAsync(KeyA, CancellationToken.None))?.Operation);
        Assert.Equal("Verify", (await index.FindAsync(KeyB, CancellationToken.None))?.Operation);
    }

    [SkippableFact]
    public async Task An_append_that_fails_leaves_nothing_and_the_next_one_works()
    {
        var index = await OpenAsync();
        await index.AppendAsync([Event("CreateKey", 0)], CancellationToken.None);
        var broken = Event("Encrypt", 1) with { EventName = null! };

        await Assert.ThrowsAnyAsync<Exception>(async () => await index.AppendAsync([Event("Decrypt", 1), broken], CancellationToken.None));
        await index.AppendAsync([Event("ListKeys", 2)], CancellationToken.None);

        Assert.Equal(["ListKeys", "CreateKey"], Names(await index.LookupAsync(Query(), CancellationToken.None)));
    }

    public static TheoryData<bool> Plans() => new() { false, true };

    /// <summary>Finding the candidate chunks never scans a table or sorts: it is a range of one index read backwards.</summary>
    [SkippableTheory]
    [MemberData(nameof(Plans))]
    public async Task Finding_candidate_chunks_is_one_index_range_scan_without_a_sort(bool byTerm)
    {
        var index = await OpenAsync();
        await index.AppendAsync(History(), CancellationToken.None);
        var query = Query(byTerm ? (LookupAttributeKey.EventName, "Encrypt") : null, start: T0, end: T0.AddHours(1));

        await AssertCandidatesAreOneBackwardIndexRangeAsync(byTerm, query);
    }
}
