using System.Text.Json;

namespace KmsEmulator.ModelGen.Model;

/// <summary>Reads a botocore service-2.json document into a <see cref="ServiceModel"/>.</summary>
internal static class ModelReader
{
    public static ServiceModel Read(string modelJson)
    {
        using var document = JsonDocument.Parse(modelJson);
        var root = document.RootElement;
        var metadata = Required(root, "metadata", "the model");

        var shapes = new Dictionary<string, Shape>(StringComparer.Ordinal);
        foreach (var property in Required(root, "shapes", "the model").EnumerateObject())
        {
            shapes.Add(property.Name, ReadShape(property.Name, property.Value));
        }

        var operations = new List<Operation>();
        foreach (var property in Required(root, "operations", "the model").EnumerateObject())
        {
            operations.Add(ReadOperation(property.Name, property.Value));
        }

        var model = new ServiceModel(
            RequiredString(metadata, "uid", "metadata"),
            RequiredString(metadata, "targetPrefix", "metadata"),
            operations,
            shapes);
        CheckReferences(model);
        return model;
    }

    private static Operation ReadOperation(string name, JsonElement json)
    {
        var wireName = json.TryGetProperty("name", out var nameElement) ? nameElement.GetString() : name;
        if (wireName != name)
        {
            throw new InvalidDataException($"Operation '{name}' declares the different name '{wireName}'.");
        }

        var errors = json.TryGetProperty("errors", out var list)
            ? list.EnumerateArray().Select(e => RequiredString(e, "shape", $"an error of operation '{name}'")).ToList()
            : [];
        return new Operation(name, OptionalShapeName(json, "input"), OptionalShapeName(json, "output"), errors);
    }

    private static Shape ReadShape(string name, JsonElement json)
    {
        var kind = ParseKind(name, RequiredString(json, "type", $"shape '{name}'"));
        return new Shape
        {
            Name = name,
            Kind = kind,
            Members = kind == ShapeKind.Structure ? ReadMembers(name, json) : [],
            Min = OptionalLong(json, "min"),
            Max = OptionalLong(json, "max"),
            Pattern = json.TryGetProperty("pattern", out var pattern) ? pattern.GetString() : null,
            EnumValues = json.TryGetProperty("enum", out var values) ? [.. values.EnumerateArray().Select(v => v.GetString()!)] : [],
            Sensitive = IsTrue(json, "sensitive"),
            IsError = IsTrue(json, "exception"),
            IsServerFault = IsTrue(json, "fault"),
            ListMember = kind == ShapeKind.List ? ReadRef(Required(json, "member", $"list '{name}'")) : null,
            MapKey = kind == ShapeKind.Map ? ReadRef(Required(json, "key", $"map '{name}'")) : null,
            MapValue = kind == ShapeKind.Map ? ReadRef(Required(json, "value", $"map '{name}'")) : null,
        };
    }

    private static List<StructureMember> ReadMembers(string structureName, JsonElement json)
    {
        var required = new HashSet<string>(StringComparer.Ordinal);
        if (json.TryGetProperty("required", out var requiredArray))
        {
            required.UnionWith(requiredArray.EnumerateArray().Select(v => v.GetString()!));
        }

        var members = new List<StructureMember>();
        if (json.TryGetProperty("members", out var membersJson))
        {
            foreach (var member in membersJson.EnumerateObject())
            {
                members.Add(new StructureMember(member.Name, ReadRef(member.Value), required.Remove(member.Name)));
            }
        }

        if (required.Count > 0)
        {
            throw new InvalidDataException($"Structure '{structureName}' requires unknown members: {string.Join(", ", required)}.");
        }

        return members;
    }

    private static ShapeRef ReadRef(JsonElement json) =>
        new(RequiredString(json, "shape", "a shape reference"), IsTrue(json, "sensitive"));

    private static ShapeKind ParseKind(string shapeName, string type) => type switch
    {
        "structure" => ShapeKind.Structure,
        "string" => ShapeKind.String,
        "blob" => ShapeKind.Blob,
        "boolean" => ShapeKind.Boolean,
        "integer" => ShapeKind.Integer,
        "long" => ShapeKind.Long,
        "float" => ShapeKind.Float,
        "double" => ShapeKind.Double,
        "timestamp" => ShapeKind.Timestamp,
        "list" => ShapeKind.List,
        "map" => ShapeKind.Map,
        _ => throw new NotSupportedException($"Shape '{shapeName}' has the unsupported type '{type}'."),
    };

    private static void CheckReferences(ServiceModel model)
    {
        foreach (var operation in model.Operations)
        {
            _ = operation.InputShape is { } input ? model[input] : null;
            _ = operation.OutputShape is { } output ? model[output] : null;
        }

        foreach (var shape in model.Shapes.Values)
        {
            foreach (var target in shape.Members.Select(m => m.Target).Append(shape.ListMember).Append(shape.MapKey).Append(shape.MapValue))
            {
                _ = target is null ? null : model[target.ShapeName];
            }
        }
    }

    private static JsonElement Required(JsonElement json, string name, string owner) =>
        json.TryGetProperty(name, out var value)
            ? value
            : throw new InvalidDataException($"'{name}' is missing in {owner}.");

    private static string RequiredString(JsonElement json, string name, string owner) =>
        Required(json, name, owner).GetString() ?? throw new InvalidDataException($"'{name}' is null in {owner}.");

    private static string? OptionalShapeName(JsonElement json, string name) =>
        json.TryGetProperty(name, out var value) ? RequiredString(value, "shape", name) : null;

    private static long? OptionalLong(JsonElement json, string name) =>
        json.TryGetProperty(name, out var value) ? value.GetInt64() : null;

    private static bool IsTrue(JsonElement json, string name) =>
        json.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.True;
}
