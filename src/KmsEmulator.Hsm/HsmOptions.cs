namespace KmsEmulator.Hsm;

/// <summary>How to reach the PKCS#11 module and token. Bound from the <c>Kms:Hsm</c> configuration section.</summary>
public sealed class HsmOptions
{
    /// <summary>Path of the PKCS#11 module. Empty means: find SoftHSM2 in the usual Debian/Ubuntu/Fedora/macOS places.</summary>
    public string? ModulePath { get; set; }

    /// <summary>Label of the token that holds the emulator's keys. Created on first start when the module is SoftHSM2.</summary>
    public string TokenLabel { get; set; } = "kms-emulator";

    /// <summary>User PIN. The default is a development PIN; set your own for anything shared.</summary>
    public string UserPin { get; set; } = "1234";

    /// <summary>Security-officer PIN, used only to initialise a new SoftHSM2 token.</summary>
    public string SoPin { get; set; } = "12345678";

    /// <summary>
    /// SoftHSM2 token directory. When set and SOFTHSM2_CONF is not set in the environment, the emulator writes
    /// a softhsm2.conf pointing here (from softhsm-config/softhsm2.conf.template) and uses it.
    /// </summary>
    public string? TokenDirectory { get; set; }

    /// <summary>Initialise the token when no token with <see cref="TokenLabel"/> exists (SoftHSM2 only).</summary>
    public bool InitializeToken { get; set; } = true;

    /// <summary>Number of PKCS#11 sessions in the pool (0 = twice the processor count, at least 4).</summary>
    public int SessionPoolSize { get; set; }

    /// <summary>
    /// Use an in-memory copy of each key inside the HSM (a private, sensitive, non-extractable session object made
    /// with C_CopyObject) for cryptographic operations, instead of the token object itself. SoftHSM2 re-reads a token
    /// object's file state on every use, which makes an AES-GCM call about three times slower than on a session
    /// object. The copies never leave the HSM and disappear with the key or when the emulator stops. Turn this off for
    /// a module that limits session objects; a module that refuses the copy falls back to the token object by itself.
    /// </summary>
    public bool SessionKeyCopies { get; set; } = true;

    /// <summary>
    /// For a token shared by several emulator processes: how long a session copy of a key (<see cref="SessionKeyCopies"/>)
    /// is used before the backend checks again that the key's token object still exists. A copy lives in this process
    /// only and survives the destruction of its token object by another process; once the check finds the object gone,
    /// the copy is destroyed and the key is looked up again on the token (not found: the key is unavailable). Null (the
    /// default): never checked, for a token that belongs to this process alone (the emulator makes it one second when
    /// its store is PostgreSQL, which several nodes may share). Zero: checked before every use (one C_GetObjectSize,
    /// about as costly on SoftHSM2 as the operation on the copy itself).
    /// </summary>
    public TimeSpan? SessionCopyCheckInterval { get; set; }

    /// <summary>
    /// Read by the emulator's start-up reconciliation, which destroys the HSM objects under its store's label prefix that
    /// no key row refers to (left by a CreateKey interrupted between making the material and committing the row). Zero:
    /// all of them, right away, as fits a token and store that one emulator uses alone. With several nodes sharing the
    /// token and the store, such an object may be a key another node is making right now: only objects older than this
    /// (by the time their CKA_ID carries) are destroyed, and only those the store, read again just before, still has no
    /// row for. Null (the default): zero with the emulator's SQLite store, one hour with PostgreSQL.
    /// </summary>
    public TimeSpan? OrphanGracePeriod { get; set; }
}
