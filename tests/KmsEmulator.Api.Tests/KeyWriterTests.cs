using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Hsm;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace KmsEmulator.Api.Tests;

/// <summary>The key writer's rollback: a write that does not commit leaves no key material behind in the HSM.</summary>
public sealed class KeyWriterTests : IDisposable
{
    private static readonly KeyScope Scope = new("111122223333", "us-east-1");

    private readonly RecordingHsm _hsm = new();
    private readonly KeyCatalog _catalog = new();
    private readonly KeyLifecycle _lifecycle;
    private readonly KeyWriter _writer;

    public KeyWriterTests()
    {
        _lifecycle = new KeyLifecycle(_catalog, new FakeTimeProvider(DateTimeOffset.UnixEpoch));
        _writer = new KeyWriter(_catalog, _lifecycle, new FullStore(), _hsm, NullLogger<KeyWriter>.Instance);
    }

    public void Dispose() => _writer.Dispose();

    private KeyRecord NewSymmetricKey()
    {
        var key = TestKeys.Create(Guid.NewGuid().ToString("D"));
        return key with { Materials = [_writer.NewMaterial(key.KeyId, 1, _lifecycle.Now)], CurrentMaterialVersion = 1 };
    }

    [Fact]
    public async Task When_the_store_refuses_the_commit_the_new_material_is_destroyed_and_the_store_error_reaches_the_caller()
    {
        var key = NewSymmetricKey();

        var error = await Assert.ThrowsAsync<IOException>(() => _writer.CreateKeyAsync(key, CancellationToken.None));

        Assert.Equal("database or disk is full", error.Message);
        Assert.Equal([key.CurrentMaterial!.HsmLabel], _hsm.Created);
        Assert.Equal(_hsm.Created, _hsm.Destroyed);
        Assert.Null(_catalog.FindKey(Scope, key.KeyId));
        Assert.Empty(_writer.PendingDestroys);
    }

    [Fact]
    public async Task Material_that_cannot_be_destroyed_at_once_is_destroyed_by_the_next_deletion_sweep()
    {
        _hsm.DestroyFailures = 1;
        var sweep = new KeyLifecycleService(_writer, _lifecycle, _catalog, _hsm, NullLogger<KeyLifecycleService>.Instance);

        await Assert.ThrowsAsync<IOException>(() => sweep.CreateKeyAsync(
            Scope,
            new NewKey("rollback", KeySpec.SYMMETRIC_DEFAULT, KeyUsageType.ENCRYPT_DECRYPT, OriginType.AWS_KMS, false, "{}", []),
            CancellationToken.None));
        var created = Assert.Single(_hsm.Created);
        Assert.Empty(_hsm.Destroyed);
        Assert.Equal([created], _writer.PendingDestroys);

        Assert.Empty(await sweep.DeleteExpiredKeysAsync(CancellationToken.None));

        Assert.Equal([created], _hsm.Destroyed);
        Assert.Empty(_writer.PendingDestroys);
    }

    [Fact]
    public async Task A_key_without_material_touches_no_HSM_object_when_its_commit_fails()
    {
        var key = TestKeys.Create(Guid.NewGuid().ToString("D")) with { Origin = OriginType.EXTERNAL, KeyState = KeyState.PendingImport };

        await Assert.ThrowsAsync<IOException>(() => _writer.CreateKeyAsync(key, CancellationToken.None));

        Assert.Empty(_hsm.Created);
        Assert.Empty(_hsm.Destroyed);
        Assert.Null(_catalog.FindKey(Scope, key.KeyId));
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
