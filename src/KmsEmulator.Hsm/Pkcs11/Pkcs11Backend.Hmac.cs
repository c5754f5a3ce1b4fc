using System.Security.Cryptography;
using KmsEmulator.Hsm.Crypto;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace KmsEmulator.Hsm.Pkcs11;

/// <summary>HMAC keys: generation, MAC and constant-time MAC verification.</summary>
public sealed partial class Pkcs11Backend
{
    /// <inheritdoc />
    public async ValueTask CreateHmacKeyAsync(string label, HsmKeySpec spec, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(label);
        if (!KeySpecs.IsHmac(spec))
        {
            throw new HsmException(HsmErrorKind.InvalidInput, $"{spec} is not an HMAC key spec.");
        }

        await CreateKeyAsync(HsmKeyDescription.Hmac(label, spec), $"an {spec} key", cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask<byte[]> MacAsync(string label, MacAlgorithm algorithm, ReadOnlyMemory<byte> message,
        CancellationToken cancellationToken = default)
    {
        var spec = KeySpecs.HmacSpecOf(algorithm);
        var data = message.ToArray();
        return WithKeyAsync(label, CKO.CKO_SECRET_KEY, "compute a MAC", (session, key) =>
        {
            if (key.KeyType != CKK.CKK_GENERIC_SECRET)
            {
                throw new HsmException(HsmErrorKind.InvalidInput, $"The key '{label}' is not an HMAC key.");
            }

            // A key made elsewhere (e.g. imported) may not report its length; then any algorithm is allowed.
            if (key.Spec is { } keySpec && keySpec != spec)
            {
                throw new HsmException(HsmErrorKind.InvalidInput, $"The key '{label}' is an {keySpec} key; {algorithm} needs an {spec} key.");
            }

            using var mechanism = session.Factories.MechanismFactory.Create(algorithm switch
            {
                MacAlgorithm.HmacSha224 => CKM.CKM_SHA224_HMAC,
                MacAlgorithm.HmacSha256 => CKM.CKM_SHA256_HMAC,
                MacAlgorithm.HmacSha384 => CKM.CKM_SHA384_HMAC,
                _ => CKM.CKM_SHA512_HMAC,
            });
            return session.Sign(mechanism, key.Handle, data);
        }, cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>
    /// The MAC is recomputed in the HSM and compared here with <see cref="CryptographicOperations.FixedTimeEquals"/>:
    /// SoftHSM2's C_Verify for HMAC compares with memcmp.
    /// </remarks>
    public async ValueTask<bool> VerifyMacAsync(string label, MacAlgorithm algorithm, ReadOnlyMemory<byte> message,
        ReadOnlyMemory<byte> mac, CancellationToken cancellationToken = default)
    {
        var expected = await MacAsync(label, algorithm, message, cancellationToken).ConfigureAwait(false);
        try
        {
            return CryptographicOperations.FixedTimeEquals(expected, mac.Span);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(expected);
        }
    }
}
