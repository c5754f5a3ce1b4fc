using System.Text;

namespace KmsEmulator.ModelGen;

/// <summary>Writes generated files to a directory, or compares them with what is there.</summary>
public static class GeneratedOutput
{
    /// <summary>The files the generator owns in its output directory.</summary>
    public const string FilePattern = "*.g.cs";

    private static readonly UTF8Encoding Utf8NoBom = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>Writes changed files, deletes generated files no longer produced; returns one line per change.</summary>
    public static IReadOnlyList<string> Write(string directory, IReadOnlyDictionary<string, string> files)
    {
        Directory.CreateDirectory(directory);
        var changes = new List<string>();
        foreach (var (name, content) in files)
        {
            var path = Path.Combine(directory, name);
            if (!File.Exists(path) || File.ReadAllText(path) != content)
            {
                File.WriteAllText(path, content, Utf8NoBom);
                changes.Add($"wrote {name}");
            }
        }

        foreach (var stale in StaleFiles(directory, files))
        {
            File.Delete(Path.Combine(directory, stale));
            changes.Add($"deleted {stale}");
        }

        return changes;
    }

    /// <summary>
    /// One line per difference between <paramref name="files"/> and the directory: missing, different (with the first
    /// differing line) or extra generated files. Empty when the directory is up to date. CRLF checkouts compare equal.
    /// </summary>
    public static IReadOnlyList<string> FindDifferences(string directory, IReadOnlyDictionary<string, string> files)
    {
        var differences = new List<string>();
        foreach (var (name, expected) in files)
        {
            var path = Path.Combine(directory, name);
            if (!File.Exists(path))
            {
                differences.Add($"{name}: missing");
                continue;
            }

            var actual = File.ReadAllText(path).Replace("\r\n", "\n", StringComparison.Ordinal);
            if (actual != expected)
            {
                differences.Add($"{name}: differs from the model, first at line {FirstDifferentLine(expected, actual)}");
            }
        }

        differences.AddRange(StaleFiles(directory, files).Select(name => $"{name}: no longer generated"));
        return differences;
    }

    private static IEnumerable<string> StaleFiles(string directory, IReadOnlyDictionary<string, string> files) =>
        Directory.Exists(directory)
            ? Directory.EnumerateFiles(directory, FilePattern)
                .Select(path => Path.GetFileName(path))
                .Where(name => !files.ContainsKey(name))
                .Order(StringComparer.Ordinal)
            : [];

    private static int FirstDifferentLine(string expected, string actual)
    {
        var (expectedLines, actualLines) = (expected.Split('\n'), actual.Split('\n'));
        var line = 0;
        while (line < expectedLines.Length && line < actualLines.Length && expectedLines[line] == actualLines[line])
        {
            line++;
        }

        return line + 1;
    }
}
