using Net.Pkcs11Interop.Common;

namespace KmsEmulator.Hsm.Pkcs11;

/// <summary>The one place that decides what a PKCS#11 return code means to the rest of the emulator.</summary>
internal static class CkrMapper
{
    /// <summary>Wraps a PKCS#11 failure, keeping the raw return code name in <see cref="HsmException.ReturnCode"/>.</summary>
    public static HsmException ToHsmException(Pkcs11Exception exception, string operation) =>
        new(KindOf(exception.RV), $"The HSM could not {operation} ({exception.RV}).", exception.RV.ToString(), exception);

    /// <summary>Classifies a return code.</summary>
    public static HsmErrorKind KindOf(CKR rv) => rv switch
    {
        CKR.CKR_OBJECT_HANDLE_INVALID or CKR.CKR_KEY_HANDLE_INVALID => HsmErrorKind.KeyNotFound,
        CKR.CKR_ENCRYPTED_DATA_INVALID or CKR.CKR_ENCRYPTED_DATA_LEN_RANGE => HsmErrorKind.AuthenticationFailed,
        CKR.CKR_ARGUMENTS_BAD or CKR.CKR_DATA_INVALID or CKR.CKR_DATA_LEN_RANGE
            or CKR.CKR_MECHANISM_PARAM_INVALID or CKR.CKR_ATTRIBUTE_VALUE_INVALID
            or CKR.CKR_KEY_TYPE_INCONSISTENT or CKR.CKR_KEY_FUNCTION_NOT_PERMITTED => HsmErrorKind.InvalidInput,
        CKR.CKR_PIN_INCORRECT or CKR.CKR_PIN_INVALID or CKR.CKR_PIN_LEN_RANGE or CKR.CKR_PIN_LOCKED
            or CKR.CKR_PIN_EXPIRED or CKR.CKR_USER_PIN_NOT_INITIALIZED or CKR.CKR_USER_NOT_LOGGED_IN
            or CKR.CKR_SESSION_HANDLE_INVALID or CKR.CKR_SESSION_CLOSED or CKR.CKR_SESSION_COUNT
            or CKR.CKR_TOKEN_NOT_PRESENT or CKR.CKR_TOKEN_NOT_RECOGNIZED or CKR.CKR_SLOT_ID_INVALID
            or CKR.CKR_DEVICE_ERROR or CKR.CKR_DEVICE_MEMORY or CKR.CKR_DEVICE_REMOVED
            or CKR.CKR_CRYPTOKI_NOT_INITIALIZED => HsmErrorKind.Unavailable,
        _ => HsmErrorKind.Internal,
    };

    /// <summary>
    /// True for the codes an AES-GCM decryption returns when the tag does not verify. SoftHSM2 2.6.1 reports a
    /// wrong key, IV, AAD or tag, and a too-short input, as <c>CKR_GENERAL_ERROR</c>.
    /// </summary>
    public static bool IsAuthenticationFailure(CKR rv) =>
        rv is CKR.CKR_GENERAL_ERROR or CKR.CKR_ENCRYPTED_DATA_INVALID or CKR.CKR_ENCRYPTED_DATA_LEN_RANGE;

    /// <summary>
    /// True for the codes an RSA decryption returns for a bad ciphertext. SoftHSM2 2.6.1 reports a wrong OAEP padding,
    /// a wrong length and a value not below the modulus all as <c>CKR_GENERAL_ERROR</c>.
    /// </summary>
    public static bool IsDecryptionFailure(CKR rv) =>
        rv is CKR.CKR_GENERAL_ERROR or CKR.CKR_ENCRYPTED_DATA_INVALID or CKR.CKR_ENCRYPTED_DATA_LEN_RANGE
            or CKR.CKR_DATA_INVALID or CKR.CKR_DATA_LEN_RANGE;

    /// <summary>True when the session itself is unusable and must be replaced.</summary>
    public static bool IsSessionLost(CKR rv) =>
        rv is CKR.CKR_SESSION_HANDLE_INVALID or CKR.CKR_SESSION_CLOSED or CKR.CKR_USER_NOT_LOGGED_IN;

    /// <summary>True for the codes of a module that cannot copy a key into a session object at all.</summary>
    public static bool IsUnsupportedCopy(CKR rv) =>
        rv is CKR.CKR_FUNCTION_NOT_SUPPORTED or CKR.CKR_ACTION_PROHIBITED or CKR.CKR_TEMPLATE_INCONSISTENT
            or CKR.CKR_TEMPLATE_INCOMPLETE or CKR.CKR_ATTRIBUTE_READ_ONLY or CKR.CKR_ATTRIBUTE_TYPE_INVALID
            or CKR.CKR_ATTRIBUTE_VALUE_INVALID;

    /// <summary>True when an object handle no longer names an object (destroyed, possibly by another process).</summary>
    public static bool IsStaleHandle(CKR rv) =>
        rv is CKR.CKR_OBJECT_HANDLE_INVALID or CKR.CKR_KEY_HANDLE_INVALID;
}
