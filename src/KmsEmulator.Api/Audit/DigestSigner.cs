using KmsEmulator.Api.Keys;
using KmsEmulator.Hsm;

namespace KmsEmulator.Api.Audit;

/// <summary>Signs digest files (SHA256withRSA) with a private key that never leaves where it is kept.</summary>
public interface IDigestSigner
{
    /// <summary>The signing key's public key as DER SubjectPublicKeyInfo; makes the key on first use.</summary>
    ValueTask<byte[]> GetPublicKeyAsync(CancellationToken cancellationToken);

    /// <summary>RSASSA-PKCS1-v1_5 with SHA-256 over <paramref name="data"/> (hashed by the signer).</summary>
    ValueTask<byte[]> SignAsync(byte[] data, CancellationToken cancellationToken);
}

/// <summary>
/// The digest signing key in the HSM: an RSA-2048 key pair generated on the token on first start, its private key
/// sensitive and non-extractable like every KMS key's. Its label is outside the KMS keys' label prefix
/// (<see cref="KeyWriter.HsmLabelPrefix"/>), so the start-up reconciliation neither checks it as a KMS key nor destroys
/// it (the index only remembers its handle, so finding it at start-up costs no token search), and it is in no key
/// catalogue: no KMS operation can name it.
/// </summary>
public sealed class HsmDigestSigner(IKeyMaterialBackend hsm, IKmsStore store) : IDigestSigner
{
    private readonly SemaphoreSlim _making = new(1, 1);
    private byte[]? _publicKey;

    /// <summary><c>kmsemu-audit/&lt;store id&gt;/digest-signing</c>: one key per data directory, like the KMS keys.</summary>
    public string Label => $"kmsemu-audit/{store.StoreId}/digest-signing";

    public async ValueTask<byte[]> GetPublicKeyAsync(CancellationToken cancellationToken)
    {
        if (_publicKey is { } known)
        {
            return known;
        }

        await _making.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_publicKey is null)
            {
                _publicKey = await hsm.ExistsAsync(Label, cancellationToken).ConfigureAwait(false)
                    ? await hsm.GetPublicKeyAsync(Label, cancellationToken).ConfigureAwait(false)
                    : await hsm.CreateKeyPairAsync(Label, HsmKeySpec.Rsa2048, HsmKeyUsage.SignVerify, cancellationToken).ConfigureAwait(false);
            }

            return _publicKey;
        }
        finally
        {
            _making.Release();
        }
    }

    public async ValueTask<byte[]> SignAsync(byte[] data, CancellationToken cancellationToken)
    {
        await GetPublicKeyAsync(cancellationToken).ConfigureAwait(false);
        return await hsm.SignAsync(Label, SignatureScheme.RsaPkcs1Sha256, data, inputIsDigest: false, cancellationToken).ConfigureAwait(false);
    }
}
