using System.Security.Cryptography;
using KmsEmulator.Api.Generated;
using KmsEmulator.Hsm;

namespace KmsEmulator.Api.Keys;

/// <summary>
/// The writes of imported key material (Origin EXTERNAL): wrapping parameters, the import itself, deleting the material,
/// and dropping expired parameters. They follow the writer's protocol: HSM objects first, then the commit, and HSM
/// objects that no committed record refers to are destroyed (or, when that fails, by the sweep or at start-up).
/// </summary>
public sealed partial class KeyWriter
{
    /// <summary>
    /// GetParametersForImport: makes an import wrapping key pair in the HSM (outside the lock: an RSA-4096 pair can take
    /// seconds), then commits <paramref name="parameters"/> to the key after <paramref name="check"/> accepted its
    /// current record. Returns the wrapping public key as SubjectPublicKeyInfo.
    /// </summary>
    public async Task<byte[]> AddImportParametersAsync(KeyRecord key, ImportParameters parameters, HsmKeySpec wrappingSpec,
        Action<KeyRecord> check, CancellationToken cancellationToken)
    {
        var publicKey = await hsm.CreateKeyPairAsync(parameters.HsmLabel, wrappingSpec, HsmKeyUsage.ImportWrapping, cancellationToken);
        try
        {
            await ExclusiveAsync(
                () => CommitKeyAsync(key.Scope, key.KeyId, current =>
                {
                    var live = Live(key, current);
                    check(live);
                    return live with { ImportParameters = live.ImportParameters.Add(parameters) };
                }, cancellationToken),
                cancellationToken);
            return publicKey;
        }
        catch
        {
            await DestroyUncommittedAsync(parameters.HsmLabel);
            throw;
        }
    }

    /// <summary>The HSM label a wrapping key pair of <paramref name="keyId"/> gets.</summary>
    public string WrappingKeyLabel(string keyId, string tokenId) => $"{HsmLabelPrefix}{keyId}/wrap-{tokenId[..16]}";

    /// <summary>
    /// ImportKeyMaterial, under the lock (one import of a key at a time): <paramref name="select"/> checks the key's
    /// current record and returns the import parameters the token names; the material is unwrapped in the HSM by
    /// <paramref name="unwrap"/> into the key's material object when the key has none, or else into a scratch object
    /// that only serves to compare the material; <paramref name="change"/> gets the current record, the material's
    /// check value and material version, and returns the record to commit (it refuses different material). Nothing the
    /// commit does not refer to stays in the HSM.
    /// </summary>
    public Task<KeyRecord> ImportMaterialAsync(
        KeyRecord key,
        Func<KeyRecord, ImportParameters> select,
        Func<ImportParameters, HsmKeyDescription, Task<byte[]>> unwrap,
        Func<KeyRecord, string, KeyMaterialVersion, KeyRecord> change,
        DateTimeOffset now,
        CancellationToken cancellationToken) =>
        ExclusiveAsync(
            async () =>
            {
                var live = Live(key, catalog.FindKey(key.Scope, key.KeyId));
                var parameters = select(live);
                var material = live.Materials.FirstOrDefault() ?? NewMaterial(live.Scope, live.KeyId, 1, now);
                var present = live.Import is { Present: true };
                var label = present ? $"{HsmLabelPrefix}{live.KeyId}/import-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}" : material.HsmLabel;
                var checkValue = Convert.ToHexStringLower(await unwrap(parameters, DescribeMaterial(label, live.KeySpec, live.KeyUsage) with { Imported = true }));
                var committed = false;
                try
                {
                    var next = await CommitKeyAsync(live.Scope, live.KeyId, current => change(Live(key, current), checkValue, material), cancellationToken);
                    committed = true;
                    return next;
                }
                finally
                {
                    // A scratch copy never stays; the key's own object stays only when the commit refers to it.
                    if (present || !committed)
                    {
                        await DestroyUncommittedAsync(label);
                    }
                }
            },
            cancellationToken);

    /// <summary>
    /// DeleteImportedKeyMaterial and expiry: when <paramref name="decide"/> returns the record without its material,
    /// commits it and then destroys the material's HSM object (a crash in between leaves an orphan that start-up
    /// reconciliation destroys). Returns the committed record, or null when <paramref name="decide"/> returned null.
    /// </summary>
    public async Task<KeyRecord?> DeleteImportedMaterialAsync(KeyRecord key, Func<KeyRecord, KeyRecord?> decide, CancellationToken cancellationToken)
    {
        KeyRecord? before = null;
        var after = await ExclusiveAsync(
            async () =>
            {
                var live = Live(key, catalog.FindKey(key.Scope, key.KeyId));
                if (decide(live) is not { } next)
                {
                    return null;
                }

                before = live;
                return await CommitKeyAsync(live.Scope, live.KeyId, _ => next, cancellationToken);
            },
            cancellationToken);
        if (after is not null && before is { Import.Present: true })
        {
            foreach (var material in before.Materials)
            {
                await DestroyUncommittedAsync(material.HsmLabel);
            }
        }

        return after;
    }

    /// <summary>Drops the import parameters of <paramref name="key"/> that expired by <paramref name="now"/>, then destroys their wrapping key pairs.</summary>
    public Task DropExpiredImportParametersAsync(KeyRecord key, DateTimeOffset now, CancellationToken cancellationToken) =>
        DropImportParametersAsync(key, p => p.ValidTo <= now, cancellationToken);

    /// <summary>Drops the import parameters of <paramref name="key"/> that <paramref name="drop"/> picks, then destroys their wrapping key pairs.</summary>
    public async Task DropImportParametersAsync(KeyRecord key, Func<ImportParameters, bool> drop, CancellationToken cancellationToken)
    {
        var expired = await ExclusiveAsync(
            async () =>
            {
                if (catalog.FindKey(key.Scope, key.KeyId) is not { } live)
                {
                    return [];
                }

                var gone = live.ImportParameters.Where(drop).ToList();
                if (gone.Count > 0)
                {
                    await CommitKeyAsync(live.Scope, live.KeyId, _ => live with { ImportParameters = live.ImportParameters.RemoveRange(gone) }, cancellationToken);
                }

                return gone;
            },
            cancellationToken);
        foreach (var parameters in expired)
        {
            await DestroyUncommittedAsync(parameters.HsmLabel);
        }
    }
}
