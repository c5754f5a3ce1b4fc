using System.Text.RegularExpressions;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// Keys/KmsErrors.cs is the one catalogue of error texts (issue 9). Anywhere else in KmsEmulator.Api, an error is a
/// call of a named factory with the variable parts only: no <c>new KmsException(...)</c>, and no factory call whose
/// first argument is a text (a string literal or an interpolated string).
/// </summary>
public sealed partial class ErrorCatalogueTests
{
    private static readonly string Source = Path.Combine(RepositoryRoot.Path, "src", "KmsEmulator.Api");

    /// <summary>
    /// A KmsException built outside the catalogue (by name, or target-typed with an error code), or a KmsErrors call
    /// whose first argument starts as a string: "...", $"...", @"...", $@"...", @$"..." or a raw """...""" (also $$""").
    /// </summary>
    [GeneratedRegex(@"\bnew\s+KmsException\s*\(|\bnew\s*\(\s*""[A-Za-z]*Exception""|\bKmsErrors\s*\.\s*[A-Za-z_][A-Za-z0-9_]*\s*\(\s*(?:\$+@?|@\$*)?""")]
    private static partial Regex InlineError();

    [Fact]
    public void No_error_text_is_written_outside_the_catalogue()
    {
        var files = SourceFiles().ToList();
        Assert.True(files.Count > 20, $"Expected the sources of KmsEmulator.Api under {Source}, found {files.Count} files.");

        var findings = new List<string>();
        foreach (var file in files)
        {
            var text = File.ReadAllText(file);
            foreach (Match match in InlineError().Matches(text))
            {
                var line = 1 + text.AsSpan(0, match.Index).Count('\n');
                findings.Add($"  {Path.GetRelativePath(Source, file)}:{line}: {match.Value.ReplaceLineEndings(" ")}");
            }
        }

        Assert.True(
            findings.Count == 0,
            "Error texts belong in Keys/KmsErrors.cs; add a named factory there and call it with the variable parts:\n" + string.Join("\n", findings));
    }

    /// <summary>Positive control: the scan recognises the forms it must refuse.</summary>
    [Theory]
    [InlineData("throw KmsErrors.Validation(\"Alias name is empty.\");")]
    [InlineData("throw KmsErrors.InvalidState($\"{arn} is pending deletion.\");")]
    [InlineData("KmsErrors.Tag(@\"Too many tags\")")]
    [InlineData("KmsErrors.Unsupported(\n    $\"KmsEmulator cannot {what}.\")")]
    [InlineData("KmsErrors.Validation(\"\"\"raw text\"\"\")")]
    [InlineData("throw new KmsException(\"InvalidSignatureException\", message);")]
    [InlineData("private static KmsException Denied(string m) => new(\"AccessDeniedException\", m);")]
    public void The_scan_finds_inline_error_texts(string sample) => Assert.Matches(InlineError(), sample);

    /// <summary>Negative control: named factories with variable parts, member names by nameof, and other code pass.</summary>
    [Theory]
    [InlineData("throw KmsErrors.KeyPendingDeletion(arn);")]
    [InlineData("throw KmsErrors.RequiredMemberMissing(nameof(request.RetiringPrincipal));")]
    [InlineData("throw KmsErrors.SignatureExpired(Format(requestTime), Format(earliest), Format(now), minutes);")]
    [InlineData("catch (KmsException e) { errorCode = e.Code; }")]
    [InlineData("var list = new List<string>(\"KmsErrors\".Length);")]
    public void The_scan_passes_named_factories(string sample) => Assert.DoesNotMatch(InlineError(), sample);

    private static IEnumerable<string> SourceFiles() =>
        Directory.EnumerateFiles(Source, "*.cs", SearchOption.AllDirectories)
            .Where(file => !IsExcluded(Path.GetRelativePath(Source, file).Replace('\\', '/')))
            .Order(StringComparer.Ordinal);

    private static bool IsExcluded(string relative) =>
        relative == "Keys/KmsErrors.cs"
        || relative.StartsWith("Generated/", StringComparison.Ordinal)
        || relative.StartsWith("bin/", StringComparison.Ordinal)
        || relative.StartsWith("obj/", StringComparison.Ordinal);
}
