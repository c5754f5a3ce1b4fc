using KmsEmulator.ModelGen.Model;

namespace KmsEmulator.ModelGen.Emit;

/// <summary>Writes Enums.g.cs: a C# enum per enum string shape, plus an <c>XWire</c> class with its wire values.</summary>
internal sealed class EnumsEmitter(ShapeGraph graph)
{
    public const string FileName = "Enums.g.cs";

    public string Emit()
    {
        var writer = FileHeader.Start(graph.Model.Uid, "System", "System.Collections.Generic");
        var first = true;
        foreach (var name in graph.Enums)
        {
            if (!first)
            {
                writer.Line();
            }

            first = false;
            EmitEnum(writer, graph.Model[name]);
        }

        return writer.ToString();
    }

    private static void EmitEnum(IndentedWriter writer, Shape shape)
    {
        var name = CSharp.RequireIdentifier(shape.Name, "Enum shape");
        var wire = ShapeGraph.WireClass(name);
        var members = MemberNames(shape);

        writer.Line($"/// <summary>Values of the wire enum <c>{shape.Name}</c>; <see cref=\"{wire}\"/> converts to and from the wire.</summary>");
        using (writer.Block($"public enum {name}"))
        {
            foreach (var (_, member) in members)
            {
                writer.Line(member + ",");
            }
        }

        writer.Line();
        writer.Line($"/// <summary>Wire values of <see cref=\"{name}\"/>.</summary>");
        using (writer.Block($"public static class {wire}"))
        {
            writer.Line("/// <summary>The wire values in model order.</summary>");
            using (writer.Block("public static IReadOnlyList<string> Values { get; } =", "[", "];"))
            {
                foreach (var (value, _) in members)
                {
                    writer.Line(CSharp.String(value) + ",");
                }
            }

            writer.Line();
            writer.Line("/// <summary>The wire value of <paramref name=\"value\"/>.</summary>");
            using (writer.Block($"public static string ToWire(this {name} value) => value switch", closing: "};"))
            {
                foreach (var (value, member) in members)
                {
                    writer.Line($"{name}.{member} => {CSharp.String(value)},");
                }

                writer.Line($"_ => throw new ArgumentOutOfRangeException(nameof(value), value, \"Not a defined {name} value.\"),");
            }

            writer.Line();
            writer.Line("/// <summary>Parses a wire value (ordinal, case-sensitive).</summary>");
            using (writer.Block($"public static bool TryParse(string? value, out {name} result)"))
            {
                using (writer.Block($"{name}? parsed = value switch", closing: "};"))
                {
                    foreach (var (value, member) in members)
                    {
                        writer.Line($"{CSharp.String(value)} => {name}.{member},");
                    }

                    writer.Line("_ => null,");
                }

                writer.Line("result = parsed.GetValueOrDefault();");
                writer.Line("return parsed.HasValue;");
            }
        }
    }

    /// <summary>Wire value to C# member name; values that are not identifiers are sanitised (and mapped explicitly anyway).</summary>
    private static List<(string Wire, string Member)> MemberNames(Shape shape)
    {
        var members = shape.EnumValues.Select(v => (Wire: v, Member: CSharp.ToIdentifier(v))).ToList();
        var duplicate = members.GroupBy(m => m.Member, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new NotSupportedException($"Enum '{shape.Name}' has values that map to the same C# name '{duplicate.Key}'.");
        }

        return members;
    }
}
