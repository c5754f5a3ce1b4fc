using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace KmsEmulator.Hsm.Pkcs11;

/// <summary>
/// The raw values of some attributes of one object, read in one call: what the HSM really holds, to compare with what
/// was asked for. A value is null when the module does not reveal it (sensitive, or not an attribute of the object).
/// </summary>
internal sealed class ObjectSnapshot
{
    /// <summary>Everything the start-up index and the checks of a key object read.</summary>
    public static readonly CKA[] KeyAttributes =
    [
        CKA.CKA_CLASS, CKA.CKA_LABEL, CKA.CKA_ID, CKA.CKA_KEY_TYPE, CKA.CKA_TOKEN, CKA.CKA_PRIVATE, CKA.CKA_SENSITIVE,
        CKA.CKA_EXTRACTABLE, CKA.CKA_ALWAYS_SENSITIVE, CKA.CKA_NEVER_EXTRACTABLE, CKA.CKA_ENCRYPT, CKA.CKA_DECRYPT,
        CKA.CKA_SIGN, CKA.CKA_VERIFY, CKA.CKA_SIGN_RECOVER, CKA.CKA_VERIFY_RECOVER, CKA.CKA_WRAP, CKA.CKA_UNWRAP,
        CKA.CKA_DERIVE, CKA.CKA_VALUE_LEN, CKA.CKA_MODULUS_BITS, CKA.CKA_MODULUS, CKA.CKA_PUBLIC_EXPONENT, CKA.CKA_EC_PARAMS,
    ];

    private readonly Dictionary<CKA, byte[]?> _values;

    public ObjectSnapshot(IObjectHandle handle, Dictionary<CKA, byte[]?> values)
    {
        Handle = handle;
        _values = values;
    }

    public IObjectHandle Handle { get; }

    public static ObjectSnapshot Read(ISession session, IObjectHandle handle, IReadOnlyCollection<CKA> types)
    {
        var read = session.GetAttributeValue(handle, [.. types]);
        try
        {
            var values = new Dictionary<CKA, byte[]?>(read.Count);
            foreach (var attribute in read)
            {
                values[(CKA)attribute.Type] = attribute.CannotBeRead ? null : attribute.GetValueAsByteArray() ?? [];
            }

            return new ObjectSnapshot(handle, values);
        }
        finally
        {
            read.ForEach(a => a.Dispose());
        }
    }

    public byte[]? Bytes(CKA type) => _values.GetValueOrDefault(type);

    public ulong? Number(CKA type) => Bytes(type) is { Length: 8 } bytes ? BitConverter.ToUInt64(bytes) : null;

    public string? Text(CKA type) => Bytes(type) is { } bytes ? System.Text.Encoding.UTF8.GetString(bytes) : null;

    public CKO? Class => Number(CKA.CKA_CLASS) is { } value ? (CKO)value : null;

    public string? Label => Text(CKA.CKA_LABEL);

    /// <summary>How this object differs from <paramref name="expected"/>: one line per attribute, empty when it matches.</summary>
    public List<string> Differences(IEnumerable<Pkcs11Attribute> expected)
    {
        var differences = new List<string>();
        foreach (var attribute in expected)
        {
            var actual = Bytes(attribute.Type);
            var wanted = attribute.Encoded;
            if (attribute.Type == CKA.CKA_ID && actual is not null && AttributeTemplates.IsIdOf(actual, wanted))
            {
                continue; // The id as made, or dated with when it was made (AttributeTemplates.Dated).
            }

            if (actual is null || !actual.AsSpan().SequenceEqual(wanted))
            {
                differences.Add($"{attribute.Type} is {Describe(attribute.Type, actual)}, expected {Describe(attribute.Type, wanted)}");
            }
        }

        return differences;
    }

    /// <summary>A value for a message. Only non-secret attributes are ever compared, so every value may be shown.</summary>
    private static string Describe(CKA type, byte[]? value) => value switch
    {
        null => "unreadable",
        { Length: 1 } when IsFlag(type) => value[0] != 0 ? "true" : "false",
        { Length: 8 } when type is CKA.CKA_CLASS => ((CKO)BitConverter.ToUInt64(value)).ToString(),
        { Length: 8 } when type is CKA.CKA_KEY_TYPE => ((CKK)BitConverter.ToUInt64(value)).ToString(),
        { Length: 8 } when type is CKA.CKA_VALUE_LEN or CKA.CKA_MODULUS_BITS => BitConverter.ToUInt64(value).ToString(System.Globalization.CultureInfo.InvariantCulture),
        _ when type is CKA.CKA_LABEL && IsPrintable(value) => $"'{System.Text.Encoding.UTF8.GetString(value)}'",
        _ => Convert.ToHexStringLower(value.Length > 48 ? value[..48] : value) + (value.Length > 48 ? "..." : string.Empty),
    };

    private static bool IsPrintable(byte[] value) => value.All(b => b is >= 0x20 and < 0x7f);

    private static bool IsFlag(CKA type) => type is CKA.CKA_TOKEN or CKA.CKA_PRIVATE or CKA.CKA_SENSITIVE or CKA.CKA_EXTRACTABLE
        or CKA.CKA_ALWAYS_SENSITIVE or CKA.CKA_NEVER_EXTRACTABLE or CKA.CKA_ENCRYPT or CKA.CKA_DECRYPT or CKA.CKA_SIGN
        or CKA.CKA_VERIFY or CKA.CKA_SIGN_RECOVER or CKA.CKA_VERIFY_RECOVER or CKA.CKA_WRAP or CKA.CKA_UNWRAP or CKA.CKA_DERIVE;
}
