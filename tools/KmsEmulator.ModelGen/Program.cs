using KmsEmulator.ModelGen;

const string Usage = """
    Generates src/KmsEmulator.Api/Generated from the AWS KMS service model.

    Usage: dotnet run --project tools/KmsEmulator.ModelGen -- [--model PATH] [--out DIR] [--check]

      --model PATH  botocore service model (default: $KMS_MODEL_PATH, else
                    ../shared/aws-models/kms-2014-11-01.service-2.json beside the repository)
      --out DIR     output directory (default: src/KmsEmulator.Api/Generated in the repository)
      --check       write nothing; exit 1 when the output directory is not up to date
    """;

string? modelPath = null;
string? outputDirectory = null;
var check = false;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--model" when i + 1 < args.Length:
            modelPath = args[++i];
            break;
        case "--out" when i + 1 < args.Length:
            outputDirectory = args[++i];
            break;
        case "--check":
            check = true;
            break;
        case "-h" or "--help":
            Console.WriteLine(Usage);
            return 0;
        default:
            Console.Error.WriteLine($"Unknown or incomplete argument '{args[i]}'.");
            Console.Error.WriteLine(Usage);
            return 2;
    }
}

try
{
    var root = RepositoryLayout.FindRoot(Directory.GetCurrentDirectory());
    modelPath = modelPath is null ? RepositoryLayout.ModelPath(root) : Path.GetFullPath(modelPath);
    outputDirectory = outputDirectory is not null
        ? Path.GetFullPath(outputDirectory)
        : RepositoryLayout.OutputDirectory(root ?? throw new InvalidOperationException($"No {RepositoryLayout.SolutionFileName} found above the current directory; pass --out."));

    if (!File.Exists(modelPath))
    {
        Console.Error.WriteLine($"Service model not found: {modelPath} (set --model or {RepositoryLayout.ModelPathVariable}).");
        return 2;
    }

    var files = ModelGenerator.Generate(File.ReadAllText(modelPath));
    if (check)
    {
        var differences = GeneratedOutput.FindDifferences(outputDirectory, files);
        foreach (var difference in differences)
        {
            Console.WriteLine(difference);
        }

        Console.WriteLine(differences.Count == 0 ? $"{outputDirectory} is up to date." : $"{outputDirectory} is stale; run the generator.");
        return differences.Count == 0 ? 0 : 1;
    }

    var changes = GeneratedOutput.Write(outputDirectory, files);
    foreach (var change in changes)
    {
        Console.WriteLine(change);
    }

    Console.WriteLine($"{files.Count} files from {modelPath} in {outputDirectory}: {changes.Count} changed.");
    return 0;
}
catch (Exception e) when (e is InvalidDataException or NotSupportedException or InvalidOperationException or IOException or System.Text.Json.JsonException)
{
    Console.Error.WriteLine($"Generation failed: {e.Message}");
    return 2;
}
