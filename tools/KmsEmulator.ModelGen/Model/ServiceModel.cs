namespace KmsEmulator.ModelGen.Model;

/// <summary>The parts of a botocore service model (service-2.json) that the generator uses.</summary>
internal sealed record ServiceModel(
    string Uid,
    string TargetPrefix,
    IReadOnlyList<Operation> Operations,
    IReadOnlyDictionary<string, Shape> Shapes)
{
    public Shape this[string shapeName] =>
        Shapes.TryGetValue(shapeName, out var shape)
            ? shape
            : throw new InvalidDataException($"The model has no shape '{shapeName}'.");
}

/// <summary>
/// An operation; <see cref="InputShape"/> and <see cref="OutputShape"/> are null when the model has none.
/// <see cref="Errors"/> names the error shapes the operation can return.
/// </summary>
internal sealed record Operation(string Name, string? InputShape, string? OutputShape, IReadOnlyList<string> Errors);

internal enum ShapeKind
{
    Structure,
    String,
    Blob,
    Boolean,
    Integer,
    Long,
    Float,
    Double,
    Timestamp,
    List,
    Map,
}

/// <summary>A reference from a structure member, list element or map key/value to a shape.</summary>
internal sealed record ShapeRef(string ShapeName, bool Sensitive);

internal sealed record StructureMember(string Name, ShapeRef Target, bool Required);

internal sealed record Shape
{
    public required string Name { get; init; }

    public required ShapeKind Kind { get; init; }

    /// <summary>Structure members in model order.</summary>
    public IReadOnlyList<StructureMember> Members { get; init; } = [];

    public long? Min { get; init; }

    public long? Max { get; init; }

    public string? Pattern { get; init; }

    /// <summary>Enum values in model order; empty when the string shape is not an enum.</summary>
    public IReadOnlyList<string> EnumValues { get; init; } = [];

    public bool Sensitive { get; init; }

    /// <summary>An error shape (<c>"exception": true</c>).</summary>
    public bool IsError { get; init; }

    /// <summary>An error the server is at fault for (<c>"fault": true</c>).</summary>
    public bool IsServerFault { get; init; }

    public ShapeRef? ListMember { get; init; }

    public ShapeRef? MapKey { get; init; }

    public ShapeRef? MapValue { get; init; }

    public bool IsEnum => EnumValues.Count > 0;

    public bool HasLengthOrRange => Min is not null || Max is not null;
}
