using KmsEmulator.Hsm;

namespace KmsEmulator.Api.Hosting;

/// <summary>The <c>Kms</c> configuration section (appsettings, environment variables <c>Kms__*</c>, command line).</summary>
public sealed class KmsOptions
{
    public const string Section = "Kms";

    /// <summary>Where the SQLite store (unless <c>Kms:Store:Provider</c> is PostgreSql) and the SoftHSM2 token live. Relative paths are relative to the working directory.</summary>
    public string DataDir { get; set; } = "./data";

    /// <summary>How often the deletion sweep removes keys whose waiting period has ended.</summary>
    public TimeSpan DeletionSweepInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Starts the emulator's clock this far ahead of the system clock (e.g. <c>30.00:00:00</c>), for trying out what
    /// happens after a deletion window or rotation period. Zero (the default) is the real time.
    /// </summary>
    public TimeSpan ClockOffset { get; set; }

    /// <summary>
    /// How long a graceful stop (SIGTERM, Ctrl+C) lets requests in flight finish before their connections are closed.
    /// The audit trail is then still written out completely, and the HSM sessions are closed.
    /// </summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The emulator-only admin endpoints under <c>/_emulator/</c> (<c>Kms:Admin:Enabled</c>).</summary>
    public AdminOptions Admin { get; set; } = new();

    public HsmOptions Hsm { get; set; } = new();

    /// <summary>Where key metadata is kept (<c>Kms:Store</c>): SQLite in the data directory, or a PostgreSQL database.</summary>
    public StoreOptions Store { get; set; } = new();

    /// <summary><c>GET /health</c> (<c>Kms:Health</c>).</summary>
    public HealthOptions Health { get; set; } = new();

    /// <summary><c>GET /metrics</c> (<c>Kms:Metrics</c>).</summary>
    public MetricsOptions Metrics { get; set; } = new();

    public string DatabasePath => Path.Combine(Path.GetFullPath(DataDir), "kms.db");

    public string DefaultTokenDirectory => Path.Combine(Path.GetFullPath(DataDir), "softhsm", "tokens");
}

/// <summary>The store behind key metadata.</summary>
public enum StoreProvider
{
    /// <summary>An embedded SQLite file, <c>kms.db</c> in the data directory.</summary>
    Sqlite,

    /// <summary>A PostgreSQL database named by <see cref="StoreOptions.ConnectionString"/>.</summary>
    PostgreSql,
}

/// <summary>The <c>Kms:Store</c> section: which store keeps key metadata, aliases, tags and grants.</summary>
public sealed class StoreOptions
{
    /// <summary><c>Sqlite</c> (the default, embedded) or <c>PostgreSql</c>.</summary>
    public StoreProvider Provider { get; set; } = StoreProvider.Sqlite;

    /// <summary>With <c>PostgreSql</c>: an Npgsql connection string to an existing database. Never logged.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>
    /// Whether other emulators write to the same store, so that every request first catches up with the store's
    /// changes. Unset: true for <c>PostgreSql</c>, false for <c>Sqlite</c>.
    /// </summary>
    public bool? SharedByNodes { get; set; }

    /// <summary>What <see cref="SharedByNodes"/> comes to for the chosen provider.</summary>
    public bool IsShared => SharedByNodes ?? Provider == StoreProvider.PostgreSql;
}

/// <summary>
/// A setting that cannot work, found before anything is opened: start-up stops with the message (exit code 2), like
/// a value of the wrong type.
/// </summary>
public sealed class StartupConfigurationException(string message) : Exception(message);

/// <summary>The <c>Kms:Admin</c> section: emulator-only controls outside the KMS API.</summary>
public sealed class AdminOptions
{
    /// <summary>Whether <c>/_emulator/</c> answers (the clock control). Off by default: it needs no credentials.</summary>
    public bool Enabled { get; set; }
}

/// <summary>The <c>Kms:Health</c> section: how <c>GET /health</c> checks the HSM and the store.</summary>
public sealed class HealthOptions
{
    /// <summary>
    /// How long one check of the HSM and the store answers every <c>/health</c> request before the next is made, so
    /// that frequent polling costs nothing.
    /// </summary>
    public TimeSpan CacheInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a check of the HSM or the store may take before it counts as failed.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(2);
}

/// <summary>The <c>Kms:Metrics</c> section: the Prometheus endpoint.</summary>
public sealed class MetricsOptions
{
    /// <summary>Whether <c>GET /metrics</c> answers (requests are counted either way; counting costs next to nothing).</summary>
    public bool Enabled { get; set; } = true;
}
