using KmsEmulator.Api.Keys;
using Microsoft.Extensions.Time.Testing;

namespace KmsEmulator.Api.Tests;

/// <summary>The last use of each key between a request and the audit index: newest wins, dropped once persisted.</summary>
public sealed class KeyUsageTrackerTests
{
    private const string Arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);

    [Fact]
    public async Task Many_threads_recording_at_once_leave_the_newest_use()
    {
        var tracker = new KeyUsageTracker(new FakeTimeProvider(T0));
        var uses = Enumerable.Range(0, 20_000).Select(i => Use(i)).ToArray();

        await Task.WhenAll(Enumerable.Range(0, 8).Select(worker => Task.Run(() =>
        {
            for (var i = worker; i < uses.Length; i += 8)
            {
                tracker.Record(Arn, uses[i]);
            }
        })));

        Assert.Same(uses[^1], await tracker.LastAsync(Arn, CancellationToken.None));
    }

    [Fact]
    public async Task An_older_use_never_replaces_a_newer_one_and_only_the_persisted_use_is_dropped()
    {
        var tracker = new KeyUsageTracker(new FakeTimeProvider(T0));
        tracker.Record(Arn, Use(2));
        tracker.Record(Arn, Use(1));
        Assert.Equal(Use(2), await tracker.LastAsync(Arn, CancellationToken.None));

        tracker.Persisted(Arn, Use(1)); // Not what is pending: kept.
        Assert.Equal(Use(2), await tracker.LastAsync(Arn, CancellationToken.None));

        tracker.Persisted(Arn, Use(2)); // An equal use (as the delivery loop rebuilds it from the event): dropped.
        Assert.Null(await tracker.LastAsync(Arn, CancellationToken.None));

        tracker.Record(Arn, Use(3));
        Assert.Equal(Use(3), await tracker.LastAsync(Arn, CancellationToken.None));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_pending_use_answers_alone_unless_other_nodes_share_the_history_then_the_newer_of_the_two_does(bool shared)
    {
        var history = new History { Stored = Use(5) };
        var tracker = new KeyUsageTracker(new FakeTimeProvider(T0), history, new StoreSharing(shared));

        tracker.Record(Arn, Use(2)); // Older than what another node indexed.
        Assert.Equal(shared ? Use(5) : Use(2), await tracker.LastAsync(Arn, CancellationToken.None));
        Assert.Equal(shared ? 1 : 0, history.Finds);

        tracker.Record(Arn, Use(9)); // Newer: this node's pending use wins either way.
        Assert.Equal(Use(9), await tracker.LastAsync(Arn, CancellationToken.None));

        tracker.Persisted(Arn, Use(9));
        history.Stored = Use(9);
        Assert.Equal(Use(9), await tracker.LastAsync(Arn, CancellationToken.None));

        history.Stored = null; // Nothing anywhere (a clear on another node, or a key never used).
        Assert.Null(await tracker.LastAsync(Arn, CancellationToken.None));
    }

    private static KeyUsage Use(int second) =>
        new("Encrypt", T0.AddSeconds(second), $"event-{second}", $"request-{second}");

    private sealed class History : IKeyUsageHistory
    {
        public KeyUsage? Stored { get; set; }

        public int Finds { get; private set; }

        public DateTimeOffset TrackingStart => T0;

        public ValueTask<KeyUsage?> FindAsync(string keyArn, CancellationToken cancellationToken)
        {
            Finds++;
            return ValueTask.FromResult(keyArn == Arn ? Stored : null);
        }
    }
}
