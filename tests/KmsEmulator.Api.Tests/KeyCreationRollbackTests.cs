using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Hsm;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace KmsEmulator.Api.Tests;

/// <summary>A CreateKey whose metadata cannot be committed leaves no key material behind in the HSM.</summary>
public sealed class KeyCreationRollbackTests
{
    private static readonly KeyScope Scope = new("111122223333", "us-east-1");

    private static NewKey Symmetric() =>
        new("rollback", KeySpec.SYMMETRIC_DEFAULT, KeyUsageType.ENCRYPT_DECRYPT, OriginType.AWS_KMS, false, "{}", []);

    [Fact]
    public async Task When_the_store_fails_the_new_material_is_destroyed_and_the_store_error_reaches_the_caller()
    {
        var hsm = new RecordingHsm();
        using var keys = NewService(hsm, out var catalog);

        var error = await Assert.ThrowsAsync<IOException>(() => keys.CreateKeyAsync(Scope, Symmetric(), CancellationToken.None));

        Assert.Equal("database or disk is full", error.Message);
        var created = Assert.Single(hsm.Created);
        Assert.Equal([created], hsm.Destroyed);
        Assert.Empty(catalog.AllKeys);
        Assert.Empty(keys.PendingDestroys);
    }

    [Fact]
    public async Task Material_that_cannot_be_destroyed_at_once_is_destroyed_by_the_next_sweep()
    {
        var hsm = new RecordingHsm { DestroyFailures = 1 };
        using var keys = NewService(hsm, out _);

        await Assert.ThrowsAsync<IOException>(() => keys.CreateKeyAsync(Scope, Symmetric(), CancellationToken.None));
        var created = Assert.Single(hsm.Created);
        Assert.Empty(hsm.Destroyed);
        Assert.Equal([created], keys.PendingDestroys);

        await keys.DeleteExpiredKeysAsync(CancellationToken.None);

        Assert.Equal([created], hsm.Destroyed);
        Assert.Empty(keys.PendingDestroys);
    }

    private static KeyService NewService(IKeyMaterialBackend hsm, out KeyCatalog catalog)
    {
        catalog = new KeyCatalog();
        var lifecycle = new KeyLifecycle(catalog, new FakeTimeProvider(DateTimeOffset.UnixEpoch));
        return new KeyService(catalog, lifecycle, new FullStore(), hsm, NullLogger<KeyService>.Instance);
    }

    private sealed class FullStore : UnusedStore
    {
        public override string StoreId => "full";

        public override Task SaveKeyAsync(KeyRecord key, CancellationToken cancellationToken = default) =>
            Task.FromException(new IOException("database or disk is full"));
    }

    private sealed class RecordingHsm : UnusedHsm
    {
        public List<string> Created { get; } = [];

        public List<string> Destroyed { get; } = [];

        public int DestroyFailures { get; set; }

        public override ValueTask CreateAesKeyAsync(string label, CancellationToken cancellationToken = default)
        {
            Created.Add(label);
            return ValueTask.CompletedTask;
        }

        public override ValueTask DestroyAsync(string label, CancellationToken cancellationToken = default)
        {
            if (DestroyFailures > 0)
            {
                DestroyFailures--;
                throw new HsmException(HsmErrorKind.Internal, "The HSM could not destroy a key (CKR_DEVICE_MEMORY).");
            }

            Destroyed.Add(label);
            return ValueTask.CompletedTask;
        }
    }
}
