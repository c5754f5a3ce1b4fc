using System.Text;
using Amazon.KeyManagementService.Model;

namespace KmsEmulator.EndToEnd.Tests;

public sealed class SmokeTests : IAsyncLifetime
{
    private EmulatorHost _host = null!;

    public async Task InitializeAsync() => _host = await EmulatorHost.StartNewAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task A_symmetric_key_encrypts_and_decrypts_through_the_official_SDK()
    {
        using var kms = _host.CreateClient();
        var key = await kms.CreateKeyAsync(new CreateKeyRequest { Description = "smoke" });
        var encrypted = await kms.EncryptAsync(new EncryptRequest
        {
            KeyId = key.KeyMetadata.KeyId,
            Plaintext = new MemoryStream(Encoding.UTF8.GetBytes("hello")),
        });

        var decrypted = await kms.DecryptAsync(new DecryptRequest { CiphertextBlob = encrypted.CiphertextBlob });

        Assert.Equal("hello", Encoding.UTF8.GetString(decrypted.Plaintext.ToArray()));
        Assert.Equal(key.KeyMetadata.Arn, decrypted.KeyId);
    }
}
