namespace KmsEmulator.ModelGen;

/// <summary>Where the repository, the service model and the generated code are; shared by the tool and its test.</summary>
public static class RepositoryLayout
{
    public const string SolutionFileName = "KmsEmulator.sln";

    /// <summary>Environment variable that overrides the model location.</summary>
    public const string ModelPathVariable = "KMS_MODEL_PATH";

    public const string ModelFileName = "kms-2014-11-01.service-2.json";

    /// <summary>The folder holding <see cref="SolutionFileName"/>, walking up from <paramref name="start"/>; null if none.</summary>
    public static string? FindRoot(string start)
    {
        for (var directory = new DirectoryInfo(Path.GetFullPath(start)); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, SolutionFileName)))
            {
                return directory.FullName;
            }
        }

        return null;
    }

    /// <summary><see cref="ModelPathVariable"/> when set, else <c>../shared/aws-models/</c> beside the checkout.</summary>
    public static string ModelPath(string? root)
    {
        var fromEnvironment = Environment.GetEnvironmentVariable(ModelPathVariable);
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
        {
            return Path.GetFullPath(fromEnvironment);
        }

        return root is null
            ? throw new InvalidOperationException($"No {SolutionFileName} found and {ModelPathVariable} is not set; pass --model.")
            : Path.GetFullPath(Path.Combine(root, "..", "shared", "aws-models", ModelFileName));
    }

    public static string OutputDirectory(string root) => Path.Combine(root, "src", "KmsEmulator.Api", "Generated");
}
