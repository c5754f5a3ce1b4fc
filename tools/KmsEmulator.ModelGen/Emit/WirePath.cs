namespace KmsEmulator.ModelGen.Emit;

/// <summary>
/// A C# string expression for the path of a value in validation messages, built from code and literal parts:
/// <c>prefix + "tags." + (i + 1) + ".member.tagKey"</c>. Adjacent literals are merged.
/// </summary>
internal sealed class WirePath
{
    private readonly IReadOnlyList<(string Text, bool IsCode)> _parts;

    private WirePath(IReadOnlyList<(string Text, bool IsCode)> parts) => _parts = parts;

    /// <summary>A path that starts with a string variable (the <c>prefix</c> parameter).</summary>
    public static WirePath StartingWith(string variable) => new([(variable, true)]);

    public WirePath Then(string literal) =>
        _parts[^1] is { IsCode: false } last
            ? new([.. _parts.Take(_parts.Count - 1), (last.Text + literal, false)])
            : new([.. _parts, (literal, false)]);

    public WirePath ThenCode(string expression) => new([.. _parts, (expression, true)]);

    public override string ToString() =>
        string.Join(" + ", _parts.Select(p => p.IsCode ? p.Text : CSharp.String(p.Text)));
}
