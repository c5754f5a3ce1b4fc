using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace KmsEmulator.Hsm.Pkcs11;

/// <summary>
/// Key material in a PKCS#11 token (SoftHSM2 by default). Keys are token objects named by label (a key pair is two
/// objects, private and public, sharing the label); their handles are cached by label and object class after the first
/// look-up. Operations run on a pool of sessions, each used by one caller at a time, while an anchor session keeps the
/// token logged in for the backend's lifetime.
/// </summary>
public sealed partial class Pkcs11Backend : IKeyMaterialBackend, IDisposable
{
    private const int GcmIvBytes = 12;
    private const ulong GcmIvBits = GcmIvBytes * 8;
    private const ulong GcmTagBits = 128;
    private const int KeyGenerationAttempts = 3;
    private const int MaxTokenLabelBytes = 32;

    private readonly ISession _anchor;
    private readonly Lock _anchorLock = new();
    private readonly SessionPool _sessions;
    private readonly Action<string> _log;
    private bool _sessionCopies;
    private static readonly CKO[] KeyObjectClasses = [CKO.CKO_SECRET_KEY, CKO.CKO_PRIVATE_KEY, CKO.CKO_PUBLIC_KEY];

    private readonly ConcurrentDictionary<(string Label, CKO Class), KeyObject> _keys = new();
    private int _disposed;

    private Pkcs11Backend(ISession anchor, SessionPool sessions, bool sessionCopies, Action<string> log)
    {
        _anchor = anchor;
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
    /// <exception cref="HsmException">With <see cref="HsmErrorKind.Unavailable"/> when any step fails.</exception>
    public static Pkcs11Backend Open(HsmOptions options, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        log ??= _ => { };
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
            return new Pkcs11Backend(anchor, sessions, options.SessionKeyCopies, log);
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
        var handle = await RunAsync("generate an AES key", session => GenerateAesKey(session, label), cancellationToken)
            .ConfigureAwait(false);
        Remember(label, CKO.CKO_SECRET_KEY, new KeyObject(handle, CKK.CKK_AES, null, 0));
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
        }

        await RunAsync("destroy a key", session =>
        {
            // The token objects and every session copy of them in this process, other backends' copies included. A
            // second pass catches a copy made from the token object while the first pass ran; once the token
            // objects are gone no copy can be made.
            for (var pass = 0; pass < 2; pass++)
            {
                foreach (var handle in session.FindAllObjects(AttributeTemplates.ObjectsLabelled(session.Factories.ObjectAttributeFactory, label)))
                {
                    try
                    {
                        session.DestroyObject(handle);
                    }
                    catch (Pkcs11Exception e) when (CkrMapper.IsStaleHandle(e.RV))
                    {
                        // Destroyed meanwhile, e.g. a copy its backend dropped after losing a race to cache it.
                    }
                }
            }

            return true;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask<bool> ExistsAsync(string label, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(label);
        return RunAsync("look up a key", session =>
            FindFirst(session, AttributeTemplates.TokenObjectsLabelled(session.Factories.ObjectAttributeFactory, label)) is not null,
            cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<string>> ListLabelsAsync(string prefix, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        return RunAsync<IReadOnlyList<string>>("list keys", session =>
        {
            var labels = new SortedSet<string>(StringComparer.Ordinal);
            foreach (var handle in session.FindAllObjects(AttributeTemplates.TokenObjects(session.Factories.ObjectAttributeFactory)))
            {
                var label = session.GetAttributeValue(handle, [CKA.CKA_LABEL])[0].GetValueAsString();
                if (label is not null && label.StartsWith(prefix, StringComparison.Ordinal))
                {
                    labels.Add(label);
                }
            }

            return [.. labels];
        }, cancellationToken);
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

    private static IObjectHandle? FindFirst(ISession session, List<IObjectAttribute> template)
    {
        session.FindObjectsInit(template);
        try
        {
            return session.FindObjects(1).FirstOrDefault();
        }
        finally
        {
            session.FindObjectsFinal();
        }
    }

    private static void RequireGcmIv(ReadOnlyMemory<byte> iv)
    {
        if (iv.Length != GcmIvBytes)
        {
            throw new HsmException(HsmErrorKind.InvalidInput, $"The AES-GCM IV must be {GcmIvBytes} bytes, not {iv.Length}.");
        }
    }

    private IObjectHandle GenerateAesKey(ISession session, string label) =>
        GenerateWithRetry("an AES key", () =>
        {
            using var mechanism = session.Factories.MechanismFactory.Create(CKM.CKM_AES_KEY_GEN);
            return session.GenerateKey(mechanism, AttributeTemplates.AesKey(session.Factories.ObjectAttributeFactory, label));
        });

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
                // SoftHSM2 very rarely fails a generation spuriously; a new attempt succeeds.
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
        if (_keys.TryGetValue((label, objectClass), out var cached))
        {
            return cached;
        }

        var template = AttributeTemplates.TokenObjectLabelled(session.Factories.ObjectAttributeFactory, objectClass, label);
        var handle = FindFirst(session, template) ?? throw KeyNotFound(label, objectClass);
        KeyObject found;
        try
        {
            found = KeyObject.Read(session, handle);
        }
        catch (Pkcs11Exception e) when (CkrMapper.IsStaleHandle(e.RV) || e.RV == CKR.CKR_GENERAL_ERROR)
        {
            // Destroyed between the search and the read (SoftHSM2 reports that as CKR_GENERAL_ERROR).
            throw FindFirst(session, template) is null ? KeyNotFound(label, objectClass) : CkrMapper.ToHsmException(e, "read a key");
        }

        return Remember(label, objectClass, found);
    }

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
    /// A copy keeps working in this process even if another process destroys the token object; one token directory
    /// belongs to one emulator process, so that does not happen in normal use.
    /// </remarks>
    private KeyObject Remember(string label, CKO objectClass, KeyObject tokenObject)
    {
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

        var template = new List<IObjectAttribute> { _anchor.Factories.ObjectAttributeFactory.Create(CKA.CKA_TOKEN, false) };
        try
        {
            lock (_anchorLock)
            {
                return tokenObject with { Handle = _anchor.CopyObject(tokenObject.Handle, template), IsSessionCopy = true };
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
        finally
        {
            Pkcs11Attributes.Dispose(template);
        }
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
