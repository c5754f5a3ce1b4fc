using KmsEmulator.ModelGen.Model;

namespace KmsEmulator.ModelGen.Emit;

/// <summary>
/// Writes <c>Validate(ValidationErrors errors, string prefix)</c>: one <c>ShapeValidation</c> call per model constraint,
/// members in model order, paths in lowerCamelCase with 1-based <c>.N.member</c> list elements.
/// Null list elements and map values are always rejected, whatever other constraints the element shape has.
/// </summary>
internal sealed class ValidationEmitter(ShapeGraph graph)
{
    private static readonly HashSet<string> ReservedLocals = new(StringComparer.Ordinal) { "errors", "prefix", "i", "key", "value" };

    public void Emit(IndentedWriter writer, Shape structure)
    {
        writer.Line("/// <inheritdoc />");
        using (writer.Block("public void Validate(ValidationErrors errors, string prefix)"))
        {
            foreach (var member in structure.Members)
            {
                var path = WirePath.StartingWith("prefix").Then(CSharp.LowerCamel(member.Name));
                if (member.Required)
                {
                    writer.Line($"ShapeValidation.Required(errors, {path}, {member.Name});");
                }

                var context = new Context(structure, LocalName(member.Name), Depth: 0);
                EmitChecks(writer, context, member.Name, path, member.Target, member.Target.Sensitive);
            }
        }
    }

    private void EmitChecks(IndentedWriter writer, Context context, string value, WirePath path, ShapeRef target, bool sensitiveRef)
    {
        var shape = graph.Model[target.ShapeName];
        var sensitive = sensitiveRef || target.Sensitive || shape.Sensitive ? "true" : "false";
        var (min, max) = (CSharp.Number(shape.Min), CSharp.Number(shape.Max));
        switch (shape.Kind)
        {
            case ShapeKind.Structure when graph.HasConstraints(shape.Name):
                writer.Line($"{value}?.Validate(errors, {path.Then(".")});");
                break;
            case ShapeKind.String or ShapeKind.Blob:
                if (shape.HasLengthOrRange)
                {
                    writer.Line($"ShapeValidation.Length(errors, {path}, {value}, {min}, {max}, sensitive: {sensitive});");
                }

                if (shape.Pattern is { } pattern)
                {
                    writer.Line($"ShapeValidation.Pattern(errors, {path}, {value}, {CSharp.String(pattern)}, sensitive: {sensitive});");
                }

                if (shape.IsEnum)
                {
                    writer.Line($"ShapeValidation.Enum(errors, {path}, {value}, {context.Reference(ShapeGraph.WireClass(shape.Name))}.Values);");
                }

                break;
            case ShapeKind.Integer or ShapeKind.Long when shape.HasLengthOrRange:
                writer.Line($"ShapeValidation.Range(errors, {path}, {value}, {min}, {max});");
                break;
            case ShapeKind.List:
                EmitCollectionLength(writer, shape, value, path, min, max);
                if (NeedsChecks(shape.ListMember!))
                {
                    EmitListElements(writer, context, shape, value, path, sensitiveRef);
                }

                break;
            case ShapeKind.Map:
                EmitCollectionLength(writer, shape, value, path, min, max);
                if (graph.HasConstraints(shape.MapKey!.ShapeName) || NeedsChecks(shape.MapValue!))
                {
                    EmitMapEntries(writer, context, shape, value, path, sensitiveRef);
                }

                break;
            case ShapeKind.Structure or ShapeKind.Integer or ShapeKind.Long:
                break;
            default:
                if (shape.HasLengthOrRange || shape.Pattern is not null)
                {
                    throw new NotSupportedException($"Constraints on {shape.Kind} shape '{shape.Name}' are not supported.");
                }

                break;
        }
    }

    private void EmitCollectionLength(IndentedWriter writer, Shape collection, string value, WirePath path, string min, string max)
    {
        if (!collection.HasLengthOrRange)
        {
            return;
        }

        if (collection.Kind == ShapeKind.Map && graph.Model[collection.MapValue!.ShapeName].Kind != ShapeKind.String)
        {
            throw new NotSupportedException($"Length constraints on map '{collection.Name}' need string values.");
        }

        writer.Line($"ShapeValidation.Length(errors, {path}, {value}, {min}, {max});");
    }

    private void EmitListElements(IndentedWriter writer, Context context, Shape list, string value, WirePath path, bool sensitiveRef)
    {
        var (items, index) = (context.Local(""), context.Local("i"));
        using (writer.Block($"if ({value} is {{ }} {items})"))
        using (writer.Block($"for (var {index} = 0; {index} < {items}.Count; {index}++)"))
        {
            var elementPath = path.Then(".").ThenCode($"({index} + 1)").Then(".member");
            EmitNotNull(writer, $"{items}[{index}]", elementPath, list.ListMember!);
            EmitChecks(writer, context.Nested(), $"{items}[{index}]", elementPath, list.ListMember!, sensitiveRef || list.Sensitive);
        }
    }

    private void EmitMapEntries(IndentedWriter writer, Context context, Shape map, string value, WirePath path, bool sensitiveRef)
    {
        var (entries, key, entryValue) = (context.Local(""), context.Local("key"), context.Local("value"));
        using (writer.Block($"if ({value} is {{ }} {entries})"))
        using (writer.Block($"foreach (var ({key}, {entryValue}) in {entries})"))
        {
            var entryPath = path.Then(".").ThenCode(key);
            EmitChecks(writer, context.Nested(), key, entryPath, map.MapKey!, sensitiveRef);
            EmitNotNull(writer, entryValue, entryPath, map.MapValue!);
            EmitChecks(writer, context.Nested(), entryValue, entryPath, map.MapValue!, sensitiveRef || map.Sensitive);
        }
    }

    /// <summary>A list element or map value is checked when it can be null or its shape has constraints.</summary>
    private bool NeedsChecks(ShapeRef element) => graph.CanBeNull(element.ShapeName) || graph.HasConstraints(element.ShapeName);

    /// <summary>JSON <c>null</c> can reach a reference-typed list element or map value; AWS reports it like a missing required member.</summary>
    private void EmitNotNull(IndentedWriter writer, string value, WirePath path, ShapeRef target)
    {
        if (graph.CanBeNull(target.ShapeName))
        {
            writer.Line($"ShapeValidation.Required(errors, {path}, {value});");
        }
    }

    /// <summary>The local variable for a collection member: its lowerCamel name unless that is reserved or a keyword.</summary>
    private static string LocalName(string memberName)
    {
        var name = CSharp.LowerCamel(memberName);
        return CSharp.IsIdentifier(name) && !ReservedLocals.Contains(name) ? name : name + "Value";
    }

    /// <summary>Names for locals at one nesting depth, and a guard against members that would hide referenced types.</summary>
    private sealed record Context(Shape Structure, string BaseName, int Depth)
    {
        public Context Nested() => this with { Depth = Depth + 1 };

        /// <summary>"" gives the collection local; "i", "key", "value" give loop variables.</summary>
        public string Local(string role)
        {
            var name = role.Length == 0 ? BaseName : role == "i" ? "i" : BaseName + char.ToUpperInvariant(role[0]) + role[1..];
            return Depth == 0 ? name : name + Depth.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        public string Reference(string typeName) =>
            Structure.Members.Any(m => m.Name == typeName)
                ? throw new NotSupportedException($"Member '{Structure.Name}.{typeName}' would hide the generated type '{typeName}'.")
                : typeName;
    }
}
