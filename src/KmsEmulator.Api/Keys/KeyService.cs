using System.Security.Cryptography;
using KmsEmulator.Api.Generated;
using KmsEmulator.Hsm;
using Microsoft.Extensions.Logging;

namespace KmsEmulator.Api.Keys;

/// <summary>
/// The KMS domain: key lifecycle, aliases, tags, policies and symmetric cryptography (asymmetric, HMAC and
/// key-agreement cryptography in KeyService.Asymmetric.cs).
/// Material is created in the HSM before its metadata is committed; metadata changes are persisted before
/// the in-memory catalogue sees them; writers are serialised, readers never wait.
/// </summary>
public sealed partial class KeyService(
    KeyCatalog catalog,
    KeyLifecycle lifecycle,
    IKmsStore store,
    IKeyMaterialBackend hsm,
    ILogger<KeyService> logger) : IDisposable
{
    public const int MaxTagsPerKey = 50;
    private const int MaxEncryptionContextBytes = 8192;

    private readonly SemaphoreSlim _writeLock = new(1, 1);

    /// <summary>HSM objects of keys that were never committed and could not be destroyed at once (e.g. on a full disk).</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> _pendingDestroys = new(StringComparer.Ordinal);

    /// <summary>Labels of uncommitted material still waiting to be destroyed (retried by the sweep).</summary>
    public IReadOnlyCollection<string> PendingDestroys => (IReadOnlyCollection<string>)_pendingDestroys.Keys;

    /// <summary>Prefix of the HSM labels of this store's key material.</summary>
    public string HsmLabelPrefix => $"kmsemu/{store.StoreId}/";

    public void Dispose() => _writeLock.Dispose();

    // ---------------------------------------------------------------- lifecycle

    public async Task<KeyRecord> CreateKeyAsync(KeyScope scope, NewKey request, CancellationToken cancellationToken)
    {
        ValidateTags(request.Tags, []);
        var keyId = request.MultiRegion
            ? "mrk-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16))
            : Guid.NewGuid().ToString("D");
        var now = lifecycle.Now;

        KeyMaterialVersion? material = null;
        if (request.Origin == OriginType.AWS_KMS)
        {
            material = new KeyMaterialVersion(1, NewMaterialId(), MaterialLabel(keyId, 1), now);
            await CreateMaterialAsync(material.HsmLabel, request.KeySpec, request.KeyUsage, cancellationToken);
        }

        var key = new KeyRecord
        {
            Scope = scope,
            KeyId = keyId,
            Description = request.Description,
            KeySpec = request.KeySpec,
            KeyUsage = request.KeyUsage,
            Origin = request.Origin,
            KeyState = material is null ? KeyState.PendingImport : KeyState.Enabled,
            CreationDate = now,
            MultiRegion = request.MultiRegion,
            Policy = request.Policy,
            Materials = material is null ? [] : [material],
            CurrentMaterialVersion = material?.Version ?? 0,
            Tags = [.. request.Tags],
        };

        try
        {
            await store.SaveKeyAsync(key, cancellationToken);
        }
        catch
        {
            // The metadata never committed, so nothing refers to the new material: remove it again. If even that fails
            // (the same full disk, say), the sweep tries again; the original failure is what the caller gets.
            if (material is not null)
            {
                await DestroyUncommittedAsync(material.HsmLabel);
            }

            throw;
        }

        catalog.Put(key);
        return key;
    }

    public Task<KeyRecord> EnableAsync(KeyRecord key, CancellationToken cancellationToken) =>
        UpdateKeyAsync(key, KeyStateRule.EnableDisable, k => k with { KeyState = KeyState.Enabled }, cancellationToken);

    public Task<KeyRecord> DisableAsync(KeyRecord key, CancellationToken cancellationToken) =>
        UpdateKeyAsync(key, KeyStateRule.EnableDisable, k => k with { KeyState = KeyState.Disabled }, cancellationToken);

    public Task<KeyRecord> ScheduleDeletionAsync(KeyRecord key, int pendingWindowInDays, CancellationToken cancellationToken) =>
        UpdateKeyAsync(
            key,
            KeyStateRule.ScheduleDeletion,
            k => k with
            {
                KeyState = KeyState.PendingDeletion,
                DeletionDate = lifecycle.Now.AddDays(pendingWindowInDays),
                PendingDeletionWindowInDays = pendingWindowInDays,
            },
            cancellationToken);

    public Task<KeyRecord> CancelDeletionAsync(KeyRecord key, CancellationToken cancellationToken) =>
        UpdateKeyAsync(key, KeyStateRule.CancelDeletion, k => k with { KeyState = KeyState.Disabled, DeletionDate = null, PendingDeletionWindowInDays = null }, cancellationToken);

    public Task<KeyRecord> UpdateDescriptionAsync(KeyRecord key, string description, CancellationToken cancellationToken) =>
        UpdateKeyAsync(key, KeyStateRule.Management, k => k with { Description = description }, cancellationToken);

    public Task<KeyRecord> PutPolicyAsync(KeyRecord key, string policy, CancellationToken cancellationToken) =>
        UpdateKeyAsync(key, KeyStateRule.Any, k => k with { Policy = policy }, cancellationToken);

    public Task<KeyRecord> TagAsync(KeyRecord key, IReadOnlyList<KeyTag> tags, CancellationToken cancellationToken) =>
        UpdateKeyAsync(
            key,
            KeyStateRule.Management,
            k =>
            {
                ValidateTags(tags, k.Tags);
                var merged = k.Tags.ToList();
                foreach (var tag in tags)
                {
                    var index = merged.FindIndex(t => t.Key == tag.Key);
                    if (index >= 0)
                    {
                        merged[index] = tag;
                    }
                    else
                    {
                        merged.Add(tag);
                    }
                }

                return k with { Tags = [.. merged] };
            },
            cancellationToken);

    public Task<KeyRecord> UntagAsync(KeyRecord key, IReadOnlyCollection<string> tagKeys, CancellationToken cancellationToken)
    {
        if (tagKeys.Any(IsReservedTagKey))
        {
            throw KmsErrors.Tag("Tags beginning with aws: are reserved");
        }

        return UpdateKeyAsync(key, KeyStateRule.Management, k => k with { Tags = [.. k.Tags.Where(t => !tagKeys.Contains(t.Key))] }, cancellationToken);
    }

    /// <summary>
    /// Removes every key whose deletion date has passed (metadata first, then its HSM objects), and destroys the
    /// material of failed creations that could not be destroyed when they failed.
    /// </summary>
    public async Task<int> DeleteExpiredKeysAsync(CancellationToken cancellationToken)
    {
        foreach (var label in _pendingDestroys.Keys)
        {
            _pendingDestroys.TryRemove(label, out _);
            await DestroyUncommittedAsync(label);
        }

        var deleted = 0;
        foreach (var key in lifecycle.ExpiredKeys())
        {
            await _writeLock.WaitAsync(cancellationToken);
            try
            {
                await store.DeleteKeyAsync(key.Scope, key.KeyId, cancellationToken);
                catalog.RemoveKey(key.Scope, key.KeyId);
            }
            finally
            {
                _writeLock.Release();
            }

            // A crash here leaves orphaned HSM objects, which the next start-up reconciliation destroys.
            foreach (var material in key.Materials)
            {
                await hsm.DestroyAsync(material.HsmLabel, cancellationToken);
            }

            LogKeyDeleted(key.KeyId, key.Scope.AccountId, key.Scope.Region);
            deleted++;
        }

        return deleted;
    }

    /// <summary>
    /// Start-up check that store and HSM agree, in one pass over the token (so that no key's first use searches it):
    /// material objects with no metadata row (left by a crash between the two writes) are destroyed; rows whose
    /// material is missing, and keys whose objects are not what was made, are reported and never used.
    /// </summary>
    public async Task<HsmInventory> ReconcileAsync(CancellationToken cancellationToken)
    {
        var expected = new List<HsmKeyDescription>();
        foreach (var key in catalog.AllKeys)
        {
            foreach (var material in key.Materials)
            {
                if (KeySpecCapabilities.For(key.KeySpec).Material is not null)
                {
                    expected.Add(DescribeMaterial(key, material));
                }
            }
        }

        var inventory = await hsm.IndexAsync(HsmLabelPrefix, expected, cancellationToken);
        foreach (var orphan in inventory.Unexpected)
        {
            await hsm.DestroyAsync(orphan, cancellationToken);
            LogOrphanDestroyed(orphan);
        }

        foreach (var missing in inventory.Missing)
        {
            LogMaterialMissing(missing);
        }

        foreach (var defect in inventory.Defective)
        {
            LogMaterialDefective(defect.Label, string.Join("; ", defect.Differences));
        }

        LogReconciled(expected.Count, inventory.KeyObjects, inventory.Unexpected.Count, inventory.Missing.Count, inventory.Defective.Count);
        return inventory;
    }

    // ---------------------------------------------------------------- aliases

    public async Task CreateAliasAsync(KeyScope scope, string aliasName, KeyRecord target, CancellationToken cancellationToken)
    {
        CheckAliasName(aliasName);
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            CheckAliasTarget(scope, target);
            if (catalog.FindAlias(scope, aliasName) is { } existing && lifecycle.FindLive(scope, existing.TargetKeyId) is not null)
            {
                throw KmsErrors.AliasAlreadyExists(scope.AliasArn(aliasName));
            }

            var now = lifecycle.Now;
            var alias = new AliasRecord(scope, aliasName, target.KeyId, now, now);
            await store.SaveAliasAsync(alias, cancellationToken);
            catalog.Put(alias);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public async Task UpdateAliasAsync(KeyScope scope, string aliasName, KeyRecord newTarget, CancellationToken cancellationToken)
    {
        CheckAliasName(aliasName);
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            var alias = FindLiveAlias(scope, aliasName) ?? throw KmsErrors.AliasNotFound(scope.AliasArn(aliasName));
            CheckAliasTarget(scope, newTarget);
            var current = catalog.FindKey(scope, alias.TargetKeyId);
            if (current is not null && !SameKeyType(current, newTarget))
            {
                throw KmsErrors.Validation(
                    $"Alias {alias.Arn} cannot be changed from a key of spec {current.KeySpec.ToWire()} and usage {current.KeyUsage.ToWire()} " +
                    $"to a key of spec {newTarget.KeySpec.ToWire()} and usage {newTarget.KeyUsage.ToWire()}; the new key must have the same type and usage.");
            }

            var updated = alias with { TargetKeyId = newTarget.KeyId, LastUpdatedDate = lifecycle.Now };
            await store.SaveAliasAsync(updated, cancellationToken);
            catalog.Put(updated);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public async Task DeleteAliasAsync(KeyScope scope, string aliasName, CancellationToken cancellationToken)
    {
        CheckAliasName(aliasName);
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            _ = FindLiveAlias(scope, aliasName) ?? throw KmsErrors.AliasNotFound(scope.AliasArn(aliasName));
            await store.DeleteAliasAsync(scope, aliasName, cancellationToken);
            catalog.RemoveAlias(scope, aliasName);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Aliases of a scope (or of one key) whose target key still exists, ordered by name.</summary>
    public List<AliasRecord> ListAliases(KeyScope scope, string? keyId) =>
        (keyId is null ? catalog.AliasesIn(scope) : catalog.AliasesOf(scope, keyId))
        .Where(a => lifecycle.FindLive(scope, a.TargetKeyId) is not null)
        .ToList();

    // ---------------------------------------------------------------- cryptography

    /// <summary>Encrypts under the key's current material; returns the ciphertext blob.</summary>
    public async Task<byte[]> EncryptAsync(KeyRecord key, ReadOnlyMemory<byte> plaintext, IReadOnlyDictionary<string, string>? context, CancellationToken cancellationToken)
    {
        var material = key.CurrentMaterial ?? throw KmsErrors.InvalidState($"{key.Arn} is pending import.");
        var header = SymmetricCiphertext.CreateHeader(key.KeyId, material.Version);
        var aad = BuildAad(header, context);
        var iv = new byte[SymmetricCiphertext.IvLength];
        RandomNumberGenerator.Fill(iv);
        var sealedBytes = await hsm.EncryptAesGcmAsync(material.HsmLabel, iv, aad, plaintext, cancellationToken);
        return SymmetricCiphertext.Assemble(header, iv, sealedBytes);
    }

    /// <summary>Decrypts a blob made by <see cref="EncryptAsync"/> under <paramref name="key"/>.</summary>
    public async Task<(byte[] Plaintext, KeyMaterialVersion Material)> DecryptAsync(
        KeyRecord key, SymmetricCiphertext ciphertext, IReadOnlyDictionary<string, string>? context, CancellationToken cancellationToken)
    {
        var material = key.FindMaterial(ciphertext.MaterialVersion) ?? throw KmsErrors.InvalidCiphertext();
        var aad = BuildAad(ciphertext.Header.Span, context);
        try
        {
            var plaintext = await hsm.DecryptAesGcmAsync(material.HsmLabel, ciphertext.Iv, aad, ciphertext.CiphertextAndTag, cancellationToken);
            return (plaintext, material);
        }
        catch (HsmException e) when (e.Kind is HsmErrorKind.AuthenticationFailed or HsmErrorKind.InvalidInput)
        {
            throw KmsErrors.InvalidCiphertext();
        }
    }

    /// <summary>Random bytes from the HSM's generator.</summary>
    public async Task<byte[]> GenerateRandomAsync(int count, CancellationToken cancellationToken) =>
        await hsm.GenerateRandomAsync(count, cancellationToken);

    // ---------------------------------------------------------------- helpers

    /// <summary>
    /// Applies <paramref name="change"/> to the key's current record under the write lock, after checking again that
    /// the key's state (which may have changed since the pipeline looked) still allows the operation.
    /// </summary>
    private async Task<KeyRecord> UpdateKeyAsync(KeyRecord key, KeyStateRule rule, Func<KeyRecord, KeyRecord> change, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            var current = lifecycle.FindLive(key.Scope, key.KeyId) ?? throw KmsErrors.KeyDoesNotExist(key.Arn);
            KeyStateRules.Check(rule, current);
            var updated = change(current);
            await store.SaveKeyAsync(updated, cancellationToken);
            catalog.Put(updated);
            return updated;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Destroys material that no committed key refers to; on failure it is kept for the next sweep.</summary>
    private async Task DestroyUncommittedAsync(string label)
    {
        try
        {
            await hsm.DestroyAsync(label, CancellationToken.None);
        }
        catch (Exception e) when (e is HsmException or ObjectDisposedException)
        {
            _pendingDestroys[label] = 0;
            LogDestroyDeferred(label, e.Message);
        }
    }

    private AliasRecord? FindLiveAlias(KeyScope scope, string aliasName) =>
        catalog.FindAlias(scope, aliasName) is { } alias && lifecycle.FindLive(scope, alias.TargetKeyId) is not null ? alias : null;

    private static byte[] BuildAad(ReadOnlySpan<byte> header, IReadOnlyDictionary<string, string>? context)
    {
        // Measured before encoding: the encoding's 2-byte length fields cannot hold arbitrarily long keys or values.
        var size = context?.Sum(pair => System.Text.Encoding.UTF8.GetByteCount(pair.Key) + System.Text.Encoding.UTF8.GetByteCount(pair.Value)) ?? 0;
        if (size > MaxEncryptionContextBytes)
        {
            throw KmsErrors.Validation($"The encryption context is too large; KmsEmulator accepts at most {MaxEncryptionContextBytes} bytes of keys and values.");
        }

        return EncryptionContextEncoding.BuildAad(header, context);
    }

    /// <summary>
    /// Under the write lock: an alias's key must be in the alias's own account and Region, still exist, and be in a
    /// state that allows aliasing (not pending deletion) at the moment the alias is written.
    /// </summary>
    private void CheckAliasTarget(KeyScope scope, KeyRecord target)
    {
        if (target.Scope != scope)
        {
            throw KmsErrors.Validation($"An alias and its KMS key must be in the same AWS account and Region; {target.Arn} is not in {scope.AccountId} {scope.Region}.");
        }

        var live = lifecycle.FindLive(target.Scope, target.KeyId) ?? throw KmsErrors.KeyDoesNotExist(target.Arn);
        KeyStateRules.Check(KeyStateRule.Management, live);
    }

    private static void CheckAliasName(string aliasName)
    {
        if (!aliasName.StartsWith("alias/", StringComparison.Ordinal))
        {
            throw KmsErrors.AliasMissingPrefix();
        }

        if (aliasName.StartsWith("alias/aws/", StringComparison.Ordinal))
        {
            throw KmsErrors.ReservedAlias(aliasName);
        }

        if (aliasName.Length == "alias/".Length)
        {
            throw KmsErrors.InvalidAliasName("Alias name must have at least one character after \"alias/\".");
        }
    }

    private static bool SameKeyType(KeyRecord a, KeyRecord b) =>
        a.KeyUsage == b.KeyUsage && (a.KeySpec == KeySpec.SYMMETRIC_DEFAULT) == (b.KeySpec == KeySpec.SYMMETRIC_DEFAULT);

    private static void ValidateTags(IReadOnlyList<KeyTag> tags, IReadOnlyList<KeyTag> existing)
    {
        if (tags.Any(t => IsReservedTagKey(t.Key)))
        {
            throw KmsErrors.Tag("Tags beginning with aws: are reserved");
        }

        if (tags.Select(t => t.Key).Distinct(StringComparer.Ordinal).Count() != tags.Count)
        {
            throw KmsErrors.Tag("Duplicate tag keys");
        }

        var total = existing.Select(t => t.Key).Union(tags.Select(t => t.Key), StringComparer.Ordinal).Count();
        if (total > MaxTagsPerKey)
        {
            throw KmsErrors.Tag("Too many tags");
        }
    }

    private static bool IsReservedTagKey(string key) => key.StartsWith("aws:", StringComparison.OrdinalIgnoreCase);

    private string MaterialLabel(string keyId, int version) => $"{HsmLabelPrefix}{keyId}/{version}";

    private static string NewMaterialId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    [LoggerMessage(Level = LogLevel.Information, Message = "Deleted key {KeyId} in {AccountId}/{Region} after its waiting period")]
    private partial void LogKeyDeleted(string keyId, string accountId, string region);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Destroyed HSM object {Label}: no key metadata refers to it (left by an interrupted CreateKey)")]
    private partial void LogOrphanDestroyed(string label);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not destroy the HSM objects {Label} of a key that was never committed ({Reason}); the deletion sweep tries again")]
    private partial void LogDestroyDeferred(string label, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Key material {Label} is recorded in the store but missing from the HSM token")]
    private partial void LogMaterialMissing(string label);

    [LoggerMessage(Level = LogLevel.Error, Message = "Key material {Label} is not what was made and will not be used: {Differences}")]
    private partial void LogMaterialDefective(string label, string differences);

    [LoggerMessage(Level = LogLevel.Information, Message = "HSM index: {Materials} key materials expected, {Objects} key objects on the token; {Orphans} orphans destroyed, {Missing} missing, {Defective} defective")]
    private partial void LogReconciled(int materials, int objects, int orphans, int missing, int defective);
}
