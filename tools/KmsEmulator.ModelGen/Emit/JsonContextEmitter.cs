using KmsEmulator.ModelGen.Model;

namespace KmsEmulator.ModelGen.Emit;

/// <summary>Writes KmsJsonContext.g.cs: the System.Text.Json source-generation context for every request and response.</summary>
internal sealed class JsonContextEmitter(ShapeGraph graph)
{
    public const string FileName = "KmsJsonContext.g.cs";

    public string Emit()
    {
        var roots = graph.Model.Operations
            .SelectMany(o => new[] { graph.RequestClass(o), graph.ResponseClass(o) })
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal);

        var writer = FileHeader.Start(graph.Model.Uid, "System.Text.Json.Serialization");
        writer.Line("/// <summary>Serialises the wire shapes with their model member names; null members are omitted.</summary>");
        writer.Line("[JsonSourceGenerationOptions(");
        writer.Line("    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,");
        writer.Line("    UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip)]");
        foreach (var type in roots)
        {
            writer.Line($"[JsonSerializable(typeof({type}))]");
        }

        using (writer.Block("public sealed partial class KmsJsonContext : JsonSerializerContext"))
        {
        }

        return writer.ToString();
    }
}
