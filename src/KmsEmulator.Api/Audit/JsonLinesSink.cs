namespace KmsEmulator.Api.Audit;

/// <summary>Every record as one JSON line, for log shippers: to standard output or to a file (appended).</summary>
internal sealed class JsonLinesSink : IDisposable
{
    private readonly Stream _stream;
    private readonly bool _owned;

    private JsonLinesSink(Stream stream, bool owned)
    {
        _stream = stream;
        _owned = owned;
    }

    /// <summary>The sink <c>Kms:Audit:JsonLines</c> names (<c>stdout</c> or a path), or null when it names none.</summary>
    public static JsonLinesSink? Open(string? target, string auditRoot)
    {
        if (string.IsNullOrWhiteSpace(target))
        {
            return null;
        }

        if (string.Equals(target, "stdout", StringComparison.OrdinalIgnoreCase))
        {
            return new JsonLinesSink(Console.OpenStandardOutput(), owned: false);
        }

        var path = Path.GetFullPath(target, auditRoot);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        return new JsonLinesSink(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read, 64 * 1024), owned: true);
    }

    public void Write(ReadOnlySpan<byte> record)
    {
        _stream.Write(record);
        _stream.WriteByte((byte)'\n');
    }

    public void Flush() => _stream.Flush();

    public void Dispose()
    {
        _stream.Flush();
        if (_owned)
        {
            _stream.Dispose();
        }
    }
}
