namespace KmsEmulator.Hsm;

/// <summary>The few kinds of HSM failure that the domain needs to tell apart.</summary>
public enum HsmErrorKind
{
    /// <summary>No key object with the given label.</summary>
    KeyNotFound,
    /// <summary>An authenticated decryption failed (wrong key, AAD, IV or tag).</summary>
    AuthenticationFailed,
    /// <summary>The input was rejected by the HSM (length, format).</summary>
    InvalidInput,
    /// <summary>The HSM cannot be reached, the token is missing or the login failed.</summary>
    Unavailable,
    /// <summary>Anything else.</summary>
    Internal,
    /// <summary>The HSM (or this backend) cannot perform the requested algorithm, e.g. Ed25519ph on SoftHSM2 2.6.1.</summary>
    Unsupported,
    /// <summary>The key's objects are not what was made (wrong flags, type, size or label), so the key is never used.</summary>
    Defective,
}

/// <summary>An HSM failure. <see cref="ReturnCode"/> keeps the raw PKCS#11 code for logs; it never reaches clients.</summary>
public sealed class HsmException : Exception
{
    public HsmException(HsmErrorKind kind, string message, string? returnCode = null, Exception? inner = null)
        : base(message, inner)
    {
        Kind = kind;
        ReturnCode = returnCode;
    }

    public HsmErrorKind Kind { get; }

    public string? ReturnCode { get; }
}
