using KmsEmulator.Api.Audit;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Pipeline;
using KmsEmulator.Api.Protocol;
using KmsEmulator.Api.Protocol.CloudTrail;
using KmsEmulator.Api.Storage;
using KmsEmulator.Hsm;
using KmsEmulator.Hsm.Pkcs11;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Serilog;
using Serilog.Configuration;
using Serilog.Events;
using Serilog.Formatting.Display;

namespace KmsEmulator.Api.Hosting;

/// <summary>
/// The composition root, in the order things happen: configuration, HSM, store, services, HTTP pipeline,
/// catalogue load and reconciliation. Program.cs runs it; the end-to-end tests build the same app with overrides.
/// </summary>
public static class KmsEmulatorApp
{
    public const string DefaultUrl = "http://127.0.0.1:4599";

    /// <summary><c>Kms:Hsm:SessionCopyCheckInterval</c> when unset and the store is PostgreSQL (several nodes may share the token).</summary>
    public static readonly TimeSpan SharedStoreCopyCheckInterval = TimeSpan.FromSeconds(1);

    /// <summary><c>Kms:Hsm:OrphanGracePeriod</c> when unset and the store is PostgreSQL.</summary>
    public static readonly TimeSpan SharedStoreOrphanGracePeriod = TimeSpan.FromHours(1);

    /// <summary>Short command-line switches and the configuration keys they set.</summary>
    internal static readonly Dictionary<string, string> SwitchMappings = new(StringComparer.Ordinal)
    {
        ["--data-dir"] = "Kms:DataDir",
        ["--config"] = "Kms:ConfigFile",
        ["--seed"] = "Kms:Seed",
    };

    /// <param name="args">Command-line arguments (--urls, --data-dir, --config, or any Kms:* key).</param>
    /// <param name="configure">Test hook: runs after the default registrations, before the app is built.</param>
    public static async Task<WebApplication> BuildAsync(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        // The configuration is read once: no file watching (see KmsJsonConfigurationSource.ReplaceStandardSources).
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false", .. args] });
        AddConfigurationSources(builder.Configuration, args);

        var options = builder.Configuration.GetSection(KmsOptions.Section).Get<KmsOptions>() ?? new KmsOptions();
        var tlsOptions = builder.Configuration.GetSection(TlsOptions.Section).Get<TlsOptions>() ?? new TlsOptions();
        var httpOptions = builder.Configuration.GetSection(HttpListenerOptions.Section).Get<HttpListenerOptions>() ?? new HttpListenerOptions();
        builder.WebHost.UseUrls(ListenerUrls(builder.Configuration["urls"], httpOptions, tlsOptions));

        // The seed file is read and checked on its own before anything is opened: a malformed seed changes nothing.
        var seedPath = builder.Configuration["Kms:Seed"] is { Length: > 0 } seedFile ? Path.GetFullPath(seedFile) : null;
        var seed = seedPath is null
            ? null
            : SeedFile.Load(seedPath, builder.Configuration["Kms:DefaultAccountId"] ?? new IdentityOptions().DefaultAccountId, builder.Configuration["Kms:DefaultRegion"] ?? new IdentityOptions().DefaultRegion);
        AddLogging(builder);
        // A graceful stop: Kestrel lets requests in flight finish for this long, then audit delivery drains the queue.
        builder.Services.Configure<Microsoft.Extensions.Hosting.HostOptions>(host => host.ShutdownTimeout = options.ShutdownTimeout);

        // HTTPS: the configured certificate, or the local CA and server certificate in <data-dir>/tls (made on first
        // start), read before the store opens so that a certificate error leaves nothing open. Certificates follow the
        // machine's clock, not the movable emulator clock: clients check them in real time.
        var tls = tlsOptions.Enabled ? TlsListener.Create(tlsOptions, options.DataDir, TimeProvider.System, message => Log.Information("TLS: {Message}", message)) : null;
        if (tls?.Authority is { } authority)
        {
            Log.Information("TLS: clients of the HTTPS listener trust the CA in {CaPath}", authority.CaCertificatePath);
        }

        if (tls is not null)
        {
            builder.Services.AddSingleton(tls);
            // The slim builder leaves out Kestrel's HTTPS configuration; https:// addresses need it.
            builder.WebHost.UseKestrelHttpsConfiguration();
        }

        // Metadata: SQLite in the data directory (created 0700 first) or a PostgreSQL database, migrated before anything
        // reads it.
        var store = await OpenStoreAsync(options);
        // By factory, so that the container disposes the store with the app (PostgreSQL: its connection pools).
        builder.Services.AddSingleton(_ => store);
        builder.Services.AddSingleton((IStoreProbe)store);
        // Other emulators writing to the same store: every request first catches up with the store's changes.
        builder.Services.AddSingleton(new StoreSharing(options.Store.IsShared));

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            // KMS requests raise it to discard an oversized body before answering (KmsEndpoint.MaxDiscardedBodyBytes).
            kestrel.Limits.MaxRequestBodySize = KmsEndpoint.MaxBodyBytes;
            // Endpoints keep Kestrel's default protocols, HTTP/1.1 and HTTP/2: HTTP/2 is offered by ALPN on the TLS
            // listener; plain HTTP connections are HTTP/1.1 (setting it explicitly only adds a warning for those).
            if (tls is not null)
            {
                kestrel.ConfigureHttpsDefaults(tls.Configure);
            }
        });

        // Key material: the PKCS#11 token (created on first start for SoftHSM2). Loading the module reads every token
        // object (SoftHSM2 keeps one file per object), so it runs while the store's snapshot is read.
        options.Hsm.TokenDirectory ??= options.DefaultTokenDirectory;

        // A PostgreSQL store may be shared by several nodes, and then so is the token: unless told otherwise, check
        // session copies of keys once a second and spare objects without a row for an hour (docs/scale-out.md).
        var sharedStore = options.Store.Provider == StoreProvider.PostgreSql;
        options.Hsm.SessionCopyCheckInterval ??= sharedStore ? SharedStoreCopyCheckInterval : null;
        var orphanGracePeriod = options.Hsm.OrphanGracePeriod ?? (sharedStore ? SharedStoreOrphanGracePeriod : TimeSpan.Zero);
        // It then reads every token object for the start-up index, while the host is built below.
        var opening = Task.Run(async () =>
        {
            var opened = Pkcs11Backend.Open(options.Hsm, message => Log.Information("HSM: {Message}", message));
            try
            {
                await opened.ReadTokenAheadAsync();
            }
            catch
            {
                opened.Dispose();
                throw;
            }

            return opened;
        });
        StoreSnapshot snapshot;
        try
        {
            snapshot = await store.LoadAsync();
        }
        catch
        {
            await DisposeWhenOpenedAsync(opening);
            throw;
        }

        // Registered by factory so that the container owns the backend: disposing the app (after the server has
        // drained and the audit trail, whose digests the HSM signs, is written) closes the HSM sessions. Nothing
        // resolves it before the opening has finished (awaited after the host is built).
        builder.Services.AddSingleton<IKeyMaterialBackend>(_ => Opened(opening));
        builder.Services.AddSingleton<IHsmStatus>(_ => Opened(opening));
        builder.Services.AddSingleton(services => new OrphanPolicy(orphanGracePeriod, services.GetRequiredService<ClockSource>().Clock));

        builder.Services.Configure<KmsOptions>(builder.Configuration.GetSection(KmsOptions.Section));
        builder.Services.Configure<IdentityOptions>(builder.Configuration.GetSection(KmsOptions.Section));
        builder.Services.Configure<AuthOptions>(builder.Configuration.GetSection(KmsOptions.Section + ":Auth"));
        builder.Services.Configure<AuditOptions>(builder.Configuration.GetSection(AuditOptions.Section));
        builder.Services.AddSingleton(services => new AuditPaths(services.GetRequiredService<IOptions<AuditOptions>>(), options.DataDir));
        builder.Services.AddSingleton(PrincipalDirectory.FromConfiguration(builder.Configuration));
        builder.Services.AddKmsCore();
        builder.Services.AddHostedService<LifecycleSweeper>();
        builder.Services.AddHostedService<AuditDelivery>();
        builder.Services.AddAuditDigests(builder.Configuration["Kms:DefaultRegion"]);
        if (builder.Configuration.GetSection(AuditOptions.Section).Get<AuditOptions>()?.Enabled ?? true)
        {
            // The audit index (LookupEvents, GetKeyLastUsage after a restart), opened when first asked for, on the app's
            // clock (its creation is GetKeyLastUsage's TrackingStartDate): in the store's PostgreSQL database, one for
            // every node on it, or audit.db beside kms.db. Log files and digests stay in each node's data directory.
            if (options.Store.Provider == StoreProvider.PostgreSql)
            {
                var connectionString = options.Store.ConnectionString!;
                AddAuditIndex(builder.Services, services => PostgreSqlAuditIndex.OpenAsync(connectionString, services.GetRequiredService<TimeProvider>()).GetAwaiter().GetResult());
            }
            else
            {
                AddAuditIndex(builder.Services, services => SqliteAuditIndex.Open(SqliteAuditIndex.PathIn(options.DataDir), services.GetRequiredService<TimeProvider>()));
            }
        }

        WebApplication app;
        try
        {
            configure?.Invoke(builder);
            app = builder.Build();
        }
        catch
        {
            await DisposeWhenOpenedAsync(opening);
            throw;
        }

        try
        {
            await opening;
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        // No routing: every request is GET /health, GET /metrics, a CloudTrail call (by its X-Amz-Target) or a KMS
        // call, which answers anything else itself (KMS calls are POST /, so neither GET path can be one).
        app.UseAwsRequestIds();
        var endpoint = app.Services.GetRequiredService<KmsEndpoint>();
        var health = app.Services.GetRequiredService<HealthEndpoint>();
        var metrics = app.Services.GetRequiredService<MetricsEndpoint>();
        var admin = app.Services.GetRequiredService<AdminEndpoint>();
        var cloudTrail = app.Services.GetRequiredService<CloudTrailEndpoint>();
        app.Run(context =>
            HealthEndpoint.Matches(context.Request) ? health.HandleAsync(context)
            : metrics.Matches(context.Request) ? metrics.HandleAsync(context)
            : admin.Matches(context.Request) ? admin.HandleAsync(context)
            : CloudTrailEndpoint.Matches(context.Request) ? cloudTrail.HandleAsync(context)
            : endpoint.HandleAsync(context));

        try
        {
            await LoadAsync(app.Services, snapshot, seedPath, seed);
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        return app;
    }

    /// <summary>The HSM backend that <paramref name="opening"/> opened; start-up awaits it before anything resolves it.</summary>
    private static Pkcs11Backend Opened(Task<Pkcs11Backend> opening) => opening.IsCompletedSuccessfully
        ? opening.Result
        : throw new InvalidOperationException("The HSM backend was asked for before it was open.");

    /// <summary>
    /// Closes the HSM once it is open, when start-up failed for another reason (the store, the host). That failure is
    /// the one reported; if the HSM could not be opened either, that is logged beside it rather than thrown over it.
    /// </summary>
    private static async Task DisposeWhenOpenedAsync(Task<Pkcs11Backend> opening)
    {
        try
        {
            (await opening).Dispose();
        }
        catch (Exception e)
        {
            Log.Warning("HSM: it could not be opened either: {Message}", e.Message);
        }
    }

    /// <summary>Registers the audit index that <paramref name="open"/> opens as the LookupEvents index and the key usage history.</summary>
    private static void AddAuditIndex<TIndex>(IServiceCollection services, Func<IServiceProvider, TIndex> open)
        where TIndex : class, IAuditIndex, IKeyUsageHistory
    {
        services.AddSingleton(open);
        services.AddSingleton<IAuditIndex>(services => services.GetRequiredService<TIndex>());
        services.AddSingleton<IKeyUsageHistory>(services => services.GetRequiredService<TIndex>());
    }

    /// <summary>
    /// Opens the store <c>Kms:Store:Provider</c> names. A setting that cannot work is a
    /// <see cref="StartupConfigurationException"/>; a connection string never appears in a message or a log.
    /// </summary>
    internal static async Task<IKmsStore> OpenStoreAsync(KmsOptions options)
    {
        var warning = new Action<string>(message => Log.Warning("Storage: {Message}", message));
        switch (options.Store.Provider)
        {
            case StoreProvider.Sqlite:
                if (!string.IsNullOrWhiteSpace(options.Store.ConnectionString))
                {
                    warning("Kms:Store:ConnectionString is set but Kms:Store:Provider is Sqlite: it is ignored, and key metadata is kept in " + options.DatabasePath + ".");
                }

                return await SqliteKmsStore.OpenAsync(options.DatabasePath, warning);
            case StoreProvider.PostgreSql:
                if (string.IsNullOrWhiteSpace(options.Store.ConnectionString))
                {
                    throw new StartupConfigurationException(
                        "Kms:Store:Provider is PostgreSql but Kms:Store:ConnectionString is not set: give an Npgsql connection string such as "
                        + "Host=127.0.0.1;Port=5432;Database=kms;Username=kms (the password through Kms__Store__ConnectionString or PGPASSWORD).");
                }

                NpgsqlConnectionStringBuilder settings;
                try
                {
                    settings = new NpgsqlConnectionStringBuilder(options.Store.ConnectionString);
                }
                catch (ArgumentException e)
                {
                    // The message names the keyword, never the value (which may be the password).
                    throw new StartupConfigurationException($"Kms:Store:ConnectionString is not a valid Npgsql connection string: {e.Message}");
                }

                // The data directory still holds the HSM token, the audit trail and the TLS files: created 0700 as with SQLite.
                StoreFilePermissions.PrepareDirectory(options.DatabasePath, warning);
                var store = await PostgreSqlKmsStore.OpenAsync(settings.ConnectionString);
                Log.Information("Storage: PostgreSQL {Location}, store id {StoreId}", store.Location, store.StoreId);
                return store;
            default:
                throw new StartupConfigurationException($"Kms:Store:Provider '{options.Store.Provider}' is not one of Sqlite, PostgreSql.");
        }
    }

    /// <summary>
    /// The addresses Kestrel binds: those of <c>--urls</c> (plain HTTP, 127.0.0.1:4599 when unset) unless
    /// <c>Kms:Http:Enabled</c> is false, and the HTTPS listener of <c>Kms:Tls</c> unless it is off.
    /// </summary>
    internal static string ListenerUrls(string? urls, HttpListenerOptions http, TlsOptions tls)
    {
        var configured = (string.IsNullOrWhiteSpace(urls) ? DefaultUrl : urls)
            .Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var addresses = new List<string>();
        foreach (var url in configured)
        {
            var https = url.StartsWith("https://", StringComparison.OrdinalIgnoreCase);
            if (https && !tls.Enabled)
            {
                throw new InvalidOperationException($"--urls names {url}, but Kms:Tls:Enabled is false.");
            }

            if (https || http.Enabled)
            {
                addresses.Add(url);
            }
        }

        if (tls.Enabled)
        {
            if (tls.Port is < 0 or > 65535)
            {
                throw new InvalidOperationException($"Kms:Tls:Port must be a port number (0 for a free one), not {tls.Port}.");
            }

            addresses.Add(tls.Url);
        }

        return addresses.Count > 0
            ? string.Join(';', addresses)
            : throw new InvalidOperationException("Both listeners are off (Kms:Http:Enabled and Kms:Tls:Enabled are false): turn one on.");
    }

    /// <summary>
    /// Adds, after the builder's defaults (appsettings.json, environment, command line), the command line with its
    /// switches and the file named by --config, then the command line again so explicit flags win over the file.
    /// JSON files, appsettings.json included, keep policy documents written as JSON objects exactly as written
    /// (see <see cref="KmsJsonConfigurationSource"/>).
    /// </summary>
    internal static void AddConfigurationSources(ConfigurationManager configuration, string[] args)
    {
        KmsJsonConfigurationSource.ReplaceStandardSources(configuration);
        configuration.AddCommandLine(args, SwitchMappings);
        if (configuration["Kms:ConfigFile"] is { Length: > 0 } configFile)
        {
            configuration.AddKmsJsonFile(Path.GetFullPath(configFile), optional: false);
            configuration.AddCommandLine(args, SwitchMappings);
        }
    }

    /// <summary>Logs the addresses Kestrel is listening on (the real port when --urls asked for port 0).</summary>
    public static void LogListening(WebApplication app)
    {
        var addresses = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
            .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()?.Addresses ?? [];
        var options = app.Services.GetRequiredService<IOptions<KmsOptions>>().Value;
        app.Logger.LogInformation("KmsEmulator listening on {Addresses} with data in {DataDir}", string.Join(", ", addresses), Path.GetFullPath(options.DataDir));
    }

    /// <summary>
    /// After a graceful stop (the server drained, the audit trail written out): closes the HSM's sessions and says so.
    /// Disposing the app would close them too; this does it first so that the log can tell.
    /// </summary>
    public static void CloseHsm(WebApplication app)
    {
        if (app.Services.GetRequiredService<IKeyMaterialBackend>() is IDisposable backend)
        {
            backend.Dispose();
        }

        app.Logger.LogInformation("KmsEmulator stopped: requests finished, audit trail written, HSM sessions closed");
    }

    /// <summary>
    /// Fills the catalogue from the store and makes the HSM agree with it, applies the seed file (docs/seeding.md), then
    /// reports ready.
    /// </summary>
    private static async Task LoadAsync(IServiceProvider services, StoreSnapshot snapshot, string? seedPath, IReadOnlyList<SeedKey>? seed)
    {
        var writer = services.GetRequiredService<KeyWriter>();
        writer.LoadCatalog(snapshot);
        var inventory = await services.GetRequiredService<KeyLifecycleService>().ReconcileAsync(CancellationToken.None);
        if (seedPath is not null && seed is not null)
        {
            try
            {
                var outcome = await new SeedApplier(
                        writer,
                        services.GetRequiredService<KeyCatalog>(),
                        services.GetRequiredService<KeyLifecycle>(),
                        services.GetRequiredService<KeyLifecycleService>(),
                        services.GetRequiredService<KeyImportService>(),
                        services.GetRequiredService<MultiRegionKeyService>(),
                        services.GetRequiredService<GrantService>(),
                        services.GetRequiredService<IAuthorizer>())
                    .ApplyAsync(seedPath, seed, CancellationToken.None);
                Log.Information(
                    "Seed {SeedPath}: {Created} keys, {Aliases} aliases and {Grants} grants created, {Imported} key materials imported, {Unchanged} keys already there",
                    seedPath, outcome.KeysCreated, outcome.AliasesCreated, outcome.GrantsCreated, outcome.MaterialsImported, outcome.Unchanged);
            }
            finally
            {
                // The seed's key material is not kept in memory once it is in the HSM.
                foreach (var entry in seed)
                {
                    entry.Material?.Clear();
                }
            }
        }

        services.GetRequiredService<KmsReadiness>().MarkReady(inventory);
    }

    private static void AddLogging(WebApplicationBuilder builder)
    {
        var level = builder.Configuration.GetValue("Kms:LogLevel", LogEventLevel.Information);
        var format = new MessageTemplateTextFormatter("[{Timestamp:HH:mm:ss.fff} {Level:u3}] {Message:lj}{NewLine}{Exception}");
        builder.Services.AddSerilog(logger => logger
            .MinimumLevel.Is(level)
            .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
            .MinimumLevel.Override("System", LogEventLevel.Warning)
            .Enrich.FromLogContext()
            .WriteTo.Sink(
                new BufferedConsoleSink(format),
                new BatchingOptions { BatchSizeLimit = 1000, BufferingTimeLimit = TimeSpan.FromMilliseconds(50), QueueLimit = 100_000 }));
    }
}
