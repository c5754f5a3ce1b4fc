using KmsEmulator.ModelGen.Model;

namespace KmsEmulator.ModelGen.Emit;

/// <summary>Writes KmsErrors.g.cs: the error codes (error shape names) of the model and which are server faults.</summary>
internal sealed class ErrorsEmitter(ShapeGraph graph)
{
    public const string FileName = "KmsErrors.g.cs";

    public string Emit()
    {
        var errors = graph.Errors.Select(name => graph.Model[name]).ToList();
        var writer = FileHeader.Start(graph.Model.Uid, "System", "System.Collections.Frozen", "System.Collections.Generic");
        writer.Line("/// <summary>The error codes (<c>__type</c> values) of the model's error shapes.</summary>");
        using (writer.Block("public static class KmsErrorCodes"))
        {
            foreach (var error in errors)
            {
                var name = CSharp.RequireIdentifier(error.Name, "Error shape");
                writer.Line($"public const string {name} = {CSharp.String(error.Name)};");
            }

            writer.Line();
            writer.Line("/// <summary>Every error code of the model.</summary>");
            EmitSet(writer, "All", errors);
            writer.Line();
            writer.Line("/// <summary>Errors the model marks as server faults (<c>\"fault\": true</c>); all others are client errors.</summary>");
            EmitSet(writer, "ServerFaults", errors.Where(e => e.IsServerFault));
        }

        return writer.ToString();
    }

    private static void EmitSet(IndentedWriter writer, string property, IEnumerable<Shape> errors)
    {
        using (writer.Block($"public static IReadOnlySet<string> {property} {{ get; }} = new string[]", closing: "}.ToFrozenSet(StringComparer.Ordinal);"))
        {
            foreach (var error in errors)
            {
                writer.Line(error.Name + ",");
            }
        }
    }
}
