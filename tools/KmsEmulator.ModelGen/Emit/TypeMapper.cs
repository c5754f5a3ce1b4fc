using KmsEmulator.ModelGen.Model;

namespace KmsEmulator.ModelGen.Emit;

/// <summary>Maps model shapes to the C# types of generated properties.</summary>
internal sealed class TypeMapper(ServiceModel model)
{
    /// <summary>The property type: always nullable, because "required" is enforced by validation.</summary>
    public string PropertyType(string shapeName) => TypeOf(shapeName) + "?";

    /// <summary>The non-nullable type of a value of the shape (list elements, map values).</summary>
    public string TypeOf(string shapeName)
    {
        var shape = model[shapeName];
        return shape.Kind switch
        {
            ShapeKind.Structure => CSharp.RequireIdentifier(shape.Name, "Structure shape"),
            ShapeKind.String => "string",
            ShapeKind.Blob => "byte[]",
            ShapeKind.Boolean => "bool",
            ShapeKind.Integer => "int",
            ShapeKind.Long => "long",
            ShapeKind.Float => "float",
            ShapeKind.Double => "double",
            ShapeKind.Timestamp => "DateTimeOffset",
            ShapeKind.List => $"List<{TypeOf(shape.ListMember!.ShapeName)}>",
            ShapeKind.Map => $"Dictionary<{MapKeyType(shape)}, {TypeOf(shape.MapValue!.ShapeName)}>",
            _ => throw new NotSupportedException($"Shape '{shape.Name}' has the unsupported kind {shape.Kind}."),
        };
    }

    private string MapKeyType(Shape map) =>
        model[map.MapKey!.ShapeName].Kind == ShapeKind.String
            ? "string"
            : throw new NotSupportedException($"Map '{map.Name}' has non-string keys, which JSON cannot carry.");
}
