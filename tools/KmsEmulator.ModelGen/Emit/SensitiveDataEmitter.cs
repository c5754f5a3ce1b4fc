using KmsEmulator.ModelGen.Model;

namespace KmsEmulator.ModelGen.Emit;

/// <summary>
/// Writes <c>ClearSensitive()</c>: zeroes sensitive blobs and recurses into members that hold them.
/// Sensitive strings are immutable and cannot be zeroed; they get a comment instead.
/// </summary>
internal sealed class SensitiveDataEmitter(ShapeGraph graph)
{
    public void Emit(IndentedWriter writer, Shape structure)
    {
        writer.Line("/// <inheritdoc />");
        using (writer.Block("public void ClearSensitive()"))
        {
            foreach (var member in structure.Members.Where(m => graph.IsSensitive(m.Target)))
            {
                EmitClear(writer, member.Name, member.Name, member.Target, member.Target.Sensitive, depth: 0);
            }
        }
    }

    private void EmitClear(IndentedWriter writer, string memberName, string value, ShapeRef target, bool sensitiveRef, int depth)
    {
        var shape = graph.Model[target.ShapeName];
        var sensitive = sensitiveRef || target.Sensitive || shape.Sensitive;
        var item = depth == 0 ? "item" : "item" + depth.ToString(System.Globalization.CultureInfo.InvariantCulture);
        switch (shape.Kind)
        {
            case ShapeKind.Blob when sensitive:
                using (writer.Block($"if ({value} is not null)"))
                {
                    writer.Line($"CryptographicOperations.ZeroMemory({value});");
                }

                break;
            case ShapeKind.String when sensitive:
            case ShapeKind.List when graph.Model[shape.ListMember!.ShapeName].Kind == ShapeKind.String:
            case ShapeKind.Map when graph.Model[shape.MapValue!.ShapeName].Kind == ShapeKind.String:
                writer.Line($"// {memberName} is a sensitive string; strings cannot be zeroed.");
                break;
            case ShapeKind.Structure when graph.HasSensitiveData(shape.Name):
                writer.Line($"{value}?.ClearSensitive();");
                break;
            case ShapeKind.List when sensitive || graph.HasSensitiveData(shape.Name):
                using (writer.Block($"if ({value} is not null)"))
                using (writer.Block($"foreach (var {item} in {value})"))
                {
                    EmitClear(writer, memberName, item, shape.ListMember!, sensitive, depth + 1);
                }

                break;
            case ShapeKind.Map when sensitive || graph.HasSensitiveData(shape.Name):
                using (writer.Block($"if ({value} is not null)"))
                using (writer.Block($"foreach (var {item} in {value}.Values)"))
                {
                    EmitClear(writer, memberName, item, shape.MapValue!, sensitive, depth + 1);
                }

                break;
        }
    }
}
