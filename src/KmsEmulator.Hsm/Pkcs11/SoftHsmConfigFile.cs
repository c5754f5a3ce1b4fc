namespace KmsEmulator.Hsm.Pkcs11;

/// <summary>
/// The softhsm2.conf that the emulator writes when it is given a token directory and the environment does not
/// already name a SoftHSM2 configuration. It lives in the parent of the token directory.
/// </summary>
internal sealed class SoftHsmConfigFile
{
    /// <summary>The environment variable SoftHSM2 reads its configuration path from.</summary>
    public const string EnvironmentVariable = "SOFTHSM2_CONF";

    private const string TokenDirectoryPlaceholder = "{TOKEN_DIR}";

    private const string BuiltInTemplate =
        """
        directories.tokendir = {TOKEN_DIR}
        objectstore.backend = file
        log.level = ERROR
        slots.removable = false
        slots.mechanisms = ALL
        library.reset_on_fork = false

        """;

    /// <summary>The value the process started with, before the emulator set the variable itself.</summary>
    private static readonly string? InheritedValue = Environment.GetEnvironmentVariable(EnvironmentVariable);

    private SoftHsmConfigFile(string filePath, string tokenDirectory)
    {
        FilePath = filePath;
        TokenDirectory = tokenDirectory;
    }

    /// <summary>True when SOFTHSM2_CONF was set when the process started; it then wins over a configured token directory.</summary>
    public static bool IsInherited => InheritedValue is not null;

    /// <summary>Absolute path of the softhsm2.conf file.</summary>
    public string FilePath { get; }

    /// <summary>Absolute path of the token directory that the file names.</summary>
    public string TokenDirectory { get; }

    /// <summary>The file to use for <paramref name="tokenDirectory"/>, or null when there is none or SOFTHSM2_CONF is inherited.</summary>
    public static SoftHsmConfigFile? For(string? tokenDirectory)
    {
        if (string.IsNullOrWhiteSpace(tokenDirectory) || IsInherited)
        {
            return null;
        }

        var directory = Path.TrimEndingDirectorySeparator(Path.GetFullPath(tokenDirectory));
        var parent = Path.GetDirectoryName(directory)
            ?? throw new HsmException(HsmErrorKind.Unavailable, $"The token directory '{directory}' needs a parent directory for softhsm2.conf.");
        return new SoftHsmConfigFile(Path.Combine(parent, "softhsm2.conf"), directory);
    }

    /// <summary>
    /// Creates the token directory and writes the file from softhsm-config/softhsm2.conf.template, or a built-in copy.
    /// On Unix the directories it creates (the token directory and any missing parents) are 0700.
    /// </summary>
    public void Write()
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(TokenDirectory);
        }
        else
        {
            // Top down, each with the mode: Directory.CreateDirectory with a mode gives it to the last directory only.
            var missing = new Stack<string>();
            for (var path = TokenDirectory; path is not null && !Directory.Exists(path); path = Path.GetDirectoryName(path))
            {
                missing.Push(path);
            }

            while (missing.TryPop(out var path))
            {
                Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }

        var templatePath = Path.Combine(AppContext.BaseDirectory, "softhsm-config", "softhsm2.conf.template");
        var template = File.Exists(templatePath) ? File.ReadAllText(templatePath) : BuiltInTemplate;
        File.WriteAllText(FilePath, template.Replace(TokenDirectoryPlaceholder, TokenDirectory, StringComparison.Ordinal));
    }
}
