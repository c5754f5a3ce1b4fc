using KmsEmulator.Api.Keys;
using KmsEmulator.Hsm;
using Microsoft.Extensions.Options;

namespace KmsEmulator.Api.Hosting;

/// <summary>
/// The HSM and store checks behind <c>GET /health</c>: each is one cheap round trip (C_GetSessionInfo on the HSM's
/// long-lived session; opening the SQLite file or a new PostgreSQL connection and reading the store id), bounded by <see cref="HealthOptions.Timeout"/>
/// and remembered for <see cref="HealthOptions.CacheInterval"/>, so that polling /health under load costs nothing and
/// concurrent polls share one check. A check that hangs counts as failed once its timeout passes; while it still hangs,
/// later checks wait for it again (bounded by the timeout) instead of starting another.
/// </summary>
public sealed class HealthMonitor
{
    private readonly CachedProbe? _hsm;
    private readonly CachedProbe? _store;

    public HealthMonitor(TimeProvider clock, IOptions<KmsOptions> options, IHsmStatus? hsm = null, IStoreProbe? store = null)
    {
        var health = options.Value.Health;
        _hsm = hsm is null ? null : new CachedProbe("HSM", ct => hsm.ProbeAsync(ct).AsTask(), clock, health.CacheInterval, health.Timeout);
        _store = store is null ? null : new CachedProbe("store", store.ProbeAsync, clock, health.CacheInterval, health.Timeout);
    }

    /// <summary>What is wrong with the HSM and with the store (null: nothing, or not checked).</summary>
    public async Task<(string? Hsm, string? Store)> CheckAsync()
    {
        var hsm = _hsm?.GetAsync() ?? Task.FromResult<string?>(null);
        var store = _store?.GetAsync() ?? Task.FromResult<string?>(null);
        return (await hsm.ConfigureAwait(false), await store.ConfigureAwait(false));
    }

    /// <summary>One check, its last answer, and the check under way if any.</summary>
    private sealed class CachedProbe(string name, Func<CancellationToken, Task<string?>> probe, TimeProvider clock, TimeSpan interval, TimeSpan timeout)
    {
        private readonly Lock _lock = new();
        private Task<string?>? _answer;
        private long _answeredAt;
        private Task<string?>? _refreshing;
        private Task<string?>? _probe;

        public Task<string?> GetAsync()
        {
            TaskCompletionSource<string?> refresh;
            lock (_lock)
            {
                if (_answer is not null && clock.GetElapsedTime(_answeredAt) < interval)
                {
                    return _answer;
                }

                if (_refreshing is not null)
                {
                    return _refreshing;
                }

                refresh = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
                _refreshing = refresh.Task;
            }

            // Outside the lock; runs synchronously up to its first wait, so the timeout is armed before this returns.
            _ = RefreshAsync(refresh);
            return refresh.Task;
        }

        private async Task RefreshAsync(TaskCompletionSource<string?> refresh)
        {
            string? problem;
            // A check still running from before (one that hung past its timeout) is waited for again rather than a
            // second one started beside it.
            if (_probe is not { IsCompleted: false })
            {
                // On the thread pool: the HSM probe is a blocking PKCS#11 call, and a hung one must not hold the caller.
                _probe = Task.Run(() => probe(CancellationToken.None));
            }

            try
            {
                problem = await _probe.WaitAsync(timeout, clock).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                problem = $"The {name} did not answer within {timeout.TotalSeconds:0.###} s.";
            }
            catch (Exception e)
            {
                problem = $"The {name} check failed ({e.GetType().Name}: {e.Message}).";
            }

            lock (_lock)
            {
                _answer = Task.FromResult(problem);
                _answeredAt = clock.GetTimestamp();
                _refreshing = null;
            }

            refresh.SetResult(problem);
        }
    }
}
