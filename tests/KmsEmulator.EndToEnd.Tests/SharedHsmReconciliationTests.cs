using KmsEmulator.Api.Keys;
using KmsEmulator.Hsm;
using Microsoft.Extensions.DependencyInjection;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>
/// The start-up reconciliation of a node whose token another process uses too (an <see cref="HsmPeerProcess"/> on the
/// host's token, standing for another node): an object the other node has made for a key it has not committed yet is
/// left alone until it is older than Kms:Hsm:OrphanGracePeriod.
/// </summary>
public sealed class SharedHsmReconciliationTests : IAsyncLifetime
{
    private EmulatorHost _host = null!;

    public async Task InitializeAsync() =>
        _host = await EmulatorHost.StartNewAsync("--Kms:Hsm:OrphanGracePeriod=01:00:00", "--Kms:Hsm:SessionCopyCheckInterval=00:00:00");

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task A_restart_leaves_an_object_another_node_is_creating_alone_until_it_is_older_than_the_grace_period()
    {
        string keyId;
        using (var kms = _host.CreateClient())
        {
            keyId = (await kms.NewKeyAsync("committed")).KeyId;
        }

        var prefix = _host.Services.GetRequiredService<KeyWriter>().HsmLabelPrefix;
        var inFlight = prefix + Guid.NewGuid().ToString("D") + "/1";
        await using (var otherNode = await HsmPeerProcess.StartAsync(EmulatorHost.TokenDirectory, _host.TokenLabel))
        {
            // The other node's CreateKey has made the material and not committed the row yet.
            await otherNode.RunAsync($"create-aes {inFlight}");

            _host = await _host.RestartAsync();

            Assert.True(await _host.Services.GetRequiredService<IKeyMaterialBackend>().ExistsAsync(inFlight));
        }

        // The host's clock started when the host did, a little before the other node made its object.
        _host.Clock.Advance(TimeSpan.FromHours(2));
        _host = await _host.RestartAsync();

        Assert.False(await _host.Services.GetRequiredService<IKeyMaterialBackend>().ExistsAsync(inFlight));
        using var client = _host.CreateClient();
        var sealedBlob = await client.EncryptAsync(new Amazon.KeyManagementService.Model.EncryptRequest
        {
            KeyId = keyId,
            Plaintext = new MemoryStream([1, 2, 3]),
        });
        Assert.Equal(keyId, sealedBlob.KeyId.Split('/')[^1]);
    }
}
