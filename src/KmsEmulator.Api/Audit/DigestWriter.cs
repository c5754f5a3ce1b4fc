using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KmsEmulator.Api.Audit;

/// <summary>
/// CloudTrail log file integrity validation: every <see cref="AuditOptions.DigestInterval"/> on the injected clock,
/// writes one signed digest file per account and region that has ever had log files, listing the log files delivered
/// since the previous digest (none is fine: CloudTrail writes empty digests too) and chained to the previous digest's
/// hash and signature. At graceful shutdown (<see cref="CompleteAsync"/>) writes a final digest wherever log files are
/// not covered yet. The chain and the uncovered files survive restarts in <see cref="DigestState"/>.
/// </summary>
public sealed partial class DigestWriter(
    IOptions<AuditOptions> options,
    AuditPaths paths,
    IDigestSigner signer,
    TimeProvider clock,
    ILogger<DigestWriter> logger) : IAuditFileObserver, IHostedService, IAsyncDisposable
{
    private readonly AuditOptions _options = options.Value;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Lock _tickLock = new();
    private DigestState? _state;
    private DateTimeOffset _startedAt;
    private RSA? _publicKey;
    private string _fingerprint = "";
    private ITimer? _timer;
    private Task _ticks = Task.CompletedTask;
    private bool _completed;

    private string Bucket => _options.BucketName;

    private string HomeRegion => _options.HomeRegion ?? "us-east-1";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!_options.Enabled)
        {
            return;
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await EnsureLoadedAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }

        var interval = _options.DigestInterval > TimeSpan.Zero ? _options.DigestInterval : TimeSpan.FromHours(1);
        _timer = clock.CreateTimer(_ => OnTick(), null, interval, interval);
    }

    /// <summary>Stops the timer; the final digest is <see cref="CompleteAsync"/>'s, once delivery has drained.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_timer is { } timer)
        {
            await timer.DisposeAsync().ConfigureAwait(false);
        }

        await WhenIdleAsync().ConfigureAwait(false);
    }

    /// <summary>Completes when the digests due at the last timer tick are written (tests advance a fake clock, then wait).</summary>
    public Task WhenIdleAsync()
    {
        lock (_tickLock)
        {
            return _ticks;
        }
    }

    public async ValueTask DeliveredAsync(DeliveredLogFile file, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var state = await EnsureLoadedAsync(cancellationToken).ConfigureAwait(false);
            var chain = state.Find(file.AccountId, file.Region);
            if (chain is null)
            {
                chain = new DigestChain
                {
                    AccountId = file.AccountId,
                    Region = file.Region,
                    StartedAt = WholeSeconds(Min(_startedAt, file.OldestEventTime)),
                };
                state.Chains.Add(chain);
            }

            if (!chain.Pending.Exists(p => p.ObjectKey == file.RelativePath))
            {
                chain.Pending.Add(new DigestLogFile(file.RelativePath, Convert.ToHexStringLower(file.Sha256), file.OldestEventTime, file.NewestEventTime));
                state.Save(paths.Root);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Delivery has stopped (graceful shutdown): a final digest for every chain with files not yet covered.</summary>
    public async ValueTask CompleteAsync(CancellationToken cancellationToken)
    {
        await WhenIdleAsync().ConfigureAwait(false);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _completed = true;
            if (_state is null && !File.Exists(Path.Combine(paths.Root, DigestState.FileName)))
            {
                return; // Nothing was ever delivered: no key to make, nothing to cover.
            }

            await WriteDigestsAsync(onlyPending: true, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The files stay pending in the state and the first digest after the next start lists them.
            LogDigestFailed(e);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The trail was cleared: every chain ends with it, and the next digests start new ones.</summary>
    public async ValueTask ClearedAsync(CancellationToken cancellationToken)
    {
        await WhenIdleAsync().ConfigureAwait(false);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _state = new DigestState();
            _startedAt = clock.GetUtcNow();
            _state.Save(paths.Root);
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_timer is { } timer)
        {
            await timer.DisposeAsync().ConfigureAwait(false);
        }

        _publicKey?.Dispose();
    }

    private void OnTick()
    {
        lock (_tickLock)
        {
            _ticks = TickAfterAsync(_ticks);
        }
    }

    private async Task TickAfterAsync(Task previous)
    {
        await previous.ConfigureAwait(false);
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!_completed)
            {
                await WriteDigestsAsync(onlyPending: false, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            // The files stay pending and the next digest lists them; say so loudly.
            LogDigestFailed(e);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Under the gate: one digest per chain (with pending files only, or every chain), then the state.</summary>
    private async Task WriteDigestsAsync(bool onlyPending, CancellationToken cancellationToken)
    {
        var state = await EnsureLoadedAsync(cancellationToken).ConfigureAwait(false);
        var now = clock.GetUtcNow();
        foreach (var chain in state.Chains)
        {
            if (!onlyPending || chain.Pending.Count > 0)
            {
                await WriteDigestAsync(chain, now, cancellationToken).ConfigureAwait(false);
                state.Save(paths.Root);
            }
        }
    }

    private async Task WriteDigestAsync(DigestChain chain, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // Names carry the end time to the second, so a chain's end times strictly increase by whole seconds.
        var end = WholeSeconds(now);
        if (chain.Last is { } last && end <= last.EndTime)
        {
            end = last.EndTime.AddSeconds(1);
        }

        var objectKey = DigestFile.ObjectKey(chain.AccountId, chain.Region, TrailEncryption.TrailName, HomeRegion, end);
        var content = new DigestContent(
            chain.AccountId,
            chain.Last?.EndTime ?? chain.StartedAt,
            end,
            Bucket,
            objectKey,
            _fingerprint,
            chain.Last is { } previous ? new DigestLink(previous.Bucket, previous.ObjectKey, previous.Sha256, previous.Signature) : null,
            [.. chain.Pending]);
        var json = DigestFile.ToJson(content);
        var sha256 = SHA256.HashData(json);
        var signature = Convert.ToHexStringLower(await signer.SignAsync(
            DigestFile.SignedData(CloudTrailRecord.FormatTime(end), Bucket, objectKey, sha256, chain.Last?.Signature), cancellationToken).ConfigureAwait(false));

        ExportPublicKey(chain.AccountId, chain.Region);
        var path = PathOf(objectKey);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        WriteAtomically(path + DigestFile.SignatureSuffix, System.Text.Encoding.ASCII.GetBytes(signature + "\n"));
        WriteAtomically(path, DigestFile.Gzip(json));

        chain.Last = new DigestChainEnd(Bucket, objectKey, Convert.ToHexStringLower(sha256), signature, end);
        LogDigestWritten(objectKey, chain.Pending.Count);
        chain.Pending.Clear();
    }

    private void ExportPublicKey(string accountId, string region)
    {
        var path = PathOf(DigestFile.PublicKeyObject(accountId, region, _fingerprint));
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            WriteAtomically(path, System.Text.Encoding.ASCII.GetBytes(_publicKey!.ExportSubjectPublicKeyInfoPem() + "\n"));
        }
    }

    private async ValueTask<DigestState> EnsureLoadedAsync(CancellationToken cancellationToken)
    {
        if (_state is { } loaded)
        {
            return loaded;
        }

        paths.Create();
        _startedAt = clock.GetUtcNow();
        var spki = await signer.GetPublicKeyAsync(cancellationToken).ConfigureAwait(false);
        var key = RSA.Create();
        key.ImportSubjectPublicKeyInfo(spki, out _);
        _publicKey = key;
        _fingerprint = DigestFile.Fingerprint(key);
        var state = DigestState.Load(paths.Root);
        if (AdoptUnrecordedLogFiles(state))
        {
            state.Save(paths.Root);
        }

        _state = state;
        LogSigningKey(_fingerprint);
        return state;
    }

    /// <summary>
    /// Log files delivered but never recorded here (a crash between a file's delivery and its recording, or a trail
    /// written before digests existed) go into the next digest: those of every account and region without a chain, and
    /// those named for the minute of a chain's last digest or later that neither the state nor a digest of that minute on
    /// lists. Returns whether any was found.
    /// </summary>
    private bool AdoptUnrecordedLogFiles(DigestState state)
    {
        var logsRoot = Path.Combine(paths.Root, "AWSLogs");
        if (!Directory.Exists(logsRoot))
        {
            return false;
        }

        var adopted = false;
        foreach (var regionFolder in Directory.GetDirectories(logsRoot).SelectMany(account => Subfolders(Path.Combine(account, "CloudTrail"))))
        {
            var accountId = Path.GetFileName(Path.GetDirectoryName(Path.GetDirectoryName(regionFolder))!)!;
            var region = Path.GetFileName(regionFolder);
            var chain = state.Find(accountId, region);
            var since = chain?.Last is { } last ? Minute(last.EndTime) : (DateTimeOffset?)null;
            var known = new HashSet<string>(chain?.Pending.Select(p => p.ObjectKey) ?? [], StringComparer.Ordinal);
            if (since is { } from)
            {
                known.UnionWith(LogFilesListedInDigestsSince(accountId, region, from));
            }

            var unrecorded = Directory.EnumerateFiles(regionFolder, "*.json.gz", SearchOption.AllDirectories)
                .Select(ObjectKeyOf)
                .Where(key => DigestFile.LogFileTime(key) is { } delivered && (since is null || delivered >= since) && !known.Contains(key))
                .Order(StringComparer.Ordinal)
                .ToList();
            foreach (var key in unrecorded)
            {
                if (Describe(key) is not { } file)
                {
                    LogUnreadable(key);
                    continue;
                }

                if (chain is null)
                {
                    chain = new DigestChain { AccountId = accountId, Region = region, StartedAt = WholeSeconds(_startedAt) };
                    state.Chains.Add(chain);
                }

                chain.Pending.Add(file);
                if (file.OldestEventTime < chain.StartedAt && chain.Last is null)
                {
                    chain.StartedAt = WholeSeconds(file.OldestEventTime);
                }

                LogAdopted(key);
                adopted = true;
            }
        }

        return adopted;
    }

    private IEnumerable<string> LogFilesListedInDigestsSince(string accountId, string region, DateTimeOffset since)
    {
        var folder = PathOf(DigestFile.DigestFolder(accountId, region));
        if (!Directory.Exists(folder))
        {
            yield break;
        }

        foreach (var digest in Directory.EnumerateFiles(folder, "*.json.gz", SearchOption.AllDirectories).Select(ObjectKeyOf))
        {
            if (DigestFile.TimeInName(digest) is not { } end || end < since)
            {
                continue;
            }

            List<string> listed;
            try
            {
                using var file = File.OpenRead(PathOf(digest));
                using var json = JsonDocument.Parse(DigestFile.Gunzip(file));
                listed = [.. json.RootElement.GetProperty("logFiles").EnumerateArray().Select(f => f.GetProperty("s3Object").GetString() ?? "")];
            }
            catch (Exception e) when (e is IOException or InvalidDataException or JsonException or KeyNotFoundException or InvalidOperationException)
            {
                continue; // Not ours to judge here: audit verify reports it.
            }

            foreach (var key in listed)
            {
                yield return key;
            }
        }
    }

    /// <summary>
    /// A log file as a digest lists it, from its content: the hash and the span of its records' event times (for a file
    /// stored encrypted, which cannot be read here, its delivery time). Null for a plain file that is not gzip.
    /// </summary>
    private DigestLogFile? Describe(string objectKey)
    {
        var stored = File.ReadAllBytes(PathOf(objectKey));
        var encrypted = TrailEncryption.IsEnvelope(stored);
        byte[] content;
        try
        {
            using var compressed = new MemoryStream(stored, writable: false);
            content = encrypted ? stored : DigestFile.Gunzip(compressed);
        }
        catch (InvalidDataException)
        {
            return null;
        }

        DateTimeOffset? oldest = null, newest = null;
        if (!encrypted)
        {
            try
            {
                using var json = JsonDocument.Parse(content);
                foreach (var record in json.RootElement.GetProperty("Records").EnumerateArray())
                {
                    if (record.TryGetProperty("eventTime", out var time) && time.TryGetDateTimeOffset(out var value))
                    {
                        oldest = oldest is null || value < oldest ? value : oldest;
                        newest = newest is null || value > newest ? value : newest;
                    }
                }
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                // Listed by its hash all the same; its times fall back to its delivery time.
            }
        }

        var delivered = DigestFile.LogFileTime(objectKey) ?? clock.GetUtcNow();
        return new DigestLogFile(objectKey, Convert.ToHexStringLower(SHA256.HashData(content)), oldest ?? delivered, newest ?? delivered);
    }

    private string ObjectKeyOf(string path) => Path.GetRelativePath(paths.Root, path).Replace(Path.DirectorySeparatorChar, '/');

    private static IEnumerable<string> Subfolders(string folder) => Directory.Exists(folder) ? Directory.GetDirectories(folder) : [];

    private static DateTimeOffset Minute(DateTimeOffset time) =>
        new(time.UtcTicks - (time.UtcTicks % TimeSpan.TicksPerMinute), TimeSpan.Zero);

    private string PathOf(string objectKey) => Path.Combine(paths.Root, objectKey.Replace('/', Path.DirectorySeparatorChar));

    private static void WriteAtomically(string path, byte[] content)
    {
        var temporary = path + ".tmp";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            file.Write(content);
            file.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }

    private static DateTimeOffset WholeSeconds(DateTimeOffset time) =>
        new(time.UtcTicks - (time.UtcTicks % TimeSpan.TicksPerSecond), TimeSpan.Zero);

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    [LoggerMessage(EventId = 30, Level = LogLevel.Information, Message = "Audit: digest files are signed with the HSM key of fingerprint {Fingerprint}")]
    private partial void LogSigningKey(string fingerprint);

    [LoggerMessage(EventId = 31, Level = LogLevel.Debug, Message = "Audit: wrote digest {Digest} listing {Count} log files")]
    private partial void LogDigestWritten(string digest, int count);

    [LoggerMessage(EventId = 33, Level = LogLevel.Warning, Message = "Audit: log file {Path} was delivered but never recorded for a digest (an unclean stop, or a trail older than digests); the next digest lists it")]
    private partial void LogAdopted(string path);

    [LoggerMessage(EventId = 34, Level = LogLevel.Warning, Message = "Audit: log file {Path} is not gzip and is left out of digests; audit verify reports it")]
    private partial void LogUnreadable(string path);

    [LoggerMessage(EventId = 32, Level = LogLevel.Error, Message = "Audit: writing digest files failed; the log files stay pending for the next digest")]
    private partial void LogDigestFailed(Exception exception);
}
