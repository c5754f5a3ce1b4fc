using System.Security.Cryptography;

namespace KmsEmulator.Hsm.Crypto;

/// <summary>
/// EME-OAEP decoding (RFC 8017 §7.1.2 step 3) with an empty label, for hashes the HSM cannot do in CKM_RSA_PKCS_OAEP.
/// The HSM does the raw RSA step (CKM_RSA_X_509); this class removes the padding. Every check is folded into one
/// flag that is tested once at the end, so a failure does not reveal which check failed or where.
/// </summary>
internal static class Oaep
{
    /// <summary>Largest plaintext for a modulus of <paramref name="modulusBytes"/> bytes.</summary>
    public static int MaxMessageBytes(int modulusBytes, HashAlgorithmName hash) =>
        modulusBytes - (2 * SignatureSchemes.DigestBytes(hash)) - 2;

    /// <summary>Decodes the encoded message <paramref name="encoded"/> (modulus-length bytes); false when the padding is wrong.</summary>
    public static bool TryDecode(ReadOnlySpan<byte> encoded, HashAlgorithmName hash, out byte[] message)
    {
        message = [];
        var hashBytes = SignatureSchemes.DigestBytes(hash);
        if (encoded.Length < (2 * hashBytes) + 2)
        {
            return false; // depends on the key size only, not on the ciphertext
        }

        var buffer = encoded.ToArray();
        try
        {
            var seed = buffer.AsSpan(1, hashBytes);
            var db = buffer.AsSpan(1 + hashBytes);
            Mgf1Xor(hash, db, seed);
            Mgf1Xor(hash, seed, db);

            var emptyLabelHash = CryptographicOperations.HashData(hash, ReadOnlySpan<byte>.Empty);
            var bad = buffer[0];
            bad |= (byte)(CryptographicOperations.FixedTimeEquals(db[..hashBytes], emptyLabelHash) ? 0 : 1);

            // After lHash comes PS (zero or more 0x00), then 0x01, then the message.
            var lookingForOne = 1;
            var oneIndex = 0;
            for (var i = hashBytes; i < db.Length; i++)
            {
                var isOne = IsZero(db[i] ^ 1);
                var isZero = IsZero(db[i]);
                var found = lookingForOne & isOne;
                oneIndex ^= (oneIndex ^ i) & -found;
                bad |= (byte)(lookingForOne & ~(isOne | isZero) & 1);
                lookingForOne &= ~isOne & 1;
            }

            bad |= (byte)lookingForOne;
            if (bad != 0)
            {
                return false;
            }

            message = db[(oneIndex + 1)..].ToArray();
            return true;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(buffer);
        }
    }

    /// <summary>1 when <paramref name="value"/> (0..255) is zero, else 0, without a branch.</summary>
    private static int IsZero(int value) => (value - 1) >>> 31;

    /// <summary>XORs MGF1(<paramref name="seed"/>) into <paramref name="target"/>.</summary>
    private static void Mgf1Xor(HashAlgorithmName hash, ReadOnlySpan<byte> seed, Span<byte> target)
    {
        var hashBytes = SignatureSchemes.DigestBytes(hash);
        var input = new byte[seed.Length + 4];
        var mask = new byte[hashBytes];
        try
        {
            seed.CopyTo(input);
            for (uint counter = 0, offset = 0; offset < target.Length; counter++, offset += (uint)hashBytes)
            {
                System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(input.AsSpan(seed.Length), counter);
                CryptographicOperations.HashData(hash, input, mask);
                var chunk = target[(int)offset..][..Math.Min(hashBytes, target.Length - (int)offset)];
                for (var i = 0; i < chunk.Length; i++)
                {
                    chunk[i] ^= mask[i];
                }
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(input);
            CryptographicOperations.ZeroMemory(mask);
        }
    }
}
