namespace KmsEmulator.Tests.Shared;

/// <summary>The checkout's root folder (the one holding KmsEmulator.sln). Shared by the test projects.</summary>
internal static class RepositoryRoot
{
    public static string Path { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "KmsEmulator.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("KmsEmulator.sln not found above " + AppContext.BaseDirectory);
    }
}
