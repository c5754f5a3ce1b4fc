using System.Net;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using KmsEmulator.Api.Hosting;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>
/// A key changed in the store behind the emulator's back, as a second emulator process on a shared store would: the
/// emulator's catalogue is a cache of the store, so its next write to that key is refused instead of overwriting the
/// change, and the request after it works from the store's state.
/// </summary>
public sealed class StaleKeyWriteTests : IAsyncLifetime
{
    private EmulatorHost _host = null!;

    public async Task InitializeAsync() => _host = await EmulatorHost.StartNewAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task A_write_to_a_key_another_writer_changed_fails_with_KMSInternalException_and_the_next_request_sees_the_change()
    {
        using var kms = _host.CreateClient();
        var keyId = (await kms.NewKeyAsync("mine")).KeyId;
        var cached = _host.Services.GetRequiredService<KeyCatalog>().FindKey(new KeyScope(Accounts.Default, Accounts.DefaultRegion), keyId)!;
        var other = await SqliteKmsStore.OpenAsync(_host.Services.GetRequiredService<IOptions<KmsOptions>>().Value.DatabasePath);
        await other.SaveKeyAsync(cached with { Description = "other writer", Version = cached.Version + 1 });

        var error = await Assert.ThrowsAnyAsync<AmazonKeyManagementServiceException>(
            () => kms.UpdateKeyDescriptionAsync(new UpdateKeyDescriptionRequest { KeyId = keyId, Description = "lost" }));

        Assert.Equal("KMSInternalException", error.ErrorCode);
        Assert.Equal(HttpStatusCode.InternalServerError, error.StatusCode);
        Assert.Equal("other writer", (await kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = keyId })).KeyMetadata.Description);

        await kms.UpdateKeyDescriptionAsync(new UpdateKeyDescriptionRequest { KeyId = keyId, Description = "mine again" });

        Assert.Equal("mine again", (await kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = keyId })).KeyMetadata.Description);
        Assert.Equal("mine again", (await other.LoadAsync()).Keys.Single(k => k.KeyId == keyId).Description);
    }
}
