using System.Buffers.Binary;
using System.Text;

namespace KmsEmulator.Api.Keys;

/// <summary>
/// The canonical, unambiguous byte form of an encryption context, used as GCM additional data:
/// a 2-byte pair count, then for each pair in ordinal order of the UTF-8 key bytes:
/// 2-byte key length, key, 2-byte value length, value (all big-endian, UTF-8).
/// Length prefixes keep <c>{"ab":"c"}</c> and <c>{"a":"bc"}</c> apart, which plain concatenation would not.
/// </summary>
public static class EncryptionContextEncoding
{
    /// <summary>AAD = header ‖ canonical context.</summary>
    public static byte[] BuildAad(ReadOnlySpan<byte> header, IReadOnlyDictionary<string, string>? context)
    {
        var pairs = Sorted(context);
        var length = header.Length + 2;
        foreach (var (key, value) in pairs)
        {
            length += 4 + key.Length + value.Length;
        }

        var aad = new byte[length];
        header.CopyTo(aad);
        var offset = header.Length;
        BinaryPrimitives.WriteUInt16BigEndian(aad.AsSpan(offset), checked((ushort)pairs.Count));
        offset += 2;
        foreach (var (key, value) in pairs)
        {
            offset = WriteField(aad, offset, key);
            offset = WriteField(aad, offset, value);
        }

        return aad;
    }

    private static List<(byte[] Key, byte[] Value)> Sorted(IReadOnlyDictionary<string, string>? context)
    {
        var pairs = new List<(byte[] Key, byte[] Value)>(context?.Count ?? 0);
        if (context is not null)
        {
            foreach (var (key, value) in context)
            {
                pairs.Add((Encoding.UTF8.GetBytes(key), Encoding.UTF8.GetBytes(value)));
            }
        }

        pairs.Sort(static (a, b) => a.Key.AsSpan().SequenceCompareTo(b.Key));
        return pairs;
    }

    private static int WriteField(byte[] buffer, int offset, byte[] field)
    {
        BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(offset), checked((ushort)field.Length));
        field.CopyTo(buffer, offset + 2);
        return offset + 2 + field.Length;
    }
}
