using System.Runtime.Versioning;
using Dapper;
using KmsEmulator.Api.Audit;
using KmsEmulator.Api.Storage;
using Microsoft.Data.Sqlite;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// The audit index contract (<see cref="AuditIndexContract{TIndex}"/>) on <see cref="SqliteAuditIndex"/>, a real
/// audit.db in a temporary directory of each test's own; and what only the SQLite file has: its mode, WAL and migration
/// series, and the conversion of an index written in the first release's per-event layout.
/// </summary>
public sealed class SqliteAuditIndexTests : AuditIndexContract<SqliteAuditIndex>
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "kmsemu-audit-" + Guid.NewGuid().ToString("N"));

    private string DbPath => Path.Combine(_dir, SqliteAuditIndex.FileName);

    protected override Task<SqliteAuditIndex> OpenIndexAsync(TimeProvider clock) => Task.FromResult(SqliteAuditIndex.Open(DbPath, clock));

    // Each index closes its own pooled connections when disposed; other classes' pools (tests run in parallel) are left alone.
    protected override Task DestroyAsync()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }

        return Task.CompletedTask;
    }

    protected override async Task<long> CountAsync(string sql)
    {
        using var connection = Connect();
        return await connection.ExecuteScalarAsync<long>(sql);
    }

    protected override Task AssertCandidatesAreOneBackwardIndexRangeAsync(bool byTerm, AuditLookup query)
    {
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
        return Task.CompletedTask;
    }

    private SqliteConnection Connect()
    {
        var connection = new SqliteConnection($"Data Source={DbPath};Pooling=False");
        connection.Open();
        return connection;
    }

    [SkippableFact]
    [UnsupportedOSPlatform("windows")]
    public async Task The_index_is_its_own_file_0600_in_WAL_mode_with_its_own_migrations()
    {
        Skip.If(OperatingSystem.IsWindows(), "Unix file modes only.");
        await OpenAsync();

        Assert.Equal(StoreFilePermissions.OwnerOnlyFile, File.GetUnixFileMode(DbPath));
        using var connection = Connect();
        Assert.Equal((long)SqliteMigrations.Audit.Max(m => m.Version), connection.ExecuteScalar<long>("PRAGMA user_version;"));
        Assert.Equal("wal", connection.ExecuteScalar<string>("PRAGMA journal_mode;"));
        var tables = connection.Query<string>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").ToList();
        Assert.Equal(["audit_meta", "chunk_terms", "chunks", "event_scopes", "key_last_use"], tables);
        Assert.DoesNotContain(SqliteMigrations.Audit, m => SqliteMigrations.Available.Contains(m));
    }

    [SkippableFact]
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
                          ro = e.ReadOnly ? "true" : "false", e.AccessKeyId, e.Username, e.RequestId, Record = e.Record.ToArray() });
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

        var index = await OpenAsync();

        Assert.Equal(
            ["ListKeys", "DisableKey", "GenerateRandom", "Decrypt", "Encrypt", "Encrypt", "CreateAlias", "CreateKey"],
            Names(await index.LookupAsync(Query(), CancellationToken.None)));
        var created = Assert.Single((await index.LookupAsync(Query((LookupAttributeKey.EventName, "CreateAlias")), CancellationToken.None)).Events);
        Assert.Equal([AliasArn, KeyA], created.Resources.Select(r => r.ResourceName));
        Assert.Equal(history[1].Record.ToArray(), created.Record);
        Assert.Equal("Decrypt", (await index.FindAsync(KeyA, CancellationToken.None))?.Operation);
        using var check = Connect();
        Assert.Equal(0, check.ExecuteScalar<long>("SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'legacy_%'"));
    }

    [SkippableFact]
    public async Task A_chunk_written_before_the_log_files_and_the_index_shared_their_groups_is_still_read()
    {
        // Such a chunk's directory has no format number, and its groups are zlib streams of its own.
        var records = Enumerable.Range(0, 3).Select(i => System.Text.Encoding.UTF8.GetBytes($$"""{"n":{{i}}}""")).ToList();
        var slices = RecordSlice.Pack(records);
        var index = await OpenAsync();
        await index.AppendAsync([.. slices.Select((slice, i) => Event("Encrypt", i) with { Record = slice })], CancellationToken.None);
        using (var connection = Connect())
        {
            var (id, entries, stored) = connection.QuerySingle<(long, byte[], byte[])>("SELECT chunk_id, entries, records FROM chunks");
            Assert.Equal(-1, BitConverter.ToInt32(entries, 0));
            using var raw = new MemoryStream();
            using (var inflater = new System.IO.Compression.DeflateStream(new MemoryStream(stored), System.IO.Compression.CompressionMode.Decompress))
            {
                inflater.CopyTo(raw);
            }

            using var zlib = new MemoryStream();
            using (var deflater = new System.IO.Compression.ZLibStream(zlib, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
            {
                deflater.Write(raw.ToArray());
            }

            connection.Execute("UPDATE chunks SET entries = @entries, records = @records WHERE chunk_id = @id", new { id, entries = entries[4..], records = zlib.ToArray() });
        }

        var page = await index.LookupAsync(Query(), CancellationToken.None);

        Assert.Equal(records, page.Events.Select(e => e.Record).Reverse());
    }
}
