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

    [Fact]
    public async Task The_pool_reports_its_size_the_sessions_in_use_and_the_callers_waiting()
    {
        var options = fixture.Options(TokenLabel);
        options.SessionPoolSize = 1;
        using var backend = Pkcs11Backend.Open(options);
        Assert.Equal(new HsmPoolUsage(1, 0, 0), backend.PoolUsage);
        using var entered = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();

        // The work runs on the caller's thread once it has a session, so the holder gets a thread of its own.
        var holder = Task.Factory.StartNew(
            () => backend.RunAsync("hold the only session", _ =>
            {
                entered.Set();
                release.Wait();
                return 0;
            }, default).AsTask(),
            CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
        Assert.True(entered.Wait(TimeSpan.FromSeconds(30)));
        Assert.Equal(new HsmPoolUsage(1, 1, 0), backend.PoolUsage);

        var waiter = backend.RunAsync("wait for it", _ => 0, default).AsTask();
        Assert.Equal(new HsmPoolUsage(1, 1, 1), backend.PoolUsage);

        release.Set();
        await Task.WhenAll(holder, waiter);
        Assert.Equal(new HsmPoolUsage(1, 0, 0), backend.PoolUsage);
    }

    [Fact]
    public async Task The_health_probe_logs_a_logged_out_token_in_again_by_itself_and_keys_work_after()
    {
        var options = fixture.Options(TokenLabel);
        var log = new List<string>();
        using var backend = Pkcs11Backend.Open(options, line => { lock (log) { log.Add(line); } });
        var key = TestData.KeyLabel();
        await backend.CreateAesKeyAsync(key);
        await EncryptAndDecrypt(backend, key, operations: 1);
        Assert.Null(await backend.ProbeAsync());

        // Logging out through any session logs the whole token out for this process, the anchor session included.
        await backend.RunAsync("log out", session => { session.Logout(); return 0; }, default);

        Assert.Null(await backend.ProbeAsync());
        Assert.Contains(log, line => line.StartsWith("The HSM session is not logged in (CKS_RW_PUBLIC_SESSION). A new HSM session replaced it.", StringComparison.Ordinal));
        await EncryptAndDecrypt(backend, key, operations: 3);

        backend.Dispose();
        Assert.Equal("The HSM backend is closed.", await backend.ProbeAsync());
    }

    [Fact]
    public async Task The_health_probe_fails_while_the_token_refuses_the_login_and_recovers_when_it_accepts_it_again()
    {
        var options = fixture.Options(TokenLabel);
        using var backend = Pkcs11Backend.Open(options);
        const string otherPin = "not-the-configured-pin";
        await backend.RunAsync("change the PIN and log out", session =>
        {
            session.SetPin(options.UserPin, otherPin);
            session.Logout();
            return 0;
        }, default);

        try
        {
            Assert.Equal("The HSM session is not logged in (CKS_RW_PUBLIC_SESSION). Opening a new session failed (CKR_PIN_INCORRECT).",
                await backend.ProbeAsync());
        }
        finally
        {
            await backend.RunAsync("restore the PIN", session =>
            {
                session.Login(Net.Pkcs11Interop.Common.CKU.CKU_USER, otherPin);
                session.SetPin(otherPin, options.UserPin);
                return 0;
            }, default);
        }

        Assert.Null(await backend.ProbeAsync());
    }

    [Fact]
    public async Task After_every_session_of_the_token_was_closed_the_probe_opens_a_new_one_and_keys_work_again()
    {
        var options = fixture.Options(TokenLabel);
        using var backend = Pkcs11Backend.Open(options);
        var key = TestData.KeyLabel();
        await backend.CreateAesKeyAsync(key);
        await EncryptAndDecrypt(backend, key, operations: 1);

        // C_CloseAllSessions: what a module or token reset does to every session, the anchor and its key copies too.
        var module = Pkcs11ModuleRegistry.Acquire(ModuleLocator.Resolve(options.ModulePath), SoftHsmConfigFile.For(options.TokenDirectory), _ => { });
        TokenProvisioner.FindOrInitialize(module, options, _ => { }).CloseAllSessions();

        Assert.Null(await backend.ProbeAsync());
        await EncryptAndDecrypt(backend, key, operations: 3);
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
