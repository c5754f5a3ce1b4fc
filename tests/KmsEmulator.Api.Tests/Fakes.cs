using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Storage;
using KmsEmulator.Hsm;

namespace KmsEmulator.Api.Tests;

/// <summary>A store for tests that must not reach storage.</summary>
internal class UnusedStore : IKmsStore
{
    public virtual string StoreId => "unused";

    public virtual Task<StoreSnapshot> LoadAsync(CancellationToken cancellationToken = default) => throw Unexpected();

    public Task<StoreSnapshot> LoadSomeAsync(IReadOnlyCollection<string> keyIds, IReadOnlyCollection<string> aliasNames, CancellationToken cancellationToken = default) => throw Unexpected();

    public Task<StoreChanges> ReadChangesAsync(long after, int limit, CancellationToken cancellationToken = default) => throw Unexpected();

    // Housekeeping the lifecycle sweep does every time: nothing to prune here.
    public virtual Task PruneChangesAsync(int keep, CancellationToken cancellationToken = default) => Task.CompletedTask;

    public virtual Task SaveKeyAsync(KeyRecord key, CancellationToken cancellationToken = default) => throw Unexpected();

    public virtual async Task SaveKeysAsync(IReadOnlyList<KeyRecord> keys, CancellationToken cancellationToken = default)
    {
        foreach (var key in keys)
        {
            await SaveKeyAsync(key, cancellationToken);
        }
    }

    public virtual Task<bool> DeleteKeyAsync(KeyVersion current, CancellationToken cancellationToken = default) => throw Unexpected();

    public Task SaveAliasAsync(AliasRecord alias, IReadOnlyList<KeyVersion> next, CancellationToken cancellationToken = default) => throw Unexpected();

    public Task DeleteAliasAsync(KeyVersion next, string aliasName, CancellationToken cancellationToken = default) => throw Unexpected();

    public Task SaveGrantAsync(KeyVersion next, GrantRecord grant, CancellationToken cancellationToken = default) => throw Unexpected();

    public Task DeleteGrantAsync(KeyVersion next, string grantId, CancellationToken cancellationToken = default) => throw Unexpected();

    public virtual Task<(int Keys, int Aliases)> DeleteAllAsync(CancellationToken cancellationToken = default) => throw Unexpected();

    private static InvalidOperationException Unexpected() => new("This test must not touch the store.");
}

/// <summary>An HSM for tests that must not reach the HSM.</summary>
internal class UnusedHsm : IKeyMaterialBackend
{
    public bool IsReady => false;

    public virtual ValueTask CreateAesKeyAsync(string label, CancellationToken cancellationToken = default) => throw Unexpected();

    public ValueTask<byte[]> EncryptAesGcmAsync(string label, ReadOnlyMemory<byte> iv, ReadOnlyMemory<byte> aad, ReadOnlyMemory<byte> plaintext, CancellationToken cancellationToken = default) => throw Unexpected();

    public ValueTask<byte[]> DecryptAesGcmAsync(string label, ReadOnlyMemory<byte> iv, ReadOnlyMemory<byte> aad, ReadOnlyMemory<byte> ciphertextAndTag, CancellationToken cancellationToken = default) => throw Unexpected();

    public virtual ValueTask<byte[]> GenerateRandomAsync(int count, CancellationToken cancellationToken = default) => throw Unexpected();

    public virtual ValueTask DestroyAsync(string label, CancellationToken cancellationToken = default) => throw Unexpected();

    public virtual ValueTask<int> DestroyManyAsync(IReadOnlySet<string> labels, CancellationToken cancellationToken = default) => throw Unexpected();

    public ValueTask<bool> ExistsAsync(string label, CancellationToken cancellationToken = default) => throw Unexpected();

    public virtual ValueTask<HsmInventory> IndexAsync(string labelPrefix, IReadOnlyCollection<HsmKeyDescription> expected, CancellationToken cancellationToken = default) => throw Unexpected();

    public IReadOnlyDictionary<string, IReadOnlyList<string>> Defects => throw Unexpected();

    public ValueTask<byte[]> CreateKeyPairAsync(string label, HsmKeySpec spec, HsmKeyUsage usage, CancellationToken cancellationToken = default) => throw Unexpected();

    public ValueTask CreateHmacKeyAsync(string label, HsmKeySpec spec, CancellationToken cancellationToken = default) => throw Unexpected();

    public ValueTask<byte[]> GetPublicKeyAsync(string label, CancellationToken cancellationToken = default) => throw Unexpected();

    public ValueTask<byte[]> SignAsync(string label, SignatureScheme scheme, ReadOnlyMemory<byte> input, bool inputIsDigest, CancellationToken cancellationToken = default) => throw Unexpected();

    public ValueTask<bool> VerifyAsync(string label, SignatureScheme scheme, ReadOnlyMemory<byte> input, bool inputIsDigest, ReadOnlyMemory<byte> signature, CancellationToken cancellationToken = default) => throw Unexpected();

    public ValueTask<byte[]> EncryptRsaAsync(string label, RsaEncryptionScheme scheme, ReadOnlyMemory<byte> plaintext, CancellationToken cancellationToken = default) => throw Unexpected();

    public ValueTask<byte[]> DecryptRsaAsync(string label, RsaEncryptionScheme scheme, ReadOnlyMemory<byte> ciphertext, CancellationToken cancellationToken = default) => throw Unexpected();

    public ValueTask<byte[]> MacAsync(string label, MacAlgorithm algorithm, ReadOnlyMemory<byte> message, CancellationToken cancellationToken = default) => throw Unexpected();

    public ValueTask<bool> VerifyMacAsync(string label, MacAlgorithm algorithm, ReadOnlyMemory<byte> message, ReadOnlyMemory<byte> mac, CancellationToken cancellationToken = default) => throw Unexpected();

    public ValueTask<byte[]> DeriveSharedSecretAsync(string label, ReadOnlyMemory<byte> peerPublicKeySpki, CancellationToken cancellationToken = default) => throw Unexpected();

    public ValueTask<HsmDataKeyPair> GenerateDataKeyPairAsync(HsmKeySpec spec, CancellationToken cancellationToken = default) => throw Unexpected();

    public ValueTask<byte[]> ImportKeyPairAsync(string wrappingLabel, ImportWrappingAlgorithm algorithm, ReadOnlyMemory<byte> encryptedKeyMaterial, HsmKeyDescription target, CancellationToken cancellationToken = default) => throw Unexpected();

    public ValueTask<byte[]> ImportSecretKeyAsync(string wrappingLabel, ImportWrappingAlgorithm algorithm, ReadOnlyMemory<byte> encryptedKeyMaterial, HsmKeyDescription target, CancellationToken cancellationToken = default) => throw Unexpected();

    public ValueTask<byte[]> CheckValueOfSecretAsync(HsmKeySpec spec, ReadOnlyMemory<byte> material, CancellationToken cancellationToken = default) => throw Unexpected();

    public virtual ValueTask CopyKeyAsync(string sourceLabel, HsmKeyDescription target, CancellationToken cancellationToken = default) => throw Unexpected();

    private static InvalidOperationException Unexpected() => new("This test must not touch the HSM.");
}
