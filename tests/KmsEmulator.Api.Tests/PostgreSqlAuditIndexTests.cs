using Dapper;
using KmsEmulator.Api.Audit;
using KmsEmulator.Api.Storage;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// The audit index contract (<see cref="AuditIndexContract{TIndex}"/>) on <see cref="PostgreSqlAuditIndex"/>, each
/// test on a database of its own on the test cluster; and what several nodes on one database need: every instance
/// sees the others' events and key uses, appends at once neither deadlock nor lose anything, the last use of a key
/// never moves back, one tracking start for all, and a clear or prune on one node is safe and seen by every other.
/// Skipped where the PostgreSQL server is not installed, except under KMS_COMPAT_REQUIRE_ALL=1.
/// </summary>
[Collection(PostgreSqlCollection.Name)]
public sealed class PostgreSqlAuditIndexTests(PostgreSqlFixture postgres) : AuditIndexContract<PostgreSqlAuditIndex>
{
    private string? _database;

    private string ConnectionString => postgres.Server.ConnectionString(_database ?? throw new InvalidOperationException("No database yet."));

    protected override async Task<PostgreSqlAuditIndex> OpenIndexAsync(TimeProvider clock)
    {
        _database ??= await postgres.Server.CreateDatabaseAsync();
        return await PostgreSqlAuditIndex.OpenAsync(ConnectionString, clock);
    }

    protected override async Task DestroyAsync()
    {
        if (_database is not null)
        {
            await postgres.Server.DropDatabaseAsync(_database);
        }
    }

    protected override async Task<long> CountAsync(string sql)
    {
        await using var connection = await ConnectAsync();
        return await connection.ExecuteScalarAsync<long>(sql);
    }

    protected override async Task AssertCandidatesAreOneBackwardIndexRangeAsync(bool byTerm, AuditLookup query)
    {
        // A handful of rows would be read faster by a scan of the table and a sort, so the planner is told to avoid
        // scans: what is checked is that an index serves the query in its order, with no sort step.
        await using var connection = await ConnectAsync();
        await connection.ExecuteAsync("SET enable_seqscan = off; SET enable_bitmapscan = off;");
        await using var command = new NpgsqlCommand("EXPLAIN " + PostgreSqlAuditIndex.CandidateSql(byTerm), connection);
        PostgreSqlAuditIndex.AddCandidateParameters(command, query, AuditChunks.EventFilter.For(query), long.MaxValue, long.MaxValue, 16);
        var plan = new List<string>();
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                plan.Add(reader.GetString(0));
            }
        }

        var text = string.Join('\n', plan);
        Assert.DoesNotContain("Sort", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Seq Scan", text, StringComparison.Ordinal);
        Assert.Contains(byTerm ? "Index Only Scan Backward using chunk_terms_pkey" : "Index Scan Backward using ix_chunks_time", text, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Its_tables_come_with_the_stores_migration_series_and_opening_it_first_migrates_the_whole_database()
    {
        await OpenAsync();

        await using var connection = await ConnectAsync();
        Assert.Equal(
            PostgreSqlMigrations.Available.Select(m => m.Version),
            await connection.QueryAsync<int>("SELECT version FROM schema_migrations ORDER BY version"));
        var tables = (await connection.QueryAsync<string>("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")).ToHashSet();
        Assert.Superset(new HashSet<string>(["audit_meta", "chunk_terms", "chunks", "event_scopes", "key_last_use", "keys", "store_meta"]), tables);

        // The store opens on it as on any migrated database.
        await using var store = await PostgreSqlKmsStore.OpenAsync(ConnectionString);
        Assert.Empty((await store.LoadAsync()).Keys);
    }

    [SkippableFact]
    public async Task Nodes_opening_one_database_at_once_share_the_tracking_start_of_the_first()
    {
        var clocks = Enumerable.Range(0, 4).Select(i => new FakeTimeProvider(T0.AddHours(i))).ToList();
        _database = await postgres.Server.CreateDatabaseAsync();

        var nodes = await Task.WhenAll(clocks.Select(clock => Task.Run(() => OpenAsync(clock))));

        var trackingStart = Assert.Single(nodes.Select(n => n.TrackingStart).Distinct());
        Assert.Contains(trackingStart, clocks.Select(c => c.GetUtcNow()));
        Assert.Equal(trackingStart, (await OpenAsync(new FakeTimeProvider(T0.AddDays(9)))).TrackingStart);
    }

    /// <summary>
    /// Two nodes append at once, round after round: each round one node writes the newer use of 40 keys and the other an
    /// older one, naming the keys in opposite orders, while a reader watches the last use of one. Every append succeeds
    /// (rows locked in one order, so no deadlock), each node then sees both nodes' events and the newer use, and the last
    /// use never moves back.
    /// </summary>
    [SkippableFact]
    public async Task Two_nodes_appending_at_once_see_each_others_events_and_key_uses_and_the_last_use_never_moves_back()
    {
        const int Rounds = 40;
        var a = await OpenAsync();
        var b = await OpenAsync();
        var keys = Enumerable.Range(0, 40).Select(i => $"arn:aws:kms:us-east-1:111122223333:key/{i:D8}-0000-0000-0000-000000000000").ToArray();
        var appended = new List<IndexedEvent>();
        using var done = new CancellationTokenSource();
        var seen = new List<DateTimeOffset>();
        var watcher = Task.Run(async () =>
        {
            while (!done.IsCancellationRequested)
            {
                if (await b.FindAsync(keys[7], CancellationToken.None) is { } use)
                {
                    seen.Add(use.Timestamp);
                }
            }
        });

        for (var round = 0; round < Rounds; round++)
        {
            var newer = Enumerable.Range(0, 3).Select(i => Event("Encrypt", round * 10 + 5, used: keys, millis: i)).ToList();
            var older = Enumerable.Range(0, 3).Select(i => Event("Decrypt", round * 10 + 1, used: [.. keys.Reverse()], millis: i)).ToList();
            var (first, second) = round % 2 == 0 ? ((Node: a, Events: newer), (Node: b, Events: older)) : ((Node: b, Events: newer), (Node: a, Events: older));
            await Task.WhenAll(
                Task.Run(async () => await first.Node.AppendAsync(first.Events, CancellationToken.None)),
                Task.Run(async () => await second.Node.AppendAsync(second.Events, CancellationToken.None)));
            appended.AddRange(newer);
            appended.AddRange(older);

            foreach (var node in new[] { a, b })
            {
                foreach (var key in keys)
                {
                    var last = await node.FindAsync(key, CancellationToken.None);
                    Assert.NotNull(last);
                    Assert.Equal(newer[^1].EventId.ToString(), last.CloudTrailEventId);
                }
            }
        }

        await done.CancelAsync();
        await watcher;
        Assert.NotEmpty(seen);
        Assert.Equal(seen.Order(), seen);

        // Each node pages through every event both appended, newest first, none twice; by attribute too.
        var expected = appended.Select(e => e.EventId.ToString()).Order(StringComparer.Ordinal).ToList();
        foreach (var node in new[] { a, b })
        {
            var all = await AllAsync(node, null);
            Assert.Equal(expected, all.Select(e => e.EventId).Order(StringComparer.Ordinal));
            Assert.Equal(all.Select(e => e.EventTime).OrderDescending(), all.Select(e => e.EventTime));
            Assert.Equal(
                appended.Where(e => e.EventName == "Decrypt").Select(e => e.EventId.ToString()).Order(StringComparer.Ordinal),
                (await AllAsync(node, (LookupAttributeKey.EventName, "Decrypt"))).Select(e => e.EventId).Order(StringComparer.Ordinal));
        }
    }

    [SkippableFact]
    public async Task A_clear_on_one_node_empties_the_index_for_every_node_and_sets_the_tracking_start_they_all_report()
    {
        var a = await OpenAsync();
        var b = await OpenAsync();
        await a.AppendAsync([Event("Encrypt", 1, used: [KeyA]), Event("CreateKey", 2, readOnly: false)], CancellationToken.None);
        await b.AppendAsync([Event("Decrypt", 3, used: [KeyB])], CancellationToken.None);
        Assert.Equal(["Decrypt", "CreateKey", "Encrypt"], Names(await a.LookupAsync(Query(), CancellationToken.None)));

        var cleared = T0.AddDays(2);
        await b.ClearAsync(cleared, CancellationToken.None);

        Assert.Empty((await a.LookupAsync(Query(), CancellationToken.None)).Events);
        Assert.Null(await a.FindAsync(KeyA, CancellationToken.None));
        Assert.Equal(cleared, a.TrackingStart);
        await a.AppendAsync([Event("Sign", 4, used: [KeyA])], CancellationToken.None);
        Assert.Equal(["Sign"], Names(await b.LookupAsync(Query((LookupAttributeKey.EventSource, "kms.amazonaws.com")), CancellationToken.None)));
        Assert.Equal("Sign", (await b.FindAsync(KeyA, CancellationToken.None))?.Operation);
    }

    [SkippableFact]
    public async Task Two_nodes_pruning_and_appending_at_once_remove_each_old_chunk_once()
    {
        var a = await OpenAsync();
        var b = await OpenAsync();
        for (var i = 0; i < 20; i++)
        {
            await (i % 2 == 0 ? a : b).AppendAsync([Event("Encrypt", i, used: [KeyA]), Event("Decrypt", i, used: [KeyB])], CancellationToken.None);
        }

        var removed = await Task.WhenAll(
            Task.Run(async () => await a.PruneAsync(T0.AddSeconds(10), CancellationToken.None)),
            Task.Run(async () => await b.PruneAsync(T0.AddSeconds(10), CancellationToken.None)),
            Task.Run(async () =>
            {
                await a.AppendAsync([Event("Sign", 30)], CancellationToken.None);
                return 0;
            }));

        Assert.Equal(20, removed.Sum());
        Assert.Equal(21, (await b.LookupAsync(Query(max: 50), CancellationToken.None)).Events.Count);
        Assert.Equal(0, await CountAsync("SELECT COUNT(*) FROM chunk_terms WHERE last_time < " + T0.AddSeconds(10).ToUnixTimeSeconds()));
        Assert.Equal("Decrypt", (await a.FindAsync(KeyB, CancellationToken.None))?.Operation);
    }

    /// <summary>Every event of the default account and region (with the attribute), page after page of 7.</summary>
    private static async Task<List<LookedUpEvent>> AllAsync(PostgreSqlAuditIndex index, (LookupAttributeKey, string)? attribute)
    {
        var events = new List<LookedUpEvent>();
        AuditCursor? after = null;
        do
        {
            var page = await index.LookupAsync(Query(attribute, max: 7, after: after), CancellationToken.None);
            events.AddRange(page.Events);
            after = page.Next;
        }
        while (after is not null);

        return events;
    }

    private async Task<NpgsqlConnection> ConnectAsync()
    {
        var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(ConnectionString) { Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        return connection;
    }
}
