using System.Collections.Concurrent;
using System.Globalization;
using System.Text.RegularExpressions;

namespace KmsEmulator.Api.Generated.Runtime;

/// <summary>
/// The constraint checks that generated <see cref="IValidatable"/> code calls, one per model trait.
/// Messages follow AWS's form: <c>Value '&lt;v&gt;' at '&lt;path&gt;' failed to satisfy constraint: Member must ...</c>.
/// Sensitive members never print their value.
/// </summary>
public static class ShapeValidation
{
    private static readonly ConcurrentDictionary<string, Regex> Patterns = new();

    public static void Required(ValidationErrors errors, string path, object? value)
    {
        if (value is null)
        {
            errors.Add($"Value null at '{path}' failed to satisfy constraint: Member must not be null");
        }
    }

    public static void Length(ValidationErrors errors, string path, string? value, int? min, int? max, bool sensitive)
    {
        if (value is null)
        {
            return;
        }

        CheckLength(errors, path, value.Length, min, max, sensitive ? null : value);
    }

    public static void Length(ValidationErrors errors, string path, byte[]? value, int? min, int? max, bool sensitive)
    {
        if (value is null)
        {
            return;
        }

        CheckLength(errors, path, value.Length, min, max, sensitive ? null : DescribeBlob(value));
    }

    public static void Length<T>(ValidationErrors errors, string path, List<T>? value, int? min, int? max)
    {
        if (value is null)
        {
            return;
        }

        CheckLength(errors, path, value.Count, min, max, "[" + string.Join(", ", value) + "]");
    }

    public static void Length(ValidationErrors errors, string path, Dictionary<string, string>? value, int? min, int? max)
    {
        if (value is null)
        {
            return;
        }

        CheckLength(errors, path, value.Count, min, max, "{" + string.Join(", ", value.Select(kv => kv.Key + "=" + kv.Value)) + "}");
    }

    public static void Range(ValidationErrors errors, string path, long? value, long? min, long? max)
    {
        if (value is not { } v)
        {
            return;
        }

        var shown = v.ToString(CultureInfo.InvariantCulture);
        if (min is { } lo && v < lo)
        {
            errors.Add($"Value '{shown}' at '{path}' failed to satisfy constraint: Member must have value greater than or equal to {lo}");
        }
        else if (max is { } hi && v > hi)
        {
            errors.Add($"Value '{shown}' at '{path}' failed to satisfy constraint: Member must have value less than or equal to {hi}");
        }
    }

    public static void Pattern(ValidationErrors errors, string path, string? value, string pattern, bool sensitive)
    {
        if (value is null)
        {
            return;
        }

        // The model's patterns are Java regular expressions matched against the whole value; ECMAScript mode keeps \w, \d and \s ASCII-only as in Java.
        var regex = Patterns.GetOrAdd(pattern, static p => new Regex("^(?:" + p + @")\z", RegexOptions.CultureInvariant | RegexOptions.ECMAScript | RegexOptions.Compiled));
        if (!regex.IsMatch(value))
        {
            errors.Add($"{ValuePart(sensitive ? null : value)} at '{path}' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}");
        }
    }

    public static void Enum(ValidationErrors errors, string path, string? value, IReadOnlyCollection<string> allowed)
    {
        if (value is null || allowed.Contains(value))
        {
            return;
        }

        errors.Add($"Value '{value}' at '{path}' failed to satisfy constraint: Member must satisfy enum value set: [{string.Join(", ", allowed)}]");
    }

    private static void CheckLength(ValidationErrors errors, string path, int length, int? min, int? max, string? shown)
    {
        if (min is { } lo && length < lo)
        {
            errors.Add($"{ValuePart(shown)} at '{path}' failed to satisfy constraint: Member must have length greater than or equal to {lo}");
        }
        else if (max is { } hi && length > hi)
        {
            errors.Add($"{ValuePart(shown)} at '{path}' failed to satisfy constraint: Member must have length less than or equal to {hi}");
        }
    }

    private static string ValuePart(string? shown) => shown is null ? "Value" : $"Value '{shown}'";

    // AWS's validator prints blobs the way Java prints a ByteBuffer.
    private static string DescribeBlob(byte[] value) =>
        $"java.nio.HeapByteBuffer[pos=0 lim={value.Length} cap={value.Length}]";
}
