using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Storage;
using Microsoft.Extensions.Logging.Abstractions;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// The Keys layer over one SQLite store file, wired as the emulator wires it, with an HSM stand-in that makes empty
/// AES keys and records what it was told to destroy. Opened on a shared store, it is one node of several on that file
/// (<see cref="CatalogSync"/> with <c>Kms:Store:SharedByNodes</c>), as processes on one PostgreSQL database are.
/// </summary>
internal sealed class KeyServices : IDisposable
{
    private readonly CatalogSync? _sync;

    private KeyServices(SqliteKmsStore store, TimeProvider clock, bool sharedStore)
    {
        Store = store;
        Catalog = new KeyCatalog();
        _sync = sharedStore ? new CatalogSync(Catalog, store, new StoreSharing(true), NullLogger<CatalogSync>.Instance) : null;
        var lifecycle = new KeyLifecycle(Catalog, clock);
        Writer = new KeyWriter(Catalog, lifecycle, store, Hsm, NullLogger<KeyWriter>.Instance, _sync);
        Lifecycle = new KeyLifecycleService(Writer, lifecycle, Catalog, Hsm, NullLogger<KeyLifecycleService>.Instance);
        Aliases = new AliasService(Writer, Catalog, lifecycle);
        Tags = new TagService(Writer);
        Policies = new KeyPolicyService(Writer);
        Grants = new GrantService(Writer, lifecycle);
    }

    public SqliteKmsStore Store { get; }

    public KeyCatalog Catalog { get; }

    /// <summary>The catch-up of a node on a shared store.</summary>
    public CatalogSync Sync => _sync ?? throw new InvalidOperationException("These services were not opened on a shared store.");

    public RecordingHsm Hsm { get; } = new();

    public KeyWriter Writer { get; }

    public KeyLifecycleService Lifecycle { get; }

    public AliasService Aliases { get; }

    public TagService Tags { get; }

    public KeyPolicyService Policies { get; }

    public GrantService Grants { get; }

    public static async Task<KeyServices> OpenAsync(string path, TimeProvider clock, bool sharedStore = false)
    {
        var store = await SqliteKmsStore.OpenAsync(path);
        var services = new KeyServices(store, clock, sharedStore);
        services.Writer.LoadCatalog(await store.LoadAsync());
        return services;
    }

    public void Dispose() => Writer.Dispose();

    /// <summary>An HSM that makes AES keys (nothing in them) and records what it was told to destroy.</summary>
    public sealed class RecordingHsm : UnusedHsm
    {
        public List<string> Destroyed { get; } = [];

        public override ValueTask CreateAesKeyAsync(string label, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

        public override ValueTask DestroyAsync(string label, CancellationToken cancellationToken = default)
        {
            Destroyed.Add(label);
            return ValueTask.CompletedTask;
        }
    }
}
