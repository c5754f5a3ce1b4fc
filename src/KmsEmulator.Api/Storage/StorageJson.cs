using System.Text.Json.Serialization;

namespace KmsEmulator.Api.Storage;

/// <summary>
/// A grant's constraints as stored in the grants table's JSON column. The store owns this shape, so changes to the
/// generated wire types never change what is on disk.
/// </summary>
/// <param name="Kind">The constraint kind (EncryptionContextEquals or EncryptionContextSubset), or null for none.</param>
/// <param name="Pairs">The encryption-context pairs of the constraint.</param>
/// <param name="SourceArn">The SourceArn constraint of grants to service principals.</param>
internal sealed record StoredGrantConstraints(string? Kind, Dictionary<string, string>? Pairs, string? SourceArn);

[JsonSerializable(typeof(StoredGrantConstraints))]
internal sealed partial class StorageJsonContext : JsonSerializerContext;
