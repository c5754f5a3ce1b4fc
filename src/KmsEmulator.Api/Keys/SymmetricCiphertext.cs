using System.Buffers.Binary;
using System.Globalization;

namespace KmsEmulator.Api.Keys;

/// <summary>
/// The emulator's symmetric ciphertext blob (format 1):
/// <code>
/// offset size
///  0      1   format version, 0x01
///  1      1   key id kind: 0x00 UUID key id, 0x01 multi-Region "mrk-" key id
///  2     16   key id as 16 bytes (UUID in RFC 4122 byte order, or the 32 hex digits after "mrk-")
/// 18      4   material version, big-endian
/// 22     12   AES-GCM IV
/// 34      n   AES-256-GCM ciphertext
/// 34+n   16   GCM tag
/// </code>
/// The 22-byte header is authenticated: it is the first part of the GCM AAD, followed by the canonical
/// encryption context (<see cref="EncryptionContextEncoding"/>). Decrypt reads key and material version
/// from the header and looks them up, so no key is ever tried blindly.
/// </summary>
public readonly struct SymmetricCiphertext
{
    public const byte FormatVersion = 0x01;
    public const int HeaderLength = 22;
    public const int IvLength = 12;
    public const int TagLength = 16;
    public const int Overhead = HeaderLength + IvLength + TagLength;

    private const byte UuidKind = 0x00;
    private const byte MultiRegionKind = 0x01;

    private SymmetricCiphertext(string keyId, int materialVersion, ReadOnlyMemory<byte> blob)
    {
        KeyId = keyId;
        MaterialVersion = materialVersion;
        Blob = blob;
    }

    public string KeyId { get; }

    public int MaterialVersion { get; }

    public ReadOnlyMemory<byte> Blob { get; }

    public ReadOnlyMemory<byte> Header => Blob[..HeaderLength];

    public ReadOnlyMemory<byte> Iv => Blob.Slice(HeaderLength, IvLength);

    /// <summary>Ciphertext followed by the tag, as the HSM's GCM decryption takes it.</summary>
    public ReadOnlyMemory<byte> CiphertextAndTag => Blob[(HeaderLength + IvLength)..];

    /// <summary>Reads the header; false for anything that is not a format-1 blob.</summary>
    public static bool TryParse(ReadOnlyMemory<byte> blob, out SymmetricCiphertext ciphertext)
    {
        ciphertext = default;
        var span = blob.Span;
        if (span.Length < Overhead || span[0] != FormatVersion)
        {
            return false;
        }

        var idBytes = span.Slice(2, 16);
        string keyId;
        switch (span[1])
        {
            case UuidKind:
                keyId = new Guid(idBytes, bigEndian: true).ToString("D");
                break;
            case MultiRegionKind:
                keyId = "mrk-" + Convert.ToHexStringLower(idBytes);
                break;
            default:
                return false;
        }

        var version = BinaryPrimitives.ReadInt32BigEndian(span.Slice(18, 4));
        if (version < 1)
        {
            return false;
        }

        ciphertext = new SymmetricCiphertext(keyId, version, blob);
        return true;
    }

    /// <summary>Writes the 22-byte header for a key id and material version.</summary>
    public static byte[] CreateHeader(string keyId, int materialVersion)
    {
        var header = new byte[HeaderLength];
        header[0] = FormatVersion;
        var idBytes = header.AsSpan(2, 16);
        if (keyId.StartsWith("mrk-", StringComparison.Ordinal))
        {
            header[1] = MultiRegionKind;
            Convert.FromHexString(keyId.AsSpan(4), idBytes, out _, out _);
        }
        else
        {
            header[1] = UuidKind;
            Guid.Parse(keyId, CultureInfo.InvariantCulture).TryWriteBytes(idBytes, bigEndian: true, out _);
        }

        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(18, 4), materialVersion);
        return header;
    }

    /// <summary>Assembles header ‖ IV ‖ ciphertext-and-tag.</summary>
    public static byte[] Assemble(ReadOnlySpan<byte> header, ReadOnlySpan<byte> iv, ReadOnlySpan<byte> ciphertextAndTag)
    {
        var blob = new byte[header.Length + iv.Length + ciphertextAndTag.Length];
        header.CopyTo(blob);
        iv.CopyTo(blob.AsSpan(header.Length));
        ciphertextAndTag.CopyTo(blob.AsSpan(header.Length + iv.Length));
        return blob;
    }
}
