using KmsEmulator.ModelGen.Model;

namespace KmsEmulator.ModelGen.Emit;

/// <summary>Writes Shapes.g.cs: one sealed partial class per structure the operations use.</summary>
internal sealed class ShapesEmitter(ShapeGraph graph)
{
    public const string FileName = "Shapes.g.cs";

    private static readonly HashSet<string> ReservedMembers = new(StringComparer.Ordinal)
    {
        "Validate", "ClearSensitive", "ShapeValidation", "CryptographicOperations", "ValidationErrors",
        "Equals", "GetHashCode", "GetType", "ToString", "MemberwiseClone", "Finalize",
    };

    private readonly TypeMapper _types = new(graph.Model);
    private readonly ValidationEmitter _validation = new(graph);
    private readonly SensitiveDataEmitter _sensitiveData = new(graph);

    public string Emit()
    {
        var writer = FileHeader.Start(
            graph.Model.Uid,
            "System",
            "System.Collections.Generic",
            "System.Security.Cryptography",
            "System.Text.Json.Serialization",
            "KmsEmulator.Api.Generated.Runtime");
        var first = true;
        foreach (var structure in graph.Classes)
        {
            if (!first)
            {
                writer.Line();
            }

            first = false;
            EmitClass(writer, structure);
        }

        return writer.ToString();
    }

    private void EmitClass(IndentedWriter writer, Shape structure)
    {
        var interfaces = new List<string>();
        if (graph.IsValidated(structure))
        {
            interfaces.Add("IValidatable");
        }

        if (graph.HasSensitiveData(structure))
        {
            interfaces.Add("ISensitiveShape");
        }

        if (graph.ChecksGrantTokens(structure))
        {
            interfaces.Add("IGrantTokenRequest");
        }

        var name = CSharp.RequireIdentifier(structure.Name, "Structure shape");
        writer.Line($"/// <summary>{Summary(structure)}</summary>");
        var header = $"public sealed partial class {name}" + (interfaces.Count > 0 ? " : " + string.Join(", ", interfaces) : "");
        using (writer.Block(header))
        {
            var sections = 0;
            foreach (var member in structure.Members)
            {
                Separate(writer, ref sections);
                EmitProperty(writer, structure, member);
            }

            if (graph.IsValidated(structure))
            {
                Separate(writer, ref sections);
                _validation.Emit(writer, structure);
            }

            if (graph.HasSensitiveData(structure))
            {
                Separate(writer, ref sections);
                _sensitiveData.Emit(writer, structure);
            }
        }
    }

    private void EmitProperty(IndentedWriter writer, Shape structure, StructureMember member)
    {
        var name = CSharp.RequireIdentifier(member.Name, $"Member of '{structure.Name}'");
        if (name == structure.Name || ReservedMembers.Contains(name))
        {
            throw new NotSupportedException($"Member '{structure.Name}.{name}' clashes with a generated or inherited name.");
        }

        writer.Line($"[JsonPropertyName({CSharp.String(member.Name)})]");
        var target = graph.Model[member.Target.ShapeName];
        if (target.Kind == ShapeKind.Timestamp)
        {
            writer.Line("[JsonConverter(typeof(EpochSecondsJsonConverter))]");
        }
        else if (_types.TypeOf(target.Name).Contains("DateTimeOffset", StringComparison.Ordinal))
        {
            throw new NotSupportedException($"Timestamps inside lists or maps ('{structure.Name}.{name}') are not supported.");
        }

        writer.Line($"public {_types.PropertyType(target.Name)} {name} {{ get; set; }}");
    }

    private string Summary(Shape structure)
    {
        if (structure.Name == ShapeGraph.EmptyResponse)
        {
            return "The output of operations that have no output shape; serialises as <c>{}</c>.";
        }

        if (structure.Name == ShapeGraph.EmptyRequest)
        {
            return "The input of operations that have no input shape.";
        }

        var inputOf = graph.Model.Operations.Where(o => o.InputShape == structure.Name).Select(o => $"<c>{o.Name}</c>").ToList();
        var outputOf = graph.Model.Operations.Where(o => o.OutputShape == structure.Name).Select(o => $"<c>{o.Name}</c>").ToList();
        var summary = $"Wire shape <c>{structure.Name}</c>";
        if (inputOf.Count > 0)
        {
            summary += ": input of " + string.Join(", ", inputOf);
        }

        if (outputOf.Count > 0)
        {
            summary += (inputOf.Count > 0 ? "; " : ": ") + "output of " + string.Join(", ", outputOf);
        }

        return summary + ".";
    }

    private static void Separate(IndentedWriter writer, ref int sections)
    {
        if (sections++ > 0)
        {
            writer.Line();
        }
    }
}
