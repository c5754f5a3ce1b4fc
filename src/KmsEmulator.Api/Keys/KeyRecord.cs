using System.Collections.Immutable;
using KmsEmulator.Api.Generated;

namespace KmsEmulator.Api.Keys;

/// <summary>
/// One KMS key's metadata. Immutable: a change produces a new record, at the next <see cref="Version"/>, which the
/// store persists and the catalogue swaps in (both through <see cref="KeyWriter"/>). Key material never appears here,
/// only the labels of its HSM objects.
/// </summary>
public sealed record KeyRecord
{
    /// <summary>
    /// Which version of the stored key this record is: 1 when created, one more after every write to the key (state,
    /// description, policy, tags, material, aliases, grants). Not a material version (<see cref="CurrentMaterialVersion"/>).
    /// </summary>
    public long Version { get; init; } = 1;

    public required KeyScope Scope { get; init; }

    public required string KeyId { get; init; }

    public required string Description { get; init; }

    public required KeySpec KeySpec { get; init; }

    public required KeyUsageType KeyUsage { get; init; }

    public required OriginType Origin { get; init; }

    public KeyManagerType KeyManager { get; init; } = KeyManagerType.CUSTOMER;

    public required KeyState KeyState { get; init; }

    public required DateTimeOffset CreationDate { get; init; }

    public DateTimeOffset? DeletionDate { get; init; }

    public int? PendingDeletionWindowInDays { get; init; }

    public bool MultiRegion { get; init; }

    /// <summary>
    /// For a multi-Region key, the region of its set's primary key (this key's own region when it is the primary, or
    /// when it is a multi-Region key without replicas); null for single-Region keys.
    /// </summary>
    public string? PrimaryRegion { get; init; }

    /// <summary>
    /// The state a key in a transient state (Creating after ReplicateKey, Updating after UpdatePrimaryRegion) takes at
    /// the next lifecycle sweep; null otherwise.
    /// </summary>
    public KeyState? SettledState { get; init; }

    /// <summary>True for the primary key of a multi-Region key.</summary>
    public bool IsMultiRegionPrimary => MultiRegion && (PrimaryRegion is null || PrimaryRegion == Scope.Region);

    /// <summary>True for a replica key of a multi-Region key.</summary>
    public bool IsMultiRegionReplica => MultiRegion && PrimaryRegion is not null && PrimaryRegion != Scope.Region;

    /// <summary>The key policy document, exactly as given or the default policy.</summary>
    public required string Policy { get; init; }

    /// <summary>Material versions, oldest first. Empty for keys whose material is not there yet (PendingImport).</summary>
    public ImmutableArray<KeyMaterialVersion> Materials { get; init; } = [];

    /// <summary>Version number (1-based) of the material that new ciphertexts use; 0 when there is none.</summary>
    public int CurrentMaterialVersion { get; init; }

    /// <summary>Whether automatic rotation is on (EnableKeyRotation).</summary>
    public bool RotationEnabled { get; init; }

    /// <summary>The automatic rotation period while rotation is on (90-2560 days).</summary>
    public int? RotationPeriodInDays { get; init; }

    /// <summary>When automatic rotation next adds a material version, while rotation is on.</summary>
    public DateTimeOffset? NextRotationDate { get; init; }

    /// <summary>Tags in the order they were first added.</summary>
    public ImmutableArray<KeyTag> Tags { get; init; } = [];

    /// <summary>Origin EXTERNAL: the imported material's identity and state; null until material was first imported.</summary>
    public ImportedMaterial? Import { get; init; }

    /// <summary>Origin EXTERNAL: the unexpired wrapping key pairs and import tokens GetParametersForImport handed out.</summary>
    public ImmutableArray<ImportParameters> ImportParameters { get; init; } = [];

    /// <summary>The grants on the key, by grant id. Grants are persisted one by one, never by saving the key.</summary>
    public ImmutableSortedDictionary<string, GrantRecord> Grants { get; init; } = NoGrants;

    /// <summary>The empty grant collection (ordinal grant-id order), shared by every key without grants.</summary>
    public static ImmutableSortedDictionary<string, GrantRecord> NoGrants { get; } = ImmutableSortedDictionary.Create<string, GrantRecord>(StringComparer.Ordinal);

    public string Arn => Scope.KeyArn(KeyId);

    public KeyMaterialVersion? CurrentMaterial => FindMaterial(CurrentMaterialVersion);

    public KeyMaterialVersion? FindMaterial(int version)
    {
        foreach (var material in Materials)
        {
            if (material.Version == version)
            {
                return material;
            }
        }

        return null;
    }
}

/// <summary>One version of a key's material: where it lives in the HSM and its public id.</summary>
/// <param name="Version">1-based version number, written into every ciphertext made with it.</param>
/// <param name="MaterialId">The 64-hex KeyMaterialId that AWS returns.</param>
/// <param name="HsmLabel">CKA_LABEL of the HSM object holding the material.</param>
/// <param name="CreatedAt">When the version was created.</param>
/// <param name="RotationType">How a rotation made it (<c>AUTOMATIC</c>, <c>ON_DEMAND</c>); null for a key's first material.</param>
public sealed record KeyMaterialVersion(int Version, string MaterialId, string HsmLabel, DateTimeOffset CreatedAt, string? RotationType = null);

/// <summary>The imported key material of a key with Origin EXTERNAL (one material per key).</summary>
/// <param name="CheckValue">Hex check value the HSM computed with the material: the same value means the same material.</param>
/// <param name="Present">True while the HSM holds the material; false after DeleteImportedKeyMaterial or expiry.</param>
/// <param name="ExpirationModel">Wire ExpirationModelType of the current import; null while the material is absent.</param>
/// <param name="ValidTo">When the material expires (KEY_MATERIAL_EXPIRES); null otherwise.</param>
/// <param name="Description">KeyMaterialDescription of the last import that gave one.</param>
/// <param name="StateAfterImport">The state a re-import returns the key to (it was Enabled or Disabled when its material went).</param>
public sealed record ImportedMaterial(
    string CheckValue, bool Present, string? ExpirationModel, DateTimeOffset? ValidTo, string? Description, KeyState StateAfterImport);

/// <summary>One GetParametersForImport answer: the wrapping key pair in the HSM and what its import token is bound to.</summary>
/// <param name="TokenId">The random id (hex) the import token carries; the token is only valid for the key holding this entry.</param>
/// <param name="HsmLabel">CKA_LABEL of the wrapping key pair.</param>
/// <param name="WrappingKeySpec">Wire WrappingKeySpec (RSA_2048, RSA_3072, RSA_4096).</param>
/// <param name="WrappingAlgorithm">Wire AlgorithmSpec the material must be wrapped with.</param>
/// <param name="ValidTo">ParametersValidTo: 24 hours after issue.</param>
public sealed record ImportParameters(string TokenId, string HsmLabel, string WrappingKeySpec, string WrappingAlgorithm, DateTimeOffset CreatedAt, DateTimeOffset ValidTo);

/// <summary>A tag on a key.</summary>
public sealed record KeyTag(string Key, string Value);

/// <summary>An alias in one account and region.</summary>
public sealed record AliasRecord(KeyScope Scope, string AliasName, string TargetKeyId, DateTimeOffset CreationDate, DateTimeOffset LastUpdatedDate)
{
    public string Arn => Scope.AliasArn(AliasName);
}
