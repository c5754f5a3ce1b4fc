using KmsEmulator.Hsm.Pkcs11;

namespace KmsEmulator.Hsm.Tests;

[Collection(SoftHsmCollection.Name)]
public sealed class SessionPoolTests(SoftHsmFixture fixture)
{
    private static readonly string TokenLabel = SoftHsmFixture.NewTokenLabel("pool");

    [Fact]
    public async Task Parallel_encryptions_and_decryptions_on_a_small_pool_all_succeed()
    {
        var options = fixture.Options(TokenLabel);
        options.SessionPoolSize = 2;
        using var backend = Pkcs11Backend.Open(options);
        var key = TestData.KeyLabel();
        await backend.CreateAesKeyAsync(key);

        // Dedicated threads: in a short test the thread pool may run the tasks one after another, which would
        // hide a session used by two threads at once (that crashes the process with SIGSEGV).
        var workers = Enumerable.Range(0, 8).Select(_ => Task.Factory.StartNew(
            () => EncryptAndDecrypt(backend, key, operations: 200),
            CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap());

        await Task.WhenAll(workers);
    }

    [Fact]
    public async Task A_session_closed_underneath_the_pool_is_replaced()
    {
        var options = fixture.Options(TokenLabel);
        options.SessionPoolSize = 1;
        using var backend = Pkcs11Backend.Open(options);
        await backend.RunAsync("close the only session", session =>
        {
            session.CloseSession();
            return true;
        }, default);

        var random = await backend.GenerateRandomAsync(16);

        Assert.Equal(16, random.Length);
    }

    private static async Task EncryptAndDecrypt(Pkcs11Backend backend, string key, int operations)
    {
        for (var i = 0; i < operations; i++)
        {
            var iv = TestData.Iv();
            var plaintext = TestData.Bytes(64);
            var ciphertext = await backend.EncryptAesGcmAsync(key, iv, iv, plaintext);
            Assert.Equal(plaintext, await backend.DecryptAesGcmAsync(key, iv, iv, ciphertext));
        }
    }
}
