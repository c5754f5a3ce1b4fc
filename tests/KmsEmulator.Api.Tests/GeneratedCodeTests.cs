using KmsEmulator.ModelGen;

namespace KmsEmulator.Api.Tests;

public sealed class GeneratedCodeTests
{
    [SkippableFact]
    public void Generated_files_match_the_service_model()
    {
        var root = RepositoryLayout.FindRoot(AppContext.BaseDirectory)
            ?? throw new InvalidOperationException($"No {RepositoryLayout.SolutionFileName} above {AppContext.BaseDirectory}.");
        var modelPath = RepositoryLayout.ModelPath(root);
        Skip.IfNot(
            File.Exists(modelPath),
            $"The KMS service model is not at {modelPath}; set {RepositoryLayout.ModelPathVariable} to check the generated code.");

        var expected = ModelGenerator.Generate(File.ReadAllText(modelPath));
        var outputDirectory = RepositoryLayout.OutputDirectory(root);
        var differences = GeneratedOutput.FindDifferences(outputDirectory, expected);

        Assert.True(
            differences.Count == 0,
            $"The checked-in generated code in {outputDirectory} does not match the service model:\n  " +
            string.Join("\n  ", differences) +
            "\nRegenerate with: dotnet run --project tools/KmsEmulator.ModelGen (from the repository root), then commit the result.");
    }
}
