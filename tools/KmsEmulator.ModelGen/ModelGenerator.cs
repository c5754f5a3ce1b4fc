using KmsEmulator.ModelGen.Emit;
using KmsEmulator.ModelGen.Model;

namespace KmsEmulator.ModelGen;

/// <summary>Turns the botocore KMS service model into the C# files of <c>src/KmsEmulator.Api/Generated</c>.</summary>
public static class ModelGenerator
{
    /// <summary>Names the generated files and the Api project use, which no model shape may take.</summary>
    private static readonly string[] ReservedTypeNames =
    [
        "KmsOperation", "KmsOperations", "KmsErrorCodes", "KmsJsonContext",
        "IValidatable", "ISensitiveShape", "IGrantTokenRequest", "ValidationErrors", "ShapeValidation", "EpochSecondsJsonConverter",
        "Type", "String", "Object", "List", "Dictionary", "DateTimeOffset", "IReadOnlyList", "IReadOnlySet",
        "FrozenDictionary", "StringComparer", "ArgumentOutOfRangeException", "CryptographicOperations",
        "JsonPropertyName", "JsonConverter", "JsonSerializable", "JsonSourceGenerationOptions", "JsonIgnoreCondition",
        "JsonUnmappedMemberHandling", "JsonSerializerContext", "Default", "Options", "System", "KmsEmulator",
    ];

    /// <summary>Generates every file; the result maps file name to content, ordered by file name.</summary>
    public static IReadOnlyDictionary<string, string> Generate(string modelJson)
    {
        var graph = new ShapeGraph(ModelReader.Read(modelJson));
        CheckTypeNames(graph);
        return new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            [OperationsEmitter.FileName] = new OperationsEmitter(graph).Emit(),
            [ShapesEmitter.FileName] = new ShapesEmitter(graph).Emit(),
            [EnumsEmitter.FileName] = new EnumsEmitter(graph).Emit(),
            [JsonContextEmitter.FileName] = new JsonContextEmitter(graph).Emit(),
            [ErrorsEmitter.FileName] = new ErrorsEmitter(graph).Emit(),
        };
    }

    /// <summary>
    /// Structure and enum names come from the model, where shape names are unique, so they cannot clash with each other;
    /// the names the generator adds (<c>XWire</c>, <c>EmptyResponse</c>, the fixed classes) can. Any clash stops generation.
    /// </summary>
    private static void CheckTypeNames(ShapeGraph graph)
    {
        var generated = graph.Classes.Select(s => s.Name)
            .Concat(graph.Enums)
            .Concat(graph.Enums.Select(ShapeGraph.WireClass))
            .Concat(ReservedTypeNames);
        var clash = generated.GroupBy(n => n, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (clash is not null)
        {
            throw new NotSupportedException(
                $"The generated type name '{clash.Key}' is used twice (a model shape clashes with a name the generator adds or uses); " +
                "rename in the generator before regenerating.");
        }
    }
}
