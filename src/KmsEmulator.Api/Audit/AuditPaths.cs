using Microsoft.Extensions.Options;

namespace KmsEmulator.Api.Audit;

/// <summary>The audit folder: <c>Kms:Audit:Directory</c>, or <c>audit</c> in the data directory.</summary>
public sealed class AuditPaths(string root)
{
    public AuditPaths(IOptions<AuditOptions> options, string dataDir)
        : this(Path.GetFullPath(options.Value.Directory ?? Path.Combine(dataDir, "audit")))
    {
    }

    /// <summary>The folder that plays the S3 bucket: it holds <c>AWSLogs/...</c>.</summary>
    public string Root { get; } = root;

    /// <summary>Creates the folder, readable by the emulator's user only (the trail names principals and keys).</summary>
    public void Create()
    {
        if (!Directory.Exists(Root))
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(Root);
            }
            else
            {
                Directory.CreateDirectory(Root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }
    }
}
