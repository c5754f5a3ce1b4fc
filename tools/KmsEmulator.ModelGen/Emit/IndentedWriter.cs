using System.Text;

namespace KmsEmulator.ModelGen.Emit;

/// <summary>
/// Builds C# text line by line with four-space indentation and "\n" line endings.
/// A statement that follows a closed block is separated from it by a blank line.
/// </summary>
internal sealed class IndentedWriter
{
    private readonly StringBuilder _text = new();
    private int _depth;
    private bool _afterBlock;

    public IndentedWriter Line(string text = "")
    {
        if (_afterBlock && text.Length > 0 && text[0] is not ('}' or ']' or ')'))
        {
            _text.Append('\n');
        }

        _afterBlock = false;
        if (text.Length > 0)
        {
            _text.Append(' ', _depth * 4).Append(text);
        }

        _text.Append('\n');
        return this;
    }

    /// <summary>Writes <paramref name="header"/> and an opening brace; disposing the result writes the closing one.</summary>
    public Scope Block(string header, string opening = "{", string closing = "}")
    {
        Line(header);
        Line(opening);
        _depth++;
        return new Scope(this, closing);
    }

    public override string ToString() => _text.ToString();

    internal readonly struct Scope(IndentedWriter writer, string closing) : IDisposable
    {
        public void Dispose()
        {
            writer._depth--;
            writer.Line(closing);
            writer._afterBlock = true;
        }
    }
}
