using KmsEmulator.Hsm.Pkcs11;

namespace KmsEmulator.Hsm.Tests;

[Collection(SoftHsmCollection.Name)]
public sealed class RandomTests(SoftHsmFixture fixture) : IDisposable
{
    private static readonly string TokenLabel = SoftHsmFixture.NewTokenLabel("random");
    private readonly Pkcs11Backend _backend = fixture.Open(TokenLabel);

    public void Dispose() => _backend.Dispose();

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(32)]
    [InlineData(1024)]
    public async Task Random_bytes_have_the_requested_length(int count)
    {
        Assert.Equal(count, (await _backend.GenerateRandomAsync(count)).Length);
    }

    [Fact]
    public async Task Two_random_draws_differ()
    {
        Assert.NotEqual(await _backend.GenerateRandomAsync(32), await _backend.GenerateRandomAsync(32));
    }
}
