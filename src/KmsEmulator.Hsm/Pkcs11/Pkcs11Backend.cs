using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace KmsEmulator.Hsm.Pkcs11;

/// <summary>
/// Key material in a PKCS#11 token (SoftHSM2 by default). Keys are token objects named by label (a key pair is two
/// objects, private and public, sharing the label). Their handles are cached by label and object class: every key
/// object is read once, by the start-up index (<see cref="IndexAsync"/>) or when it is made, and checked against what
/// was asked for before it is used. Operations run on a pool of sessions, each used by one caller at a time, while an
/// anchor session keeps the token logged in for the backend's lifetime.
/// </summary>
public sealed partial class Pkcs11Backend : IKeyMaterialBackend, IHsmStatus, IDisposable
{
    private const int GcmIvBytes = 12;
    private const ulong GcmIvBits = GcmIvBytes * 8;
    private const ulong GcmTagBits = 128;
    private const int KeyGenerationAttempts = 3;
    private const int MaxTokenLabelBytes = 32;

    /// <summary>
    /// The long-lived session that holds the login and owns the session copies of keys; replaced under
    /// <see cref="_anchorLock"/> when it is found lost (<see cref="RestoreAnchor"/>).
    /// </summary>
    private ISession _anchor;
    private readonly Lock _anchorLock = new();
    private readonly Func<ISession> _openAnchor;
    private readonly SessionPool _sessions;
    private readonly Action<string> _log;
    private bool _sessionCopies;
    private static readonly CKO[] KeyObjectClasses = [CKO.CKO_SECRET_KEY, CKO.CKO_PRIVATE_KEY, CKO.CKO_PUBLIC_KEY];

    private readonly ConcurrentDictionary<(string Label, CKO Class), KeyObject> _keys = new();

    /// <summary>
    /// Handles of the token objects outside the indexed label prefix that the start-up index passed over (the audit
    /// trail's digest signing key, say): their first lookup reads and checks the object behind the handle instead of
    /// searching the whole token, which SoftHSM2 does object by object.
    /// </summary>
    private readonly ConcurrentDictionary<(string Label, CKO Class), IObjectHandle> _seenAtIndex = new();

    /// <summary>Keys whose objects were found to differ from what was made, with the differences; never used.</summary>
    private readonly ConcurrentDictionary<string, IReadOnlyList<string>> _defects = new(StringComparer.Ordinal);

    /// <summary>Keeps searches apart from the creation of token objects (see <see cref="TokenObjectGate"/>).</summary>
    private readonly TokenObjectGate _tokenObjects = new();

    /// <summary>
    /// Any token object handle this backend holds, for <see cref="CatchUpWithToken"/>: asking SoftHSM2 about a token
    /// object makes it take in what other processes changed on the token.
    /// </summary>
    private IObjectHandle? _tokenProbe;

    /// <summary>The token's objects as <see cref="ReadTokenAheadAsync"/> read them, until the first index takes them.</summary>
    private List<(IObjectHandle Handle, ObjectSnapshot Snapshot)>? _readAhead;

    private int _disposed;

    private readonly BulkAttributeReader? _bulkReader;

    /// <summary>The clock for the creation time of new objects and for when session copies are checked again.</summary>
    private readonly TimeProvider _time;

    /// <summary>
    /// How long a session copy is used before its token object is checked again (<see cref="HsmOptions.SessionCopyCheckInterval"/>);
    /// null: never.
    /// </summary>
    private readonly TimeSpan? _copyCheckInterval;

    private Pkcs11Backend(ISession anchor, Func<ISession> openAnchor, SessionPool sessions, bool sessionCopies, BulkAttributeReader? bulkReader,
        Action<string> log, TimeProvider time, TimeSpan? copyCheckInterval)
    {
        _time = time;
        _copyCheckInterval = copyCheckInterval;
        _bulkReader = bulkReader;
        _anchor = anchor;
        _openAnchor = openAnchor;
        _sessions = sessions;
        _sessionCopies = sessionCopies;
        _log = log;
    }

    /// <inheritdoc />
    public bool IsReady => Volatile.Read(ref _disposed) == 0;

    /// <summary>
    /// Loads the module (once per process), finds or creates the token, logs in and opens the session pool.
    /// </summary>
    /// <param name="options">Module, token, PINs and pool size.</param>
    /// <param name="log">Receives a line for notable events (module loaded, token created, retries); never secrets.</param>
    /// <param name="time">
    /// The clock for the creation time written into new token objects' CKA_ID (<see cref="AttributeTemplates.Dated"/>) and for
    /// <see cref="HsmOptions.SessionCopyCheckInterval"/>; the system clock unless a test gives another.
    /// </param>
    /// <exception cref="HsmException">With <see cref="HsmErrorKind.Unavailable"/> when any step fails.</exception>
    public static Pkcs11Backend Open(HsmOptions options, Action<string>? log = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        log ??= _ => { };
        if (options.SessionCopyCheckInterval is { } interval && interval < TimeSpan.Zero)
        {
            throw new HsmException(HsmErrorKind.Unavailable, "Kms:Hsm:SessionCopyCheckInterval must not be negative.");
        }

        var label = options.TokenLabel.Trim();
        if (label.Length == 0 || Encoding.UTF8.GetByteCount(label) > MaxTokenLabelBytes)
        {
            throw new HsmException(HsmErrorKind.Unavailable, $"Kms:Hsm:TokenLabel must be 1 to {MaxTokenLabelBytes} bytes long.");
        }

        if (!string.IsNullOrWhiteSpace(options.TokenDirectory) && SoftHsmConfigFile.IsInherited)
        {
            log($"{SoftHsmConfigFile.EnvironmentVariable} is set, so Kms:Hsm:TokenDirectory is not used.");
        }

        var module = Pkcs11ModuleRegistry.Acquire(
            ModuleLocator.Resolve(options.ModulePath), SoftHsmConfigFile.For(options.TokenDirectory), log);

        ISession? anchor = null;
        try
        {
            var slot = TokenProvisioner.FindOrInitialize(module, options, log);
            var userPin = options.UserPin;
            anchor = OpenUserSession(slot, userPin);
            var poolSize = options.SessionPoolSize > 0 ? options.SessionPoolSize : Math.Max(4, 2 * Environment.ProcessorCount);
            var sessions = new SessionPool(poolSize, () => OpenUserSession(slot, userPin));
            return new Pkcs11Backend(anchor, () => OpenUserSession(slot, userPin), sessions, options.SessionKeyCopies, module.BulkReader, log,
                time ?? TimeProvider.System, options.SessionCopyCheckInterval);
        }
        catch (Pkcs11Exception e)
        {
            anchor?.Dispose();
            throw new HsmException(HsmErrorKind.Unavailable,
                $"Could not open the token '{label}' in '{module.Path}' ({e.RV}). " +
                "Check Kms:Hsm:UserPin and, for a new token, Kms:Hsm:SoPin.",
                e.RV.ToString(), e);
        }
    }

    /// <inheritdoc />
    public async ValueTask CreateAesKeyAsync(string label, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(label);
        await CreateKeyAsync(HsmKeyDescription.Aes(label), "an AES key", cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Defects => _defects;

    /// <inheritdoc />
    public ValueTask<HsmInventory> IndexAsync(string labelPrefix, IReadOnlyCollection<HsmKeyDescription> expected,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(labelPrefix);
        ArgumentNullException.ThrowIfNull(expected);
        var wanted = new Dictionary<string, HsmKeyDescription>(expected.Count, StringComparer.Ordinal);
        foreach (var key in expected)
        {
            wanted[key.Label] = key;
        }

        return RunAsync("index the token", session =>
        {
            // One entry per expected object found; the rare label with a second object of a class, or an object of a
            // class its key does not have, is noted apart.
            var found = new Dictionary<(string Label, CKO Class), ObjectSnapshot>(expected.Count);
            var surplus = new Dictionary<string, List<string>>(StringComparer.Ordinal);
            var unexpected = new SortedSet<string>(StringComparer.Ordinal);
            var unexpectedTimes = new Dictionary<string, DateTimeOffset?>(StringComparer.Ordinal);
            var objects = 0;
            foreach (var (handle, snapshot) in Interlocked.Exchange(ref _readAhead, null) ?? ReadTokenObjects(session))
            {
                _tokenProbe ??= handle;
                if (snapshot.Label is not { } label)
                {
                    continue;
                }

                var objectClass = snapshot.Class ?? CKO.CKO_VENDOR_DEFINED;
                if (!label.StartsWith(labelPrefix, StringComparison.Ordinal))
                {
                    if (KeyObjectClasses.Contains(objectClass))
                    {
                        _seenAtIndex[(label, objectClass)] = handle;
                    }

                    continue;
                }

                objects++;
                if (!wanted.TryGetValue(label, out var key))
                {
                    unexpected.Add(label);
                    var made = AttributeTemplates.CreatedAt(snapshot);
                    unexpectedTimes[label] = unexpectedTimes.TryGetValue(label, out var other)
                        ? (other is { } o && made is { } m ? (o > m ? o : m) : null)
                        : made;
                    continue;
                }

                if (!AttributeTemplates.ClassesOf(key.Spec).Contains(objectClass))
                {
                    Surplus(label).Add($"an object of class {objectClass} carries the label");
                }
                else if (!found.TryAdd((label, objectClass), snapshot))
                {
                    Surplus(label).Add($"more than one {objectClass} object carries the label");
                }
            }

            var missing = new List<string>();
            var defective = new List<HsmDefect>();
            var shapes = new Dictionary<(HsmKeySpec, HsmKeyUsage, bool, CKO), ObjectShape>();
            foreach (var key in wanted.Values)
            {
                var classes = AttributeTemplates.ClassesOf(key.Spec);
                List<string>? differences = surplus.GetValueOrDefault(key.Label);
                var absent = false;
                foreach (var objectClass in classes)
                {
                    if (!found.TryGetValue((key.Label, objectClass), out var snapshot))
                    {
                        absent = true;
                        continue;
                    }

                    if (!shapes.TryGetValue((key.Spec, key.Usage, key.Imported, objectClass), out var shape))
                    {
                        shapes[(key.Spec, key.Usage, key.Imported, objectClass)] = shape = ObjectShape.Of(key, objectClass);
                    }

                    // The usual case costs a comparison of bytes; only an object that differs builds the full report.
                    if (!shape.Fits(snapshot, key.Label))
                    {
                        (differences ??= []).AddRange(snapshot.Differences(AttributeTemplates.Expected(key, objectClass)).Select(d => $"{objectClass}: {d}"));
                    }
                }

                if (differences is { Count: > 0 })
                {
                    defective.Add(new HsmDefect(key.Label, differences));
                }
                else if (absent)
                {
                    missing.Add(key.Label);
                }
                else
                {
                    foreach (var objectClass in classes)
                    {
                        var token = KeyObject.From(found[(key.Label, objectClass)]) with { CopyPending = Volatile.Read(ref _sessionCopies) };
                        _keys.TryAdd((key.Label, objectClass), token);
                    }
                }
            }

            foreach (var defect in defective)
            {
                MarkDefective(defect.Label, defect.Differences);
            }

            missing.Sort(StringComparer.Ordinal);
            return new HsmInventory(objects, [.. unexpected], missing, defective)
            {
                CreatedAt = unexpectedTimes.Where(t => t.Value is not null).ToDictionary(t => t.Key, t => t.Value!.Value, StringComparer.Ordinal),
            };

            List<string> Surplus(string label) =>
                surplus.TryGetValue(label, out var list) ? list : surplus[label] = [];
        }, cancellationToken);
    }

    /// <summary>
    /// Reads every token object's attributes now, for the first <see cref="IndexAsync"/> to
    /// use instead of reading the token itself. Start-up calls it right after <see cref="Open"/>, so that the pass over
    /// the token (about 60 µs an object with SoftHSM2, which checks each object's file) runs while the host is built.
    /// Objects made or destroyed between the two calls are found as they would be after an index: a made one by
    /// its lookup, a destroyed one by its stale handle.
    /// </summary>
    public async Task ReadTokenAheadAsync(CancellationToken cancellationToken = default) =>
        Volatile.Write(ref _readAhead, await RunAsync("read the token", ReadTokenObjects, cancellationToken).ConfigureAwait(false));

    /// <summary>Every token object with the attributes the index checks; objects destroyed while being read are left out.</summary>
    private List<(IObjectHandle Handle, ObjectSnapshot Snapshot)> ReadTokenObjects(ISession session)
    {
        using var all = Pkcs11Template.From(session, AttributeTemplates.TokenObjects());
        var handles = FindAll(session, all);
        var objects = new List<(IObjectHandle, ObjectSnapshot)>(handles.Count);
        foreach (var handle in handles)
        {
            try
            {
                objects.Add((handle, _bulkReader?.TryRead(session, handle, ObjectSnapshot.KeyAttributes)
                    ?? ObjectSnapshot.Read(session, handle, ObjectSnapshot.KeyAttributes)));
            }
            catch (Pkcs11Exception e) when (CkrMapper.IsStaleHandle(e.RV) || e.RV == CKR.CKR_GENERAL_ERROR)
            {
                // Destroyed meanwhile (SoftHSM2 reports a vanished token object as CKR_GENERAL_ERROR).
            }
        }

        return objects;
    }

    /// <inheritdoc />
    public async ValueTask<byte[]> EncryptAesGcmAsync(string label, ReadOnlyMemory<byte> iv, ReadOnlyMemory<byte> aad,
        ReadOnlyMemory<byte> plaintext, CancellationToken cancellationToken = default)
    {
        RequireGcmIv(iv);
        var ivBytes = iv.ToArray();
        var aadBytes = aad.ToArray();
        var input = plaintext.ToArray();
        try
        {
            return await WithKeyAsync(label, CKO.CKO_SECRET_KEY, "encrypt", (session, key) =>
            {
                using var parameters = session.Factories.MechanismParamsFactory.CreateCkGcmParams(ivBytes, GcmIvBits, aadBytes, GcmTagBits);
                using var mechanism = session.Factories.MechanismFactory.Create(CKM.CKM_AES_GCM, parameters);
                return session.Encrypt(mechanism, key.Handle, input);
            }, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(input);
        }
    }

    /// <inheritdoc />
    public ValueTask<byte[]> DecryptAesGcmAsync(string label, ReadOnlyMemory<byte> iv, ReadOnlyMemory<byte> aad,
        ReadOnlyMemory<byte> ciphertextAndTag, CancellationToken cancellationToken = default)
    {
        RequireGcmIv(iv);
        var ivBytes = iv.ToArray();
        var aadBytes = aad.ToArray();
        var input = ciphertextAndTag.ToArray();
        return WithKeyAsync(label, CKO.CKO_SECRET_KEY, "decrypt", (session, key) =>
        {
            using var parameters = session.Factories.MechanismParamsFactory.CreateCkGcmParams(ivBytes, GcmIvBits, aadBytes, GcmTagBits);
            using var mechanism = session.Factories.MechanismFactory.Create(CKM.CKM_AES_GCM, parameters);
            try
            {
                return session.Decrypt(mechanism, key.Handle, input);
            }
            catch (Pkcs11Exception e) when (CkrMapper.IsAuthenticationFailure(e.RV))
            {
                throw new HsmException(HsmErrorKind.AuthenticationFailed,
                    "AES-GCM authentication failed: wrong key, IV, AAD or tag, or altered ciphertext.", e.RV.ToString(), e);
            }
        }, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<byte[]> GenerateRandomAsync(int count, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return count == 0
            ? ValueTask.FromResult(Array.Empty<byte>())
            : RunAsync("generate random bytes", session => session.GenerateRandom(count), cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask DestroyAsync(string label, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(label);
        foreach (var objectClass in KeyObjectClasses)
        {
            if (_keys.TryRemove((label, objectClass), out var cached))
            {
                DestroySessionCopy(cached);
            }

            _seenAtIndex.TryRemove((label, objectClass), out _);
        }

        await RunAsync("destroy a key", session =>
        {
            // The token objects and every session copy of them in this process, other backends' copies included. A
            // second pass catches a copy made from the token object while the first pass ran; once the token
            // objects are gone no copy can be made.
            for (var pass = 0; pass < 2; pass++)
            {
                using var template = Pkcs11Template.From(session, AttributeTemplates.ObjectsLabelled(label));
                foreach (var handle in FindAll(session, template))
                {
                    TryDestroy(session, handle);
                }
            }

            return true;
        }, cancellationToken).ConfigureAwait(false);
        _defects.TryRemove(label, out _);
    }

    /// <inheritdoc />
    public async ValueTask<int> DestroyManyAsync(IReadOnlySet<string> labels, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (labels.Count == 0)
        {
            return 0;
        }

        foreach (var entry in _keys.Where(k => labels.Contains(k.Key.Label)).ToList())
        {
            if (_keys.TryRemove(entry))
            {
                DestroySessionCopy(entry.Value);
            }
        }

        var destroyed = await RunAsync("destroy keys", session =>
        {
            // Token objects by label, read in the one pass; then the session copies of them that this process made (a
            // copy made from a token object meanwhile is found by the second search, as in DestroyAsync).
            var count = 0;
            using (var all = Pkcs11Template.From(session, AttributeTemplates.TokenObjects()))
            {
                foreach (var handle in FindAll(session, all))
                {
                    if (ReadLabel(session, handle) is { } label && labels.Contains(label) && TryDestroy(session, handle))
                    {
                        count++;
                    }
                }
            }

            using (var copies = Pkcs11Template.From(session, AttributeTemplates.SessionObjects()))
            {
                foreach (var handle in FindAll(session, copies))
                {
                    if (ReadLabel(session, handle) is { } label && labels.Contains(label))
                    {
                        TryDestroy(session, handle);
                    }
                }
            }

            return count;
        }, cancellationToken).ConfigureAwait(false);

        foreach (var label in labels)
        {
            _defects.TryRemove(label, out _);
            foreach (var objectClass in KeyObjectClasses)
            {
                _seenAtIndex.TryRemove((label, objectClass), out _);
            }
        }

        return destroyed;

        static string? ReadLabel(ISession session, IObjectHandle handle)
        {
            try
            {
                return ObjectSnapshot.Read(session, handle, [CKA.CKA_LABEL]).Label;
            }
            catch (Pkcs11Exception e) when (CkrMapper.IsStaleHandle(e.RV) || e.RV == CKR.CKR_GENERAL_ERROR)
            {
                return null; // Destroyed meanwhile.
            }
        }

    }

    /// <summary>Destroys an object; false when it was destroyed meanwhile (e.g. a copy its backend dropped after losing a race to cache it).</summary>
    private static bool TryDestroy(ISession session, IObjectHandle handle)
    {
        try
        {
            session.DestroyObject(handle);
            return true;
        }
        catch (Pkcs11Exception e) when (CkrMapper.IsStaleHandle(e.RV))
        {
            return false;
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> ExistsAsync(string label, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(label);
        if (_copyCheckInterval is null && KeyObjectClasses.Any(c => _keys.ContainsKey((label, c))))
        {
            return ValueTask.FromResult(true);
        }

        return RunAsync("look up a key", session =>
        {
            foreach (var objectClass in KeyObjectClasses)
            {
                // With a shared token, what the cache holds may have been destroyed by another process: ask the token.
                if (_keys.TryGetValue((label, objectClass), out var cached)
                    && TokenObjectExists(session, cached.TokenHandle is null ? cached with { TokenHandle = cached.Handle } : cached))
                {
                    return true;
                }

                if (_seenAtIndex.TryGetValue((label, objectClass), out var seen) && ReadSeen(session, seen, label, objectClass) is not null)
                {
                    return true;
                }
            }

            using var template = Pkcs11Template.From(session, AttributeTemplates.TokenObjectsLabelled(label));
            return FindFirst(session, template) is not null;
        }, cancellationToken);
    }

    /// <inheritdoc />
    public HsmPoolUsage PoolUsage => new(_sessions.Size, _sessions.InUse, _sessions.Waiting);

    /// <inheritdoc />
    /// <remarks>
    /// C_GetSessionInfo on the anchor session, which holds the login and the session copies of keys: it fails when the
    /// session was closed (C_CloseAllSessions, a module or token reset) and shows a public state when the token was
    /// logged out. Either way the probe first tries to restore it (a new session, logged in again) and reports a
    /// failure only when that fails too, so the HSM comes back on its own once it answers again. Pooled sessions are
    /// not asked: a busy pool would make the probe wait, and a lost pooled session is replaced on its next use anyway.
    /// </remarks>
    public ValueTask<string?> ProbeAsync(CancellationToken cancellationToken = default)
    {
        if (!IsReady)
        {
            return ValueTask.FromResult<string?>("The HSM backend is closed.");
        }

        try
        {
            lock (_anchorLock)
            {
                var problem = AnchorProblem();
                if (problem is not null && RestoreAnchor(problem) is { } failure)
                {
                    return ValueTask.FromResult<string?>(failure);
                }
            }

            return ValueTask.FromResult<string?>(null);
        }
        catch (ObjectDisposedException)
        {
            return ValueTask.FromResult<string?>("The HSM backend is closed.");
        }
    }

    /// <summary>What is wrong with the anchor session, or null when it is there and logged in (under the anchor lock).</summary>
    private string? AnchorProblem()
    {
        try
        {
            var state = _anchor.GetSessionInfo().State;
            return state is CKS.CKS_RW_USER_FUNCTIONS or CKS.CKS_RO_USER_FUNCTIONS ? null : $"The HSM session is not logged in ({state}).";
        }
        catch (Pkcs11Exception e)
        {
            return $"The HSM session does not answer ({e.RV}).";
        }
    }

    /// <summary>
    /// Replaces a lost or logged-out anchor session with a new logged-in one (under the anchor lock). The session copies
    /// the old one owned are gone with it; each key's next use finds its cached handle stale and copies the token
    /// object again. Returns null on success, else <paramref name="problem"/> with why the new session failed.
    /// </summary>
    private string? RestoreAnchor(string problem)
    {
        ISession replacement;
        try
        {
            replacement = _openAnchor();
        }
        catch (Pkcs11Exception e)
        {
            return $"{problem} Opening a new session failed ({e.RV}).";
        }

        var old = _anchor;
        _anchor = replacement;
        try
        {
            old.Dispose();
        }
        catch (Pkcs11Exception)
        {
            // The old session is already gone; nothing to release.
        }

        _log($"{problem} A new HSM session replaced it.");
        return null;
    }

    /// <summary>
    /// Closes the pooled sessions and the anchor session, which takes the session copies of keys with it. The module
    /// stays loaded for other backends.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _sessions.Dispose();
        _copyGate.Dispose();
        try
        {
            lock (_anchorLock)
            {
                _anchor.Dispose();
            }
        }
        catch (Pkcs11Exception e)
        {
            _log($"Closing the anchor session failed ({e.RV}).");
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> on a pooled session and turns PKCS#11 failures into <see cref="HsmException"/>.
    /// Internal so that tests can inspect objects through the same sessions.
    /// </summary>
    internal async ValueTask<T> RunAsync<T>(string operation, Func<ISession, T> work, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(!IsReady, this);
        try
        {
            return await _sessions.RunAsync(work, cancellationToken).ConfigureAwait(false);
        }
        catch (Pkcs11Exception e)
        {
            throw CkrMapper.ToHsmException(e, operation);
        }
    }

    private static ISession OpenUserSession(ISlot slot, string userPin)
    {
        var session = slot.OpenSession(SessionType.ReadWrite);
        try
        {
            session.Login(CKU.CKU_USER, userPin);
        }
        catch (Pkcs11Exception e) when (e.RV == CKR.CKR_USER_ALREADY_LOGGED_IN)
        {
            // Login state is per token and process: another session already logged in.
        }
        catch
        {
            session.Dispose();
            throw;
        }

        return session;
    }

    /// <summary>The first object that matches, searched under <see cref="_tokenObjects"/>.</summary>
    private IObjectHandle? FindFirst(ISession session, Pkcs11Template template) => _tokenObjects.Searching(() =>
    {
        session.FindObjectsInit(template.Attributes);
        try
        {
            return session.FindObjects(1).FirstOrDefault();
        }
        finally
        {
            session.FindObjectsFinal();
        }
    });

    /// <summary>Every object that matches, searched under <see cref="_tokenObjects"/>.</summary>
    private List<IObjectHandle> FindAll(ISession session, Pkcs11Template template) =>
        _tokenObjects.Searching(() => session.FindAllObjects(template.Attributes));

    private static void RequireGcmIv(ReadOnlyMemory<byte> iv)
    {
        if (iv.Length != GcmIvBytes)
        {
            throw new HsmException(HsmErrorKind.InvalidInput, $"The AES-GCM IV must be {GcmIvBytes} bytes, not {iv.Length}.");
        }
    }

    /// <summary>
    /// Generates a key's objects, reads every one of them back and compares it with what was asked for; an object that
    /// differs is destroyed with its partner and the creation fails, so that a key is never committed on a wrong object.
    /// Returns the public key as SubjectPublicKeyInfo for key pairs, else null.
    /// </summary>
    private async ValueTask<byte[]?> CreateKeyAsync(HsmKeyDescription key, string what, CancellationToken cancellationToken)
    {
        _defects.TryRemove(key.Label, out _);
        var (objects, spki) = await RunAsync($"generate {what}", session =>
        {
            List<(CKO Class, IObjectHandle Handle)> handles;
            try
            {
                handles = GenerateWithRetry(what, () => Generate(session, key));
            }
            catch (Pkcs11Exception)
            {
                // A module may fail after writing part of a key (a full disk): leave nothing behind under the label.
                DestroyLabelledQuietly(session, key.Label);
                throw;
            }

            try
            {
                var objects = new List<(CKO Class, KeyObject Key)>(handles.Count);
                var differences = new List<string>();
                foreach (var (objectClass, handle) in handles)
                {
                    var snapshot = ObjectSnapshot.Read(session, handle, ObjectSnapshot.KeyAttributes);
                    differences.AddRange(snapshot.Differences(AttributeTemplates.Expected(key, objectClass)).Select(d => $"{objectClass}: {d}"));
                    objects.Add((objectClass, KeyObject.From(snapshot)));
                }

                if (differences.Count > 0)
                {
                    throw new HsmException(HsmErrorKind.Internal,
                        $"The HSM made {what} labelled '{key.Label}' that is not what was asked ({string.Join("; ", differences)}); it was destroyed.");
                }

                var publicKey = objects.Where(o => o.Class == CKO.CKO_PUBLIC_KEY).Select(o => ReadSubjectPublicKeyInfo(session, o.Key)).FirstOrDefault();
                return (objects, publicKey);
            }
            catch
            {
                foreach (var (_, handle) in handles)
                {
                    DestroyQuietly(session, handle);
                }

                throw;
            }
        }, cancellationToken).ConfigureAwait(false);

        foreach (var (objectClass, keyObject) in objects)
        {
            Remember(key.Label, objectClass, keyObject);
        }

        return spki;
    }

    private void DestroyLabelledQuietly(ISession session, string label)
    {
        try
        {
            using var template = Pkcs11Template.From(session, AttributeTemplates.TokenObjectsLabelled(label));
            foreach (var handle in FindAll(session, template))
            {
                DestroyQuietly(session, handle);
            }
        }
        catch (Pkcs11Exception e)
        {
            _log($"Cleaning up after a failed key generation failed ({e.RV}).");
        }
    }

    /// <summary>
    /// Generates the objects of a key with their creation templates, kept alive until the call returns; token objects
    /// are made under <see cref="_tokenObjects"/>.
    /// </summary>
    private List<(CKO Class, IObjectHandle Handle)> Generate(ISession session, HsmKeyDescription key)
    {
        CatchUpWithToken(session);
        var madeAt = _time.GetUtcNow();
        return _tokenObjects.Creating(() => GenerateObjects(session, key, madeAt));
    }

    /// <summary>
    /// Makes SoftHSM2 take in what other processes changed on the token, right before this process adds an object.
    /// </summary>
    /// <remarks>
    /// SoftHSM2 2.6.1 re-reads a token's directory when the token's generation counter on disk differs from the one it
    /// last saw, but its own creation of an object (and its own destruction) sets the counter it saw to the one on disk.
    /// Objects another process made since this process last looked are then never noticed, until a third change: a key
    /// another emulator node made would stay unknown here ("no key labelled"). Any question about a token object takes
    /// in the other processes' changes first, so one is asked here (C_GetObjectSize on a handle this backend holds, or
    /// with none a search that matches nothing), as a search: under <see cref="_tokenObjects"/>, since it may re-read
    /// the directory. Generation is the only creation not preceded by a search already (imports and copies look for
    /// an existing object first, destroys search for theirs). A key pair's own generation takes long (an RSA key,
    /// seconds) before SoftHSM2 creates its objects; a change by another process in that time is still missed.
    /// </remarks>
    private void CatchUpWithToken(ISession session)
    {
        if (Volatile.Read(ref _tokenProbe) is { } probe)
        {
            try
            {
                _tokenObjects.Searching(() => session.GetObjectSize(probe));
                return;
            }
            catch (Pkcs11Exception e) when (CkrMapper.IsStaleHandle(e.RV) || e.RV == CKR.CKR_GENERAL_ERROR)
            {
                // Destroyed by this process (its handle is gone, so nothing was asked) or by another: ask by a search.
                Interlocked.CompareExchange(ref _tokenProbe, null, probe);
            }
        }

        using var nothing = Pkcs11Template.From(session, AttributeTemplates.NoObject());
        FindFirst(session, nothing);
    }

    /// <summary>A creation template of a new token object, its id dated now (<see cref="AttributeTemplates.Dated"/>).</summary>
    private Pkcs11Attribute[] ForNewObject(Pkcs11Attribute[] template) => AttributeTemplates.Dated(template, _time.GetUtcNow());

    private static List<(CKO Class, IObjectHandle Handle)> GenerateObjects(ISession session, HsmKeyDescription key, DateTimeOffset madeAt)
    {
        if (AttributeTemplates.ClassesOf(key.Spec) is [CKO.CKO_SECRET_KEY])
        {
            using var template = Pkcs11Template.From(session, AttributeTemplates.Dated(AttributeTemplates.ForNewKey(key, CKO.CKO_SECRET_KEY), madeAt));
            using var mechanism = session.Factories.MechanismFactory.Create(
                key.Spec == HsmKeySpec.Aes256 ? CKM.CKM_AES_KEY_GEN : CKM.CKM_GENERIC_SECRET_KEY_GEN);
            return [(CKO.CKO_SECRET_KEY, session.GenerateKey(mechanism, template.Attributes))];
        }

        using var publicTemplate = Pkcs11Template.From(session, AttributeTemplates.Dated(AttributeTemplates.ForNewKey(key, CKO.CKO_PUBLIC_KEY), madeAt));
        using var privateTemplate = Pkcs11Template.From(session, AttributeTemplates.Dated(AttributeTemplates.ForNewKey(key, CKO.CKO_PRIVATE_KEY), madeAt));
        var (publicHandle, privateHandle) = GenerateKeyPair(session, key.Spec, publicTemplate, privateTemplate);
        return [(CKO.CKO_PRIVATE_KEY, privateHandle), (CKO.CKO_PUBLIC_KEY, publicHandle)];
    }

    /// <summary>Runs a key generation, trying again when SoftHSM2 fails it spuriously with CKR_GENERAL_ERROR.</summary>
    private T GenerateWithRetry<T>(string what, Func<T> generate)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return generate();
            }
            catch (Pkcs11Exception e) when (e.RV == CKR.CKR_GENERAL_ERROR && attempt < KeyGenerationAttempts)
            {
                // The known cause of such failures, a token search meeting the creation (see TokenObjectGate), is
                // now kept out; this stays for modules with their own spurious failures, and it is logged.
                _log($"Generating {what} failed with {e.RV} (attempt {attempt} of {KeyGenerationAttempts}); retrying.");
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> with the key object of this label and class; a stale cached handle is looked up
    /// again once.
    /// </summary>
    private ValueTask<T> WithKeyAsync<T>(string label, CKO objectClass, string operation, Func<ISession, KeyObject, T> work,
        CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(label);
        return RunAsync(operation, session =>
        {
            var key = FindKey(session, label, objectClass);
            try
            {
                return work(session, key);
            }
            catch (Pkcs11Exception e) when (CkrMapper.IsStaleHandle(e.RV))
            {
                // The object behind the handle is gone (a copy included), so there is nothing to destroy.
                _keys.TryRemove(KeyValuePair.Create((label, objectClass), key));
                return work(session, FindKey(session, label, objectClass));
            }
        }, cancellationToken);
    }

    private KeyObject FindKey(ISession session, string label, CKO objectClass)
    {
        if (_defects.TryGetValue(label, out var defects))
        {
            throw Defective(label, defects);
        }

        if (_keys.TryGetValue((label, objectClass), out var cached))
        {
            var key = cached.CopyPending ? CopyCachedKey(label, objectClass, cached) : cached;
            if (!IsCheckDue(key) || TokenObjectExists(session, key))
            {
                return key;
            }

            // Another process sharing the token destroyed the key (or its material was destroyed and made again under
            // the same label, as a re-import does): drop the copy and look the label up on the token again.
            if (_keys.TryRemove(KeyValuePair.Create((label, objectClass), key)))
            {
                DestroySessionCopy(key);
            }
        }

        // Passed over by the start-up index (outside its label prefix): read the object behind the handle it saw, and
        // search only when that object is gone or is no longer this key.
        if (_seenAtIndex.TryRemove((label, objectClass), out var seen) && ReadSeen(session, seen, label, objectClass) is { } known)
        {
            return CheckAndRemember(label, objectClass, known);
        }

        // Not indexed at start-up nor made here (e.g. made by another process sharing the token): look it up once, by
        // its label, which is unique to one material version of one key (its CKA_ID is the same bytes; SoftHSM2 finds
        // neither faster: a search visits every object of the token).
        using var template = Pkcs11Template.From(session, AttributeTemplates.TokenObjectLabelled(objectClass, label));
        var handle = FindFirst(session, template) ?? throw KeyNotFound(label, objectClass);
        ObjectSnapshot snapshot;
        try
        {
            snapshot = ObjectSnapshot.Read(session, handle, ObjectSnapshot.KeyAttributes);
        }
        catch (Pkcs11Exception e) when (CkrMapper.IsStaleHandle(e.RV) || e.RV == CKR.CKR_GENERAL_ERROR)
        {
            // Destroyed between the search and the read (SoftHSM2 reports that as CKR_GENERAL_ERROR).
            throw FindFirst(session, template) is null ? KeyNotFound(label, objectClass) : CkrMapper.ToHsmException(e, "read a key");
        }

        return CheckAndRemember(label, objectClass, snapshot);
    }

    /// <summary>True when <paramref name="key"/> is a session copy whose token object was last seen longer ago than the check interval.</summary>
    private bool IsCheckDue(KeyObject key) =>
        _copyCheckInterval is { } interval && key is { IsSessionCopy: true, TokenHandle: not null }
        && _time.GetElapsedTime(Volatile.Read(ref key.TokenSeenAt)) >= interval;

    /// <summary>
    /// Whether the token object behind a session copy still exists: C_GetObjectSize, the cheapest call that makes
    /// SoftHSM2 check an object (it re-reads the token's directory when another process changed it, and the object's
    /// file). Records when it was seen.
    /// </summary>
    private bool TokenObjectExists(ISession session, KeyObject key)
    {
        try
        {
            // Under the search side of the gate: the call may re-read the token's directory (see CatchUpWithToken).
            _tokenObjects.Searching(() => session.GetObjectSize(key.TokenHandle!));
        }
        catch (Pkcs11Exception e) when (CkrMapper.IsStaleHandle(e.RV) || e.RV == CKR.CKR_GENERAL_ERROR)
        {
            return false; // SoftHSM2 reports an object whose file is gone as CKR_OBJECT_HANDLE_INVALID.
        }

        Volatile.Write(ref key.TokenSeenAt, _time.GetTimestamp());
        return true;
    }

    /// <summary>The object a start-up index saw, when it is still there and still this key's token object.</summary>
    private static ObjectSnapshot? ReadSeen(ISession session, IObjectHandle handle, string label, CKO objectClass)
    {
        try
        {
            var snapshot = ObjectSnapshot.Read(session, handle, ObjectSnapshot.KeyAttributes);
            return snapshot.Label == label && snapshot.Class == objectClass && snapshot.Bytes(CKA.CKA_TOKEN) is [1]
                ? snapshot
                : null;
        }
        catch (Pkcs11Exception e) when (CkrMapper.IsStaleHandle(e.RV) || e.RV == CKR.CKR_GENERAL_ERROR)
        {
            return null; // Destroyed since (SoftHSM2 reports a vanished token object as CKR_GENERAL_ERROR).
        }
    }

    /// <summary>Checks a looked-up key object against the baseline every key object meets, then caches it.</summary>
    private KeyObject CheckAndRemember(string label, CKO objectClass, ObjectSnapshot snapshot)
    {
        var differences = snapshot.Differences(AttributeTemplates.Baseline(objectClass));
        if (differences.Count > 0)
        {
            MarkDefective(label, [.. differences.Select(d => $"{objectClass}: {d}")]);
            throw Defective(label, _defects[label]);
        }

        return Remember(label, objectClass, KeyObject.From(snapshot));
    }

    /// <summary>Makes the session copy of a key the start-up index cached as a token object, on the key's first use.</summary>
    private KeyObject CopyCachedKey(string label, CKO objectClass, KeyObject cached)
    {
        var candidate = CopyIntoSession(cached with { CopyPending = false });
        if (_keys.TryUpdate((label, objectClass), candidate, cached))
        {
            return candidate;
        }

        // Another caller copied it first, or the key was destroyed meanwhile.
        if (!ReferenceEquals(candidate.Handle, cached.Handle))
        {
            DestroySessionCopy(candidate);
        }

        return _keys.TryGetValue((label, objectClass), out var current) ? current : throw KeyNotFound(label, objectClass);
    }

    /// <summary>Records a key whose objects are wrong, drops what the cache holds of it, and logs it once.</summary>
    private void MarkDefective(string label, IReadOnlyList<string> differences)
    {
        _defects[label] = differences;
        foreach (var objectClass in KeyObjectClasses)
        {
            if (_keys.TryRemove((label, objectClass), out var cached))
            {
                DestroySessionCopy(cached);
            }
        }

        _log($"The key objects labelled '{label}' are not what was made and will not be used: {string.Join("; ", differences)}.");
    }

    private static HsmException Defective(string label, IReadOnlyList<string> differences) => new(HsmErrorKind.Defective,
        $"The key objects labelled '{label}' are not what was made ({string.Join("; ", differences)}); the key is not used.");

    private static HsmException KeyNotFound(string label, CKO objectClass) => new(HsmErrorKind.KeyNotFound, objectClass switch
    {
        CKO.CKO_PRIVATE_KEY => $"The token holds no private key labelled '{label}'.",
        CKO.CKO_PUBLIC_KEY => $"The token holds no public key labelled '{label}'.",
        _ => $"The token holds no key labelled '{label}'.",
    });

    /// <summary>
    /// Caches a key object found or made on the token, replaced by its session copy when copies are on (see
    /// <see cref="HsmOptions.SessionKeyCopies"/>), and returns what the cache holds for it: a caller that lost a race
    /// to cache the same key gets the winner's object, and its own copy is destroyed.
    /// </summary>
    /// <remarks>
    /// A copy keeps working in this process even if another process destroys the token object: PKCS#11 session objects
    /// belong to the process (and session) that made them, and a destroy elsewhere never reaches them. With a token
    /// shared by several emulator nodes, <see cref="HsmOptions.SessionCopyCheckInterval"/> bounds how long that lasts.
    /// </remarks>
    private KeyObject Remember(string label, CKO objectClass, KeyObject tokenObject)
    {
        Volatile.Write(ref _tokenProbe, tokenObject.Handle);
        var candidate = CopyIntoSession(tokenObject);
        var cached = _keys.GetOrAdd((label, objectClass), candidate);
        if (!ReferenceEquals(cached, candidate))
        {
            DestroySessionCopy(candidate);
        }

        return cached;
    }

    /// <summary>
    /// Copies a token key into a session object owned by the anchor session: still private, sensitive and
    /// non-extractable (PKCS#11 lets a copy change none of these towards weaker), only not a token object. A module
    /// that does not support such a copy switches copies off for this backend; any other failure leaves this key on
    /// its token object.
    /// </summary>
    private KeyObject CopyIntoSession(KeyObject tokenObject)
    {
        if (!Volatile.Read(ref _sessionCopies))
        {
            return tokenObject;
        }

        try
        {
            lock (_anchorLock)
            {
                using var template = Pkcs11Template.From(_anchor, AttributeTemplates.SessionCopy());
                IObjectHandle copy;
                try
                {
                    copy = _anchor.CopyObject(tokenObject.Handle, template.Attributes);
                }
                catch (Pkcs11Exception e) when (CkrMapper.IsSessionLost(e.RV) && RestoreAnchor($"The HSM session was lost ({e.RV}).") is null)
                {
                    copy = _anchor.CopyObject(tokenObject.Handle, template.Attributes);
                }

                return CheckedCopy(tokenObject, copy);
            }
        }
        catch (Pkcs11Exception e) when (CkrMapper.IsUnsupportedCopy(e.RV))
        {
            Volatile.Write(ref _sessionCopies, false);
            _log($"The HSM does not copy keys into session objects ({e.RV}); operations use the token objects directly.");
            return tokenObject;
        }
        catch (Pkcs11Exception e)
        {
            // A key destroyed meanwhile fails on its next use; anything else is worth a line, not a failed request.
            if (!CkrMapper.IsStaleHandle(e.RV))
            {
                _log($"Copying a key into a session object failed ({e.RV}); this key uses its token object.");
            }

            return tokenObject;
        }
        catch (ObjectDisposedException)
        {
            return tokenObject;
        }
    }

    /// <summary>
    /// Reads back a session copy just made (under the anchor lock): it must be the same kind of key, still private,
    /// sensitive and not extractable, and not a token object. A wrong copy is destroyed and the token object used.
    /// </summary>
    private KeyObject CheckedCopy(KeyObject tokenObject, IObjectHandle copy)
    {
        var snapshot = ObjectSnapshot.Read(_anchor, copy, ObjectSnapshot.KeyAttributes);
        var objectClass = snapshot.Class ?? CKO.CKO_VENDOR_DEFINED;
        var differences = snapshot.Differences([.. AttributeTemplates.Baseline(objectClass), new(CKA.CKA_TOKEN, false)]);
        var copied = KeyObject.From(snapshot);
        if (copied.KeyType != tokenObject.KeyType || copied.Spec != tokenObject.Spec || copied.ModulusBytes != tokenObject.ModulusBytes)
        {
            differences.Add($"the copy is a {copied.KeyType} {copied.Spec} key, the original a {tokenObject.KeyType} {tokenObject.Spec} key");
        }

        if (differences.Count == 0)
        {
            return tokenObject with { Handle = copy, IsSessionCopy = true, TokenHandle = tokenObject.Handle, TokenSeenAt = _time.GetTimestamp() };
        }

        _anchor.DestroyObject(copy);
        _log($"A session copy of a key was not what was asked ({string.Join("; ", differences)}); it was destroyed and the token object is used.");
        return tokenObject;
    }

    /// <summary>Destroys the session copy behind a cache entry that was dropped; a copy that is already gone is fine.</summary>
    private void DestroySessionCopy(KeyObject key)
    {
        if (!key.IsSessionCopy)
        {
            return;
        }

        try
        {
            lock (_anchorLock)
            {
                _anchor.DestroyObject(key.Handle);
            }
        }
        catch (Pkcs11Exception e) when (CkrMapper.IsStaleHandle(e.RV) || CkrMapper.IsSessionLost(e.RV))
        {
            // Already destroyed, or the anchor session (and every copy it owned) is gone.
        }
        catch (Pkcs11Exception e)
        {
            _log($"Destroying the session copy of a key failed ({e.RV}).");
        }
        catch (ObjectDisposedException)
        {
            // The backend is closed: its anchor session took every copy with it.
        }
    }
}
