using Net.Pkcs11Interop.Common;

namespace KmsEmulator.Hsm.Pkcs11;

/// <summary>
/// What every object of one kind (key spec, usage, origin, object class) must hold apart from its label and id, as the
/// encoded bytes <see cref="AttributeTemplates.Expected"/> gives, made once per kind. The start-up index checks
/// thousands of objects of a handful of kinds with it, without building each key's template.
/// </summary>
/// <remarks>
/// A template depends on the key's label only through CKA_LABEL and CKA_ID (the label's bytes, plain or dated); the
/// rest comes from spec, usage, origin and class. <see cref="Fits"/> is a fast "yes": when it says no, the caller
/// compares the object with the key's own template (<see cref="ObjectSnapshot.Differences"/>) to say how it differs.
/// </remarks>
internal sealed class ObjectShape
{
    private readonly (CKA Type, byte[] Value)[] _fixed;

    private ObjectShape((CKA Type, byte[] Value)[] fixedValues) => _fixed = fixedValues;

    public static ObjectShape Of(HsmKeyDescription key, CKO objectClass) =>
        new([.. AttributeTemplates.Expected(key, objectClass)
            .Where(a => a.Type is not (CKA.CKA_LABEL or CKA.CKA_ID))
            .Select(a => (a.Type, a.Encoded))]);

    /// <summary>True when <paramref name="snapshot"/> is exactly an object of this kind labelled <paramref name="label"/>.</summary>
    public bool Fits(ObjectSnapshot snapshot, string label)
    {
        foreach (var (type, value) in _fixed)
        {
            if (snapshot.Bytes(type) is not { } actual || !actual.AsSpan().SequenceEqual(value))
            {
                return false;
            }
        }

        var labelBytes = System.Text.Encoding.UTF8.GetBytes(label);
        return snapshot.Bytes(CKA.CKA_LABEL) is { } actualLabel && actualLabel.AsSpan().SequenceEqual(labelBytes)
            && snapshot.Bytes(CKA.CKA_ID) is { } id && AttributeTemplates.IsIdOf(id, labelBytes);
    }
}
