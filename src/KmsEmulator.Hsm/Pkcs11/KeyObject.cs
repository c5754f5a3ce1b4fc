using KmsEmulator.Hsm.Crypto;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace KmsEmulator.Hsm.Pkcs11;

/// <summary>
/// A cached key object: its handle and the facts about it that the operations need, read once when it is first found.
/// </summary>
/// <param name="Handle">The object handle, valid for every session of this process.</param>
/// <param name="KeyType">CKA_KEY_TYPE.</param>
/// <param name="Spec">The key spec, or null when the object is no key this backend makes (e.g. an AES key or an RSA-1024 key).</param>
/// <param name="ModulusBytes">For RSA keys, the modulus length in bytes; else 0.</param>
internal sealed record KeyObject(IObjectHandle Handle, CKK KeyType, HsmKeySpec? Spec, int ModulusBytes)
{
    /// <summary>True when <see cref="Handle"/> names the backend's in-memory session copy rather than the token object.</summary>
    public bool IsSessionCopy { get; init; }

    /// <summary>True for a token object in the cache whose session copy has not been made yet.</summary>
    public bool CopyPending { get; init; }

    /// <summary>For a session copy, the handle of the token object it was copied from; else null.</summary>
    public IObjectHandle? TokenHandle { get; init; }

    /// <summary>
    /// For a session copy, when (a <see cref="TimeProvider"/> timestamp) its token object was last seen to exist: when
    /// the copy was made, or at the last check (<see cref="HsmOptions.SessionCopyCheckInterval"/>). Written by whichever
    /// caller checks; a lost update only makes the next caller check once more.
    /// </summary>
    public long TokenSeenAt;

    /// <summary>Reads the key type and size of <paramref name="handle"/>.</summary>
    public static KeyObject Read(ISession session, IObjectHandle handle) =>
        From(ObjectSnapshot.Read(session, handle, [CKA.CKA_KEY_TYPE, CKA.CKA_MODULUS, CKA.CKA_EC_PARAMS, CKA.CKA_VALUE_LEN]));

    /// <summary>The key type and size of an object whose attributes have been read.</summary>
    public static KeyObject From(ObjectSnapshot snapshot)
    {
        var keyType = snapshot.Number(CKA.CKA_KEY_TYPE) is { } type
            ? (CKK)type
            : throw new HsmException(HsmErrorKind.Internal, "The HSM did not return the CKA_KEY_TYPE of a key object.");
        var modulus = snapshot.Bytes(CKA.CKA_MODULUS);
        var handle = snapshot.Handle;
        return keyType switch
        {
            CKK.CKK_RSA when modulus is { Length: > 0 } =>
                new(handle, keyType, KeySpecs.RsaSpecOfModulusBits(BitLength(modulus)), modulus.Length - LeadingZeroBytes(modulus)),
            CKK.CKK_EC or Pkcs11Constants.CkkEcEdwards => new(handle, keyType, KeyEncoding.SpecOfEcParameters(snapshot.Bytes(CKA.CKA_EC_PARAMS)), 0),
            CKK.CKK_GENERIC_SECRET => new(handle, keyType, KeySpecs.HmacSpecOfKeyBytes(snapshot.Number(CKA.CKA_VALUE_LEN) ?? 0), 0),
            CKK.CKK_AES when snapshot.Number(CKA.CKA_VALUE_LEN) == 32 => new(handle, keyType, HsmKeySpec.Aes256, 0),
            _ => new(handle, keyType, null, 0),
        };
    }

    private static int LeadingZeroBytes(byte[] value)
    {
        var count = 0;
        while (count < value.Length - 1 && value[count] == 0)
        {
            count++;
        }

        return count;
    }

    private static int BitLength(byte[] bigEndian)
    {
        var start = LeadingZeroBytes(bigEndian);
        return ((bigEndian.Length - start - 1) * 8) + (32 - System.Numerics.BitOperations.LeadingZeroCount((uint)bigEndian[start]));
    }
}

/// <summary>Reading attribute values and releasing the unmanaged memory Pkcs11Interop holds for them.</summary>
internal static class Pkcs11Attributes
{
    /// <summary>The values of byte-array attributes, null for each one that cannot be read.</summary>
    public static byte[]?[] ReadBytes(ISession session, IObjectHandle handle, params CKA[] types)
    {
        var attributes = session.GetAttributeValue(handle, [.. types]);
        try
        {
            return [.. attributes.Select(attribute => attribute.CannotBeRead ? null : attribute.GetValueAsByteArray())];
        }
        finally
        {
            Dispose(attributes);
        }
    }

    /// <summary>Like <see cref="ReadBytes"/>, but every attribute must be readable.</summary>
    public static byte[][] ReadRequiredBytes(ISession session, IObjectHandle handle, params CKA[] types)
    {
        var values = ReadBytes(session, handle, types);
        for (var i = 0; i < values.Length; i++)
        {
            if (values[i] is null)
            {
                throw new HsmException(HsmErrorKind.Internal, $"The HSM did not return {types[i]} of a key object.");
            }
        }

        return values!;
    }

    public static void Dispose(List<IObjectAttribute> attributes)
    {
        foreach (var attribute in attributes)
        {
            (attribute as IDisposable)?.Dispose();
        }
    }
}
