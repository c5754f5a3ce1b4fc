using System.Text.Json;
using KmsEmulator.Api.Audit;
using KmsEmulator.Api.Hosting;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Pipeline;
using KmsEmulator.Api.Storage;
using KmsEmulator.Hsm;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// <c>GET /health</c> with a fake HSM and store whose checks a test can make fail, the fake clock for the cache
/// interval and the timeout, and the real audit trail and delivery.
/// </summary>
public sealed class HealthTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.FromUnixTimeSeconds(1_800_000_000));
    private readonly ProbedHsm _hsm = new();
    private readonly ProbedStore _store = new();
    private readonly string _root = Path.Combine(Path.GetTempPath(), "kmsemu-health-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Fact]
    public async Task A_healthy_emulator_answers_200_ready_with_every_check_ok()
    {
        var health = Build();

        var (status, body) = await ReportAsync(health);

        Assert.Equal(200, status);
        Assert.Equal("ready", body.GetProperty("status").GetString());
        Assert.Equal("ok", body.GetProperty("hsm").GetProperty("status").GetString());
        Assert.Equal(8, body.GetProperty("hsm").GetProperty("sessionPoolSize").GetInt32());
        Assert.Equal(3, body.GetProperty("hsm").GetProperty("sessionsInUse").GetInt32());
        Assert.Equal(1, body.GetProperty("hsm").GetProperty("sessionWaiters").GetInt32());
        Assert.Equal("ok", body.GetProperty("store").GetProperty("status").GetString());
        Assert.Equal("ok", body.GetProperty("audit").GetProperty("status").GetString());
        Assert.Equal(0, body.GetProperty("audit").GetProperty("queueDepth").GetInt32());
        Assert.Equal(20000, body.GetProperty("audit").GetProperty("queueCapacity").GetInt32());
    }

    [Fact]
    public async Task Health_answers_503_starting_until_the_emulator_is_ready()
    {
        var health = Build(ready: false);

        var (status, body) = await ReportAsync(health);

        Assert.Equal(503, status);
        Assert.Equal("starting", body.GetProperty("status").GetString());
    }

    [Fact]
    public async Task A_store_that_fails_its_check_makes_health_answer_503_with_the_error()
    {
        var health = Build();
        _store.Problem = "The store cannot be read (SQLite error 14: unable to open database file).";

        var (status, body) = await ReportAsync(health);

        Assert.Equal(503, status);
        Assert.Equal("unhealthy", body.GetProperty("status").GetString());
        Assert.Equal("failing", body.GetProperty("store").GetProperty("status").GetString());
        Assert.Equal(_store.Problem, body.GetProperty("store").GetProperty("error").GetString());
        Assert.Equal("ok", body.GetProperty("hsm").GetProperty("status").GetString());
    }

    [Fact]
    public async Task A_store_check_that_throws_counts_as_failed()
    {
        var health = Build();
        _store.Throw = true;

        var (status, body) = await ReportAsync(health);

        Assert.Equal(503, status);
        Assert.Contains("store check failed", body.GetProperty("store").GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_HSM_session_that_fails_its_check_makes_health_answer_503_with_the_error()
    {
        var health = Build();
        _hsm.Problem = "The HSM session is not logged in (CKS_RW_PUBLIC_SESSION).";

        var (status, body) = await ReportAsync(health);

        Assert.Equal(503, status);
        Assert.Equal("unhealthy", body.GetProperty("status").GetString());
        Assert.Equal("failing", body.GetProperty("hsm").GetProperty("status").GetString());
        Assert.Equal(_hsm.Problem, body.GetProperty("hsm").GetProperty("error").GetString());
        Assert.Equal("ok", body.GetProperty("store").GetProperty("status").GetString());
    }

    [Fact]
    public async Task Checks_are_made_once_per_cache_interval_and_a_failure_shows_once_the_interval_has_passed()
    {
        var health = Build(cacheInterval: TimeSpan.FromSeconds(5));
        Assert.Equal(200, (await ReportAsync(health)).Status);
        Assert.Equal(200, (await ReportAsync(health)).Status);
        Assert.Equal(1, _hsm.Probes);
        Assert.Equal(1, _store.Probes);

        _store.Problem = "broken";
        _clock.Advance(TimeSpan.FromSeconds(4));
        Assert.Equal(200, (await ReportAsync(health)).Status);
        Assert.Equal(1, _store.Probes);

        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(503, (await ReportAsync(health)).Status);
        Assert.Equal(2, _store.Probes);

        _store.Problem = null;
        _clock.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(200, (await ReportAsync(health)).Status);
        Assert.Equal(3, _hsm.Probes);
    }

    [Fact]
    public async Task An_HSM_that_does_not_answer_within_the_timeout_is_failing_and_is_not_asked_again_while_it_hangs()
    {
        var health = Build(cacheInterval: TimeSpan.Zero, timeout: TimeSpan.FromSeconds(2));
        var hang = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        _hsm.Hang = hang;

        var pending = ReportAsync(health);
        await _hsm.Started.Task.WaitAsync(Bound);
        Assert.False(pending.IsCompleted);
        _clock.Advance(TimeSpan.FromSeconds(2));
        var (status, body) = await pending.WaitAsync(Bound);

        Assert.Equal(503, status);
        Assert.Equal("unhealthy", body.GetProperty("status").GetString());
        Assert.Equal("The HSM did not answer within 2 s.", body.GetProperty("hsm").GetProperty("error").GetString());

        // The next check waits for the same hung call instead of making a second one.
        var again = ReportAsync(health);
        _clock.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(503, (await again.WaitAsync(Bound)).Status);
        Assert.Equal(1, _hsm.Probes);

        _hsm.Hang = null;
        hang.SetResult(null);
        Assert.Equal(200, (await ReportAsync(health).WaitAsync(Bound)).Status);
    }

    [Fact]
    public async Task Audit_delivery_whose_commit_fails_makes_health_answer_503_until_a_commit_succeeds()
    {
        var index = new FailingIndex();
        var (trail, delivery) = BuildAudit(index);
        await delivery.StartAsync(CancellationToken.None);
        var health = Build(trail: trail);
        Assert.Equal(200, (await ReportAsync(health)).Status);

        index.Fail = true;
        await trail.RecordAsync(Event());
        // The flush fails too when delivery takes it in the same batch as the record, and has nothing left to write
        // when it comes in a later one; either way the failed commit is behind it.
        var flush = await Record.ExceptionAsync(() => trail.FlushAsync().WaitAsync(Bound));
        Assert.True(flush is null or IOException, flush?.ToString());
        var (status, body) = await ReportAsync(health);

        Assert.Equal(503, status);
        Assert.Equal("unhealthy", body.GetProperty("status").GetString());
        var audit = body.GetProperty("audit");
        Assert.Equal("failing", audit.GetProperty("status").GetString());
        Assert.Equal("IOException: No space left on device", audit.GetProperty("error").GetString());
        Assert.Equal("IOException: No space left on device", audit.GetProperty("lastError").GetString());
        Assert.True(audit.GetProperty("deliveryRunning").GetBoolean());

        index.Fail = false;
        await trail.RecordAsync(Event());
        await trail.FlushAsync().WaitAsync(Bound);
        (status, body) = await ReportAsync(health);
        Assert.Equal(200, status);
        Assert.Equal("ok", body.GetProperty("audit").GetProperty("status").GetString());
        Assert.Equal("IOException: No space left on device", body.GetProperty("audit").GetProperty("lastError").GetString());

        await delivery.StoppedAsync(CancellationToken.None);
        (status, body) = await ReportAsync(health);
        Assert.Equal(503, status);
        Assert.Equal("Audit delivery is not running.", body.GetProperty("audit").GetProperty("error").GetString());
    }

    [Fact]
    public async Task With_the_audit_trail_off_health_reports_it_off_and_stays_200()
    {
        var trail = new AuditTrail(Options.Create(new AuditOptions { Enabled = false }), new KeyUsageTracker(_clock), NullLogger<AuditTrail>.Instance);
        var health = Build(trail: trail);

        var (status, body) = await ReportAsync(health);

        Assert.Equal(200, status);
        Assert.Equal("off", body.GetProperty("audit").GetProperty("status").GetString());
    }

    [Fact]
    public async Task The_SQLite_store_check_fails_when_its_file_is_gone_and_passes_again_when_it_is_back()
    {
        Directory.CreateDirectory(_root);
        var path = Path.Combine(_root, "kms.db");
        var store = await SqliteKmsStore.OpenAsync(path, _ => { });
        Assert.Null(await store.ProbeAsync());

        File.Move(path, path + ".away");
        Assert.StartsWith("The store cannot be read (SQLite error 14", await store.ProbeAsync(), StringComparison.Ordinal);

        File.Move(path + ".away", path);
        Assert.Null(await store.ProbeAsync());
    }

    private HealthEndpoint Build(bool ready = true, TimeSpan? cacheInterval = null, TimeSpan? timeout = null, AuditTrail? trail = null)
    {
        var options = Options.Create(new KmsOptions
        {
            Health = new HealthOptions { CacheInterval = cacheInterval ?? TimeSpan.FromSeconds(1), Timeout = timeout ?? TimeSpan.FromSeconds(2) },
        });
        var readiness = new KmsReadiness();
        if (ready)
        {
            readiness.MarkReady();
        }

        if (trail is null)
        {
            trail = new AuditTrail(Options.Create(new AuditOptions()), new KeyUsageTracker(_clock), NullLogger<AuditTrail>.Instance);
            trail.Delivery.Started();
        }

        return new HealthEndpoint(readiness, _hsm, new HealthMonitor(_clock, options, _hsm, _store), trail, _hsm);
    }

    private (AuditTrail Trail, AuditDelivery Delivery) BuildAudit(IAuditIndex index)
    {
        var options = Options.Create(new AuditOptions { CommitInterval = TimeSpan.Zero });
        var trail = new AuditTrail(options, new KeyUsageTracker(_clock), NullLogger<AuditTrail>.Instance);
        var delivery = new AuditDelivery(trail, options, new AuditPaths(_root), [], _clock, NullLogger<AuditDelivery>.Instance, index);
        return (trail, delivery);
    }

    private AuditEvent Event() => new()
    {
        EventId = Guid.NewGuid(),
        RequestId = Guid.NewGuid().ToString(),
        EventTime = _clock.GetUtcNow(),
        EventName = "Encrypt",
        Region = "us-east-1",
        Caller = new CallerIdentity("111122223333", "arn:aws:iam::111122223333:root", "AKIAEXAMPLE", KmsEmulator.Policy.PrincipalType.Root),
        ReadOnly = true,
        RecipientAccountId = "111122223333",
    };

    private static async Task<(int Status, JsonElement Body)> ReportAsync(HealthEndpoint health)
    {
        var (status, body) = await health.ReportAsync();
        return (status, JsonDocument.Parse(body).RootElement.Clone());
    }

    /// <summary>An HSM that is ready and whose health check answers what the test says.</summary>
    private sealed class ProbedHsm : UnusedHsm, IKeyMaterialBackend, IHsmStatus
    {
        private int _probes;

        public string? Problem { get; set; }

        public TaskCompletionSource<string?>? Hang { get; set; }

        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Probes => Volatile.Read(ref _probes);

        bool IKeyMaterialBackend.IsReady => true;

        IReadOnlyDictionary<string, IReadOnlyList<string>> IKeyMaterialBackend.Defects => new Dictionary<string, IReadOnlyList<string>>();

        public HsmPoolUsage PoolUsage => new(8, 3, 1);

        public async ValueTask<string?> ProbeAsync(CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _probes);
            Started.TrySetResult();
            return Hang is { } hang ? await hang.Task : Problem;
        }
    }

    private sealed class ProbedStore : IStoreProbe
    {
        private int _probes;

        public string? Problem { get; set; }

        public bool Throw { get; set; }

        public int Probes => Volatile.Read(ref _probes);

        public Task<string?> ProbeAsync(CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _probes);
            return Throw ? throw new InvalidOperationException("no connection") : Task.FromResult(Problem);
        }
    }

    /// <summary>An audit index whose commits fail while <see cref="Fail"/> is set, as on a full disk.</summary>
    private sealed class FailingIndex : IAuditIndex
    {
        public volatile bool Fail;

        public ValueTask AppendAsync(IReadOnlyList<IndexedEvent> events, CancellationToken cancellationToken) =>
            Fail ? throw new IOException("No space left on device") : ValueTask.CompletedTask;

        public ValueTask<int> PruneAsync(DateTimeOffset before, CancellationToken cancellationToken) => ValueTask.FromResult(0);

        public ValueTask<AuditEventPage> LookupAsync(AuditLookup query, CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask ClearAsync(DateTimeOffset trackingStart, CancellationToken cancellationToken) => throw new NotSupportedException();
    }
}
