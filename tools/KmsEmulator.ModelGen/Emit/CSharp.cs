using System.Globalization;
using System.Text;

namespace KmsEmulator.ModelGen.Emit;

/// <summary>C# spelling helpers: identifiers, string literals, numbers.</summary>
internal static class CSharp
{
    private static readonly HashSet<string> Keywords = new(StringComparer.Ordinal)
    {
        "abstract", "as", "base", "bool", "break", "byte", "case", "catch", "char", "checked", "class", "const",
        "continue", "decimal", "default", "delegate", "do", "double", "else", "enum", "event", "explicit", "extern",
        "false", "finally", "fixed", "float", "for", "foreach", "goto", "if", "implicit", "in", "int", "interface",
        "internal", "is", "lock", "long", "namespace", "new", "null", "object", "operator", "out", "override",
        "params", "private", "protected", "public", "readonly", "ref", "return", "sbyte", "sealed", "short",
        "sizeof", "stackalloc", "static", "string", "struct", "switch", "this", "throw", "true", "try", "typeof",
        "uint", "ulong", "unchecked", "unsafe", "ushort", "using", "virtual", "void", "volatile", "while",
    };

    public static bool IsIdentifier(string name) =>
        name.Length > 0
        && (char.IsAsciiLetter(name[0]) || name[0] == '_')
        && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_')
        && !Keywords.Contains(name);

    /// <summary>A valid identifier for an arbitrary wire value: invalid characters become '_', keywords get '@'.</summary>
    public static string ToIdentifier(string value)
    {
        var builder = new StringBuilder(value.Length + 1);
        foreach (var c in value)
        {
            builder.Append(char.IsAsciiLetterOrDigit(c) || c == '_' ? c : '_');
        }

        if (builder.Length == 0 || char.IsAsciiDigit(builder[0]))
        {
            builder.Insert(0, '_');
        }

        var identifier = builder.ToString();
        return Keywords.Contains(identifier) ? "@" + identifier : identifier;
    }

    /// <summary>A shape or member name that the generated code uses verbatim; fails when it is not a plain identifier.</summary>
    public static string RequireIdentifier(string name, string what) =>
        IsIdentifier(name) ? name : throw new NotSupportedException($"{what} '{name}' is not a valid C# identifier.");

    /// <summary>The wire path segment of a member: first character lower-cased (KeyId becomes keyId).</summary>
    public static string LowerCamel(string memberName) =>
        memberName.Length == 0 ? memberName : char.ToLowerInvariant(memberName[0]) + memberName[1..];

    /// <summary>A string literal; verbatim (<c>@"..."</c>) when the text has backslashes, so patterns read as in the model.</summary>
    public static string String(string value)
    {
        if (value.Any(char.IsControl) || value.Any(c => c > '~'))
        {
            return EscapedString(value);
        }

        return value.Contains('\\') ? "@\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : EscapedString(value);
    }

    public static string Number(long? value) =>
        value is { } v ? v.ToString(CultureInfo.InvariantCulture) : "null";

    private static string EscapedString(string value)
    {
        var builder = new StringBuilder(value.Length + 2).Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"':
                    builder.Append("\\\"");
                    break;
                case '\\':
                    builder.Append("\\\\");
                    break;
                case >= ' ' and <= '~':
                    builder.Append(c);
                    break;
                default:
                    builder.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
                    break;
            }
        }

        return builder.Append('"').ToString();
    }
}
