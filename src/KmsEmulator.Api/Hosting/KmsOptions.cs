using KmsEmulator.Hsm;

namespace KmsEmulator.Api.Hosting;

/// <summary>The <c>Kms</c> configuration section (appsettings, environment variables <c>Kms__*</c>, command line).</summary>
public sealed class KmsOptions
{
    public const string Section = "Kms";

    /// <summary>Where the SQLite store and the SoftHSM2 token live. Relative paths are relative to the working directory.</summary>
    public string DataDir { get; set; } = "./data";

    /// <summary>How often the deletion sweep removes keys whose waiting period has ended.</summary>
    public TimeSpan DeletionSweepInterval { get; set; } = TimeSpan.FromMinutes(1);

    public HsmOptions Hsm { get; set; } = new();

    public string DatabasePath => Path.Combine(Path.GetFullPath(DataDir), "kms.db");

    public string DefaultTokenDirectory => Path.Combine(Path.GetFullPath(DataDir), "softhsm", "tokens");
}
