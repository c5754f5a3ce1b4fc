namespace KmsEmulator.Api.Keys;

/// <summary>
/// Durable key metadata, aliases, tags and grants. Every method is one transaction. Key bytes never pass through here.
/// </summary>
public interface IKmsStore
{
    /// <summary>Identifies this store; HSM object labels carry it so that several stores can share a token.</summary>
    string StoreId { get; }

    /// <summary>Everything, for the in-memory catalogue at start-up (each key with its grants).</summary>
    Task<StoreSnapshot> LoadAsync(CancellationToken cancellationToken = default);

    /// <summary>Inserts or replaces a key with its material versions and tags.</summary>
    Task SaveKeyAsync(KeyRecord key, CancellationToken cancellationToken = default);

    /// <summary>Deletes a key, its material rows, tags, aliases and grants.</summary>
    Task DeleteKeyAsync(KeyScope scope, string keyId, CancellationToken cancellationToken = default);

    /// <summary>Inserts or replaces an alias.</summary>
    Task SaveAliasAsync(AliasRecord alias, CancellationToken cancellationToken = default);

    Task DeleteAliasAsync(KeyScope scope, string aliasName, CancellationToken cancellationToken = default);

    /// <summary>Inserts a grant on a key.</summary>
    Task SaveGrantAsync(KeyScope scope, string keyId, GrantRecord grant, CancellationToken cancellationToken = default);

    /// <summary>Deletes a grant of a key (retired or revoked).</summary>
    Task DeleteGrantAsync(KeyScope scope, string keyId, string grantId, CancellationToken cancellationToken = default);
}

/// <summary>The whole store at one moment.</summary>
public sealed record StoreSnapshot(IReadOnlyList<KeyRecord> Keys, IReadOnlyList<AliasRecord> Aliases);
