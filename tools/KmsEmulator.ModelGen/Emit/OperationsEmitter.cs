using KmsEmulator.ModelGen.Model;

namespace KmsEmulator.ModelGen.Emit;

/// <summary>Writes KmsOperation.g.cs: the operation enum and its wire names and request/response types.</summary>
internal sealed class OperationsEmitter(ShapeGraph graph)
{
    public const string FileName = "KmsOperation.g.cs";

    public string Emit()
    {
        var operations = graph.Model.Operations;
        foreach (var operation in operations)
        {
            CSharp.RequireIdentifier(operation.Name, "Operation");
        }

        var writer = FileHeader.Start(graph.Model.Uid, "System", "System.Collections.Frozen", "System.Collections.Generic");
        writer.Line("/// <summary>The operations of the service model, in model order.</summary>");
        using (writer.Block("public enum KmsOperation"))
        {
            foreach (var operation in operations)
            {
                writer.Line(operation.Name + ",");
            }
        }

        writer.Line();
        writer.Line("/// <summary>Wire names and request/response classes of <see cref=\"KmsOperation\"/>.</summary>");
        using (writer.Block("public static class KmsOperations"))
        {
            writer.Line("/// <summary>The prefix of the <c>X-Amz-Target</c> header: <c>TargetPrefix + \".\" + operation name</c>.</summary>");
            writer.Line($"public const string TargetPrefix = {CSharp.String(graph.Model.TargetPrefix)};");
            writer.Line();
            writer.Line("/// <summary>The number of operations.</summary>");
            writer.Line($"public const int Count = {operations.Count};");
            writer.Line();
            writer.Line("/// <summary>All operations, in model order.</summary>");
            using (writer.Block("public static IReadOnlyList<KmsOperation> All { get; } =", "[", "];"))
            {
                foreach (var operation in operations)
                {
                    writer.Line($"KmsOperation.{operation.Name},");
                }
            }

            writer.Line();
            writer.Line("private static readonly FrozenDictionary<string, KmsOperation> ByName =");
            writer.Line("    All.ToFrozenDictionary(op => op.Name(), StringComparer.Ordinal);");
            writer.Line();
            writer.Line("/// <summary>The wire name (the part of <c>X-Amz-Target</c> after the dot).</summary>");
            EmitSwitch(writer, "public static string Name(this KmsOperation op) => op switch", o => CSharp.String(o.Name));
            writer.Line();
            writer.Line("/// <summary>Finds an operation by wire name (ordinal, case-sensitive).</summary>");
            writer.Line("public static bool TryParse(string name, out KmsOperation op) => ByName.TryGetValue(name, out op);");
            writer.Line();
            writer.Line("/// <summary>The generated class a request body of the operation deserialises to.</summary>");
            EmitSwitch(writer, "public static Type RequestType(KmsOperation op) => op switch", o => $"typeof({graph.RequestClass(o)})");
            writer.Line();
            writer.Line("/// <summary>The generated class a response body of the operation serialises from.</summary>");
            EmitSwitch(writer, "public static Type ResponseType(KmsOperation op) => op switch", o => $"typeof({graph.ResponseClass(o)})");
        }

        return writer.ToString();
    }

    private void EmitSwitch(IndentedWriter writer, string header, Func<Operation, string> result)
    {
        using (writer.Block(header, closing: "};"))
        {
            foreach (var operation in graph.Model.Operations)
            {
                writer.Line($"KmsOperation.{operation.Name} => {result(operation)},");
            }

            writer.Line("_ => throw new ArgumentOutOfRangeException(nameof(op), op, \"Not a defined KmsOperation.\"),");
        }
    }
}
