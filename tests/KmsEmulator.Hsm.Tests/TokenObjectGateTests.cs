using KmsEmulator.Hsm.Pkcs11;

namespace KmsEmulator.Hsm.Tests;

/// <summary>
/// The gate that keeps token searches apart from token-object creation, on its own (no HSM). Every wait in these
/// tests is bounded, so a gate that deadlocks fails the test instead of hanging the run.
/// </summary>
public sealed class TokenObjectGateTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Creators_and_searchers_are_never_inside_together_and_all_of_them_finish()
    {
        var gate = new TokenObjectGate();
        var creators = 0;
        var searchers = 0;
        var overlaps = 0;
        var calls = 0;

        void Inside(ref int mine, ref int theirs)
        {
            Interlocked.Increment(ref mine);
            if (Volatile.Read(ref theirs) != 0)
            {
                Interlocked.Increment(ref overlaps);
            }

            Thread.SpinWait(200);
            if (Volatile.Read(ref theirs) != 0)
            {
                Interlocked.Increment(ref overlaps);
            }

            Interlocked.Decrement(ref mine);
            Interlocked.Increment(ref calls);
        }

        var workers = Enumerable.Range(0, 8).Select(w => Task.Factory.StartNew(() =>
        {
            var random = new Random(w);
            for (var i = 0; i < 2_000; i++)
            {
                if (random.Next(2) == 0)
                {
                    gate.Creating(() => { Inside(ref creators, ref searchers); return 0; });
                }
                else
                {
                    gate.Searching(() => { Inside(ref searchers, ref creators); return 0; });
                }
            }
        }, TaskCreationOptions.LongRunning)).ToArray();

        await Task.WhenAll(workers).WaitAsync(Bound);
        Assert.Equal(0, overlaps);
        Assert.Equal(16_000, calls);
    }

    [Fact]
    public async Task Calls_of_one_kind_run_at_the_same_time()
    {
        var gate = new TokenObjectGate();
        using var bothInside = new Barrier(2);
        var reached = Enumerable.Range(0, 2).Select(_ => Task.Factory.StartNew(
            () => gate.Creating(() => bothInside.SignalAndWait(Bound)), TaskCreationOptions.LongRunning)).ToArray();

        Assert.All(await Task.WhenAll(reached).WaitAsync(Bound), Assert.True);
    }

    [Fact]
    public async Task A_waiting_searcher_goes_before_creators_that_come_after_it()
    {
        var gate = new TokenObjectGate();
        var order = new List<string>();
        using var firstInside = new ManualResetEventSlim();
        using var releaseFirst = new ManualResetEventSlim();

        var first = Task.Factory.StartNew(() => gate.Creating(() =>
        {
            firstInside.Set();
            releaseFirst.Wait(Bound);
            lock (order) { order.Add("creator 1"); }
            return 0;
        }), TaskCreationOptions.LongRunning);
        Assert.True(firstInside.Wait(Bound));

        var searcher = Task.Factory.StartNew(() => gate.Searching(() => { lock (order) { order.Add("searcher"); } return 0; }),
            TaskCreationOptions.LongRunning);
        await WaitUntilAsync(() => gate.Waiting == (0, 1));
        var second = Task.Factory.StartNew(() => gate.Creating(() => { lock (order) { order.Add("creator 2"); } return 0; }),
            TaskCreationOptions.LongRunning);
        await WaitUntilAsync(() => gate.Waiting == (1, 1));

        releaseFirst.Set();
        await Task.WhenAll(first, searcher, second).WaitAsync(Bound);
        Assert.Equal(["creator 1", "searcher", "creator 2"], order);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(Bound);
        while (!condition())
        {
            await Task.Yield();
            timeout.Token.ThrowIfCancellationRequested();
        }
    }
}
