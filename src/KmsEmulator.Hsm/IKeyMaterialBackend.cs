namespace KmsEmulator.Hsm;

/// <summary>
/// The domain-facing seam to the HSM. Callers name key material by a stable label that the
/// metadata store records; they never see PKCS#11 handles, sessions or return codes.
/// Every method may throw <see cref="HsmException"/>.
/// </summary>
public interface IKeyMaterialBackend
{
    /// <summary>True once the token is initialised, the user is logged in and the session pool is ready.</summary>
    bool IsReady { get; }

    /// <summary>Generates a 256-bit AES key as a private, sensitive, non-extractable token object.</summary>
    ValueTask CreateAesKeyAsync(string label, CancellationToken cancellationToken = default);

    /// <summary>AES-256-GCM inside the HSM. Returns ciphertext followed by the 16-byte tag.</summary>
    ValueTask<byte[]> EncryptAesGcmAsync(string label, ReadOnlyMemory<byte> iv, ReadOnlyMemory<byte> aad, ReadOnlyMemory<byte> plaintext, CancellationToken cancellationToken = default);

    /// <summary>
    /// AES-256-GCM decryption inside the HSM. <paramref name="ciphertextAndTag"/> is ciphertext followed by the tag.
    /// A failed authentication throws <see cref="HsmException"/> with <see cref="HsmErrorKind.AuthenticationFailed"/>.
    /// </summary>
    ValueTask<byte[]> DecryptAesGcmAsync(string label, ReadOnlyMemory<byte> iv, ReadOnlyMemory<byte> aad, ReadOnlyMemory<byte> ciphertextAndTag, CancellationToken cancellationToken = default);

    /// <summary>Fills <paramref name="count"/> bytes from the HSM's random generator.</summary>
    ValueTask<byte[]> GenerateRandomAsync(int count, CancellationToken cancellationToken = default);

    /// <summary>Destroys the object(s) with this label. Missing objects are not an error.</summary>
    ValueTask DestroyAsync(string label, CancellationToken cancellationToken = default);

    /// <summary>True when an object with this label exists on the token.</summary>
    ValueTask<bool> ExistsAsync(string label, CancellationToken cancellationToken = default);

    /// <summary>Labels of all token objects whose label starts with <paramref name="prefix"/> (for start-up reconciliation).</summary>
    ValueTask<IReadOnlyList<string>> ListLabelsAsync(string prefix, CancellationToken cancellationToken = default);
}
