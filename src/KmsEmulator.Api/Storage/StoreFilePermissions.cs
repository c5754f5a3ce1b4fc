namespace KmsEmulator.Api.Storage;

/// <summary>
/// Keeps the store's files to the user running the emulator on Unix: a data directory the store creates is 0700, and
/// the database and its -wal, -shm and -journal files are 0600. A directory that already exists is not changed (it
/// may be one the user shares on purpose); when other users can use it, the store says so. Nothing is done on Windows.
/// </summary>
internal static class StoreFilePermissions
{
    public const UnixFileMode OwnerOnlyDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    public const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private const UnixFileMode GroupAndOthers =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    private static readonly string[] SidecarSuffixes = ["-wal", "-shm", "-journal"];

    /// <summary>Creates the directory of <paramref name="databasePath"/> (0700), or warns when an existing one is open to others.</summary>
    public static void PrepareDirectory(string databasePath, Action<string> warning)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(databasePath))!;
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
            return;
        }

        if (!Directory.Exists(directory))
        {
            CreateOwnerOnly(directory);
            return;
        }

        var mode = File.GetUnixFileMode(directory);
        if ((mode & GroupAndOthers) != 0)
        {
            warning(
                $"The data directory {directory} is open to other users (mode {Octal(mode)}). The store's files in it are "
                + "kept 0600, but the emulator does not change the mode of a directory it did not create; run chmod 700 on "
                + "it unless it is shared on purpose.");
        }
    }

    /// <summary>
    /// Creates the database file 0600 when it is missing, so that SQLite, which gives -wal, -shm and -journal files the
    /// mode of their database, creates them 0600 too; and makes existing ones 0600.
    /// </summary>
    public static void RestrictDatabaseFiles(string databasePath, Action<string> warning)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        if (!File.Exists(databasePath))
        {
            // An empty file is an empty SQLite database.
            using var created = new FileStream(databasePath, new FileStreamOptions
            {
                Mode = FileMode.OpenOrCreate,
                Access = FileAccess.Write,
                Share = FileShare.ReadWrite | FileShare.Delete,
                UnixCreateMode = OwnerOnlyFile,
            });
        }

        foreach (var path in SidecarSuffixes.Select(suffix => databasePath + suffix).Prepend(databasePath))
        {
            try
            {
                if (File.Exists(path) && File.GetUnixFileMode(path) != OwnerOnlyFile)
                {
                    File.SetUnixFileMode(path, OwnerOnlyFile);
                }
            }
            catch (Exception e) when (e is UnauthorizedAccessException or IOException)
            {
                warning($"Could not make {path} readable by its owner only: {e.Message}");
            }
        }
    }

    /// <summary>
    /// Creates <paramref name="directory"/> and its missing parents 0700 (less the umask), top down. Directory.CreateDirectory
    /// with a mode gives it to the last directory only, and the parents it creates the default mode.
    /// </summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static void CreateOwnerOnly(string directory)
    {
        var missing = new Stack<string>();
        for (var path = Path.TrimEndingDirectorySeparator(directory); path is not null && !Directory.Exists(path); path = Path.GetDirectoryName(path))
        {
            missing.Push(path);
        }

        while (missing.TryPop(out var path))
        {
            Directory.CreateDirectory(path, OwnerOnlyDirectory);
        }
    }

    private static string Octal(UnixFileMode mode) => Convert.ToString((int)mode, 8).PadLeft(4, '0');
}
