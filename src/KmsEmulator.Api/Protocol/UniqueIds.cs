using System.Buffers.Binary;
using System.Security.Cryptography;

namespace KmsEmulator.Api.Protocol;

/// <summary>
/// Random UUIDs for the ids every request gets (its request id, its audit event id), taken from a per-thread buffer of
/// cryptographically random bytes that is refilled 256 ids at a time.
/// </summary>
/// <remarks>
/// <see cref="Guid.NewGuid"/> asks the operating system for 16 random bytes each time; on Debian 12 (glibc 2.36) that
/// is a <c>getrandom</c> system call per id, two per request, which a profile showed on the request path. The ids are
/// the same kind: version 4 (RFC 9562, 122 random bits) and version 7 (a Unix-millisecond timestamp, then 74 random
/// bits, as <see cref="Guid.CreateVersion7(DateTimeOffset)"/> makes them). Bytes are wiped from the buffer once used.
/// </remarks>
internal static class UniqueIds
{
    private const int BufferBytes = 4096;

    [ThreadStatic]
    private static byte[]? t_random;

    [ThreadStatic]
    private static int t_used;

    /// <summary>A random (version 4) UUID.</summary>
    public static Guid NewVersion4()
    {
        Span<byte> bytes = stackalloc byte[16];
        Take(bytes);
        return Finish(bytes, version: 4);
    }

    /// <summary>A time-ordered (version 7) UUID for <paramref name="time"/>.</summary>
    public static Guid NewVersion7(DateTimeOffset time)
    {
        Span<byte> bytes = stackalloc byte[16];
        Take(bytes);
        Span<byte> milliseconds = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(milliseconds, time.ToUnixTimeMilliseconds());
        milliseconds[2..].CopyTo(bytes); // The low 48 bits, most significant first.
        return Finish(bytes, version: 7);
    }

    /// <summary>Sets the version and the RFC 9562 variant and reads the bytes in the RFC's (big-endian) order.</summary>
    private static Guid Finish(Span<byte> bytes, int version)
    {
        bytes[6] = (byte)((bytes[6] & 0x0F) | (version << 4));
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80);
        return new Guid(bytes, bigEndian: true);
    }

    private static void Take(Span<byte> into)
    {
        var random = t_random ??= new byte[BufferBytes];
        if (t_used == 0 || t_used + into.Length > BufferBytes)
        {
            RandomNumberGenerator.Fill(random);
            t_used = 0;
        }

        var slice = random.AsSpan(t_used, into.Length);
        slice.CopyTo(into);
        slice.Clear();
        t_used += into.Length;
        if (t_used == BufferBytes)
        {
            t_used = 0;
        }
    }
}
