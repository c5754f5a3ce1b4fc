using KmsEmulator.Api.Generated;

namespace KmsEmulator.Api.Keys;

/// <summary>What CreateKey asked for, after defaults and validation.</summary>
public sealed record NewKey(
    string Description,
    KeySpec KeySpec,
    KeyUsageType KeyUsage,
    OriginType Origin,
    bool MultiRegion,
    string Policy,
    IReadOnlyList<KeyTag> Tags);
