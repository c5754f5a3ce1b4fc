using System.Text.Json.Serialization;

namespace KmsEmulator.Api.Storage;

/// <summary>
/// A grant's constraints as stored in the grants table's JSON column. The store owns this shape, so changes to the
/// generated wire types never change what is on disk. Reading is strict (every member present, no other members, no
/// member twice): a value in another shape must stop loading, never load a grant without its constraint. A change
/// to this shape therefore needs a migration that rewrites the stored rows (see Migrations/0003_*.sql).
/// </summary>
/// <param name="Kind">The constraint kind (a <see cref="Keys.GrantConstraintKind"/> name), or null for none.</param>
/// <param name="Pairs">The encryption-context pairs of the constraint; null exactly when <paramref name="Kind"/> is.</param>
/// <param name="SourceArn">The SourceArn constraint of grants to service principals.</param>
internal sealed record StoredGrantConstraints(string? Kind, Dictionary<string, string>? Pairs, string? SourceArn);

[JsonSourceGenerationOptions(
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    RespectRequiredConstructorParameters = true,
    AllowDuplicateProperties = false)]
[JsonSerializable(typeof(StoredGrantConstraints))]
internal sealed partial class StorageJsonContext : JsonSerializerContext;
