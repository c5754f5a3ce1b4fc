using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;
using Net.Pkcs11Interop.HighLevelAPI.Factories;

namespace KmsEmulator.Hsm.Pkcs11;

/// <summary>One attribute of a template, as managed data: a bool, ulong, string, byte array, CKO or CKK value.</summary>
internal readonly record struct Pkcs11Attribute(CKA Type, object Value)
{
    /// <summary>The value as PKCS#11 stores it (CK_BBOOL, CK_ULONG, UTF-8, raw bytes), for comparing with what the module returns.</summary>
    public byte[] Encoded => Value switch
    {
        bool flag => [flag ? (byte)1 : (byte)0],
        ulong number => BitConverter.GetBytes(number),
        CKO objectClass => BitConverter.GetBytes((ulong)objectClass),
        CKK keyType => BitConverter.GetBytes((ulong)keyType),
        string text => System.Text.Encoding.UTF8.GetBytes(text),
        byte[] bytes => bytes,
        _ => throw new InvalidOperationException($"{Type} has a value of unsupported type {Value.GetType().Name}."),
    };

    public IObjectAttribute Create(IObjectAttributeFactory factory) => Value switch
    {
        bool flag => factory.Create(Type, flag),
        ulong number => factory.Create(Type, number),
        CKO objectClass => factory.Create(Type, objectClass),
        CKK keyType => factory.Create(Type, keyType),
        string text => factory.Create(Type, text),
        byte[] bytes => factory.Create(Type, bytes),
        _ => throw new InvalidOperationException($"{Type} has a value of unsupported type {Value.GetType().Name}."),
    };
}

/// <summary>
/// A PKCS#11 attribute template that owns the unmanaged memory of its values.
/// </summary>
/// <remarks>
/// Pkcs11Interop keeps every attribute value in unmanaged memory that the attribute's finalizer frees. A high-level
/// call such as <c>GenerateKey(mechanism, list)</c> copies only the pointers into the native template before it calls
/// the module, so once the JIT considers the list dead, a garbage collection on another thread can free the values
/// while the module still reads them: under concurrent load that made keys with garbage labels, lengths and flags,
/// some extractable. Every template is therefore created with <c>using</c> around the native call: the list stays
/// reachable until the call has returned, and its memory is released deterministically right after.
/// </remarks>
internal sealed class Pkcs11Template : IDisposable
{
    private readonly List<IObjectAttribute> _attributes;
    private bool _disposed;

    private Pkcs11Template(List<IObjectAttribute> attributes) => _attributes = attributes;

    /// <summary>Builds the template from managed attribute values with a session's factory.</summary>
    public static Pkcs11Template From(ISession session, IEnumerable<Pkcs11Attribute> attributes)
    {
        var factory = session.Factories.ObjectAttributeFactory;
        var list = new List<IObjectAttribute>();
        try
        {
            foreach (var attribute in attributes)
            {
                list.Add(attribute.Create(factory));
            }
        }
        catch
        {
            list.ForEach(a => a.Dispose());
            throw;
        }

        return new Pkcs11Template(list);
    }

    /// <summary>The attributes, to pass to a PKCS#11 call that runs inside the template's <c>using</c> scope.</summary>
    public List<IObjectAttribute> Attributes
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _attributes;
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var attribute in _attributes)
        {
            attribute.Dispose();
        }
    }
}
