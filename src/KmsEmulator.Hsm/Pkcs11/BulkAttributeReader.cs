using System.Runtime.InteropServices;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;
using LowLevel = Net.Pkcs11Interop.LowLevelAPI80;

namespace KmsEmulator.Hsm.Pkcs11;

/// <summary>
/// Reads many attributes of one object with a single C_GetAttributeValue into preallocated buffers, for the start-up
/// index, where a call's fixed cost dominates: SoftHSM2 checks the token's and the object's files on every call, and
/// Pkcs11Interop's high-level read makes two calls (sizes, then values). One call halves the index time.
/// </summary>
/// <remarks>
/// Uses Pkcs11Interop's low-level binding of the same, already initialised module (a second handle on the loaded
/// library; it never calls C_Initialize or C_Finalize), only where that binding matches the platform's CK_ULONG (64-bit
/// Unix). An object whose values do not fit the buffers is read the ordinary way.
/// </remarks>
internal sealed class BulkAttributeReader : IDisposable
{
    /// <summary>Room for each value: labels and ids of key objects are short, an RSA-4096 modulus is 512 bytes.</summary>
    private const int SlotBytes = 1024;

    private const ulong Unavailable = ulong.MaxValue;

    private readonly LowLevel.Pkcs11Library _library;

    private BulkAttributeReader(LowLevel.Pkcs11Library library) => _library = library;

    /// <summary>A reader for the module at <paramref name="modulePath"/>, or null where the low-level binding does not fit.</summary>
    public static BulkAttributeReader? TryCreate(string modulePath, Action<string> log)
    {
        if (Platform.NativeULongSize != 8 || Platform.StructPackingSize != 0 || Platform.IsWindows)
        {
            return null;
        }

        try
        {
            return new BulkAttributeReader(new LowLevel.Pkcs11Library(modulePath));
        }
        catch (Exception e) when (e is UnmanagedException or DllNotFoundException or Pkcs11Exception)
        {
            log($"Reading key attributes in one call is not available ({e.Message}); the start-up index reads them the ordinary way.");
            return null;
        }
    }

    /// <summary>Reads <paramref name="types"/> of an object, or returns null when some value did not fit (read it the ordinary way).</summary>
    public ObjectSnapshot? TryRead(ISession session, IObjectHandle handle, CKA[] types)
    {
        var buffer = Marshal.AllocHGlobal(types.Length * SlotBytes);
        try
        {
            var template = new LowLevel.CK_ATTRIBUTE[types.Length];
            for (var i = 0; i < types.Length; i++)
            {
                template[i] = new LowLevel.CK_ATTRIBUTE { type = (ulong)types[i], value = buffer + (i * SlotBytes), valueLen = SlotBytes };
            }

            var rv = _library.C_GetAttributeValue(session.SessionId, handle.ObjectId, template, (ulong)template.Length);
            if (rv == CKR.CKR_BUFFER_TOO_SMALL)
            {
                return null;
            }

            if (rv is not (CKR.CKR_OK or CKR.CKR_ATTRIBUTE_SENSITIVE or CKR.CKR_ATTRIBUTE_TYPE_INVALID))
            {
                throw new Pkcs11Exception("C_GetAttributeValue", rv);
            }

            var values = new Dictionary<CKA, byte[]?>(types.Length);
            for (var i = 0; i < types.Length; i++)
            {
                var length = template[i].valueLen;
                values[types[i]] = length == Unavailable || length > SlotBytes ? null : Copy(template[i].value, (int)length);
            }

            return new ObjectSnapshot(handle, values);
        }
        finally
        {
            Marshal.FreeHGlobal(buffer);
        }
    }

    public void Dispose() => _library.Dispose();

    private static byte[] Copy(IntPtr source, int length)
    {
        var bytes = new byte[length];
        Marshal.Copy(source, bytes, 0, length);
        return bytes;
    }
}
