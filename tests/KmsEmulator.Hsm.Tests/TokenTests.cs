using System.Runtime.Versioning;
using System.Text;
using KmsEmulator.Hsm.Pkcs11;

namespace KmsEmulator.Hsm.Tests;

[Collection(SoftHsmCollection.Name)]
public sealed class TokenTests(SoftHsmFixture fixture)
{
    [Fact]
    public async Task The_first_open_initialises_a_new_token_and_a_later_open_finds_it_with_its_keys()
    {
        var tokenLabel = SoftHsmFixture.NewTokenLabel("reopen");
        var firstLog = new List<string>();
        var iv = TestData.Iv();
        byte[] ciphertext;
        var tokenCountBefore = TokenCount();

        using (var first = fixture.Open(tokenLabel, firstLog.Add))
        {
            Assert.True(first.IsReady);
            await first.CreateAesKeyAsync("kept");
            ciphertext = await first.EncryptAesGcmAsync("kept", iv, default, Encoding.UTF8.GetBytes("still here"));
        }

        Assert.Contains(firstLog, line => line.Contains($"Initialised new token '{tokenLabel}'"));
        Assert.Equal(tokenCountBefore + 1, TokenCount());

        var secondLog = new List<string>();
        using var second = fixture.Open(tokenLabel, secondLog.Add);

        Assert.DoesNotContain(secondLog, line => line.Contains("Initialised"));
        Assert.Equal(tokenCountBefore + 1, TokenCount());
        Assert.Equal("still here", Encoding.UTF8.GetString(await second.DecryptAesGcmAsync("kept", iv, default, ciphertext)));
    }

    [Fact]
    public async Task Two_backends_with_different_token_labels_work_side_by_side()
    {
        using var red = fixture.Open(SoftHsmFixture.NewTokenLabel("red"));
        using var blue = fixture.Open(SoftHsmFixture.NewTokenLabel("blue"));
        var iv = TestData.Iv();

        await red.CreateAesKeyAsync("shared-name");
        await blue.CreateAesKeyAsync("shared-name");
        var fromRed = await red.EncryptAesGcmAsync("shared-name", iv, default, TestData.Bytes(16));
        var fromBlue = await blue.EncryptAesGcmAsync("shared-name", iv, default, TestData.Bytes(16));

        await red.DecryptAesGcmAsync("shared-name", iv, default, fromRed);
        await blue.DecryptAesGcmAsync("shared-name", iv, default, fromBlue);
        await TestData.ThrowsHsm(HsmErrorKind.AuthenticationFailed,
            () => blue.DecryptAesGcmAsync("shared-name", iv, default, fromRed).AsTask());
    }

    [Fact]
    public void A_wrong_user_pin_is_Unavailable_and_the_message_does_not_reveal_it()
    {
        var tokenLabel = SoftHsmFixture.NewTokenLabel("pin");
        fixture.Open(tokenLabel).Dispose();
        var options = fixture.Options(tokenLabel);
        options.UserPin = "wrong-pin-8642";

        var exception = Assert.Throws<HsmException>(() => Pkcs11Backend.Open(options));

        Assert.Equal(HsmErrorKind.Unavailable, exception.Kind);
        Assert.Equal("CKR_PIN_INCORRECT", exception.ReturnCode);
        Assert.DoesNotContain(options.UserPin, exception.Message);
        Assert.DoesNotContain(options.SoPin, exception.Message);
    }

    [Fact]
    public void A_missing_token_is_Unavailable_when_initialisation_is_off()
    {
        var options = fixture.Options(SoftHsmFixture.NewTokenLabel("absent"));
        options.InitializeToken = false;

        var exception = Assert.Throws<HsmException>(() => Pkcs11Backend.Open(options));

        Assert.Equal(HsmErrorKind.Unavailable, exception.Kind);
        Assert.Contains("InitializeToken", exception.Message);
    }

    [Fact]
    public void A_second_token_directory_in_the_same_process_is_refused()
    {
        fixture.Open(SoftHsmFixture.NewTokenLabel("first-dir")).Dispose();
        var otherDirectory = Path.Combine(fixture.Root, "other", "tokens");
        var options = new HsmOptions { TokenDirectory = otherDirectory, TokenLabel = SoftHsmFixture.NewTokenLabel("other-dir") };

        var exception = Assert.Throws<HsmException>(() => Pkcs11Backend.Open(options));

        Assert.Equal(HsmErrorKind.Unavailable, exception.Kind);
        Assert.Contains("one SoftHSM2 token directory", exception.Message);
        Assert.False(Directory.Exists(otherDirectory));
    }

    [Fact]
    public void The_softhsm_config_is_written_from_the_template_next_to_the_token_directory()
    {
        fixture.Open(SoftHsmFixture.NewTokenLabel("config")).Dispose();
        var configFile = Path.Combine(fixture.Root, "softhsm2.conf");

        var text = File.ReadAllText(configFile);

        Assert.StartsWith("# SoftHSM2 configuration written by KmsEmulator", text);
        Assert.Contains($"directories.tokendir = {fixture.TokenDirectory}{Environment.NewLine}", text.ReplaceLineEndings());
        Assert.Equal(configFile, Environment.GetEnvironmentVariable(SoftHsmConfigFile.EnvironmentVariable));
    }

    [SkippableFact]
    [UnsupportedOSPlatform("windows")]
    public void The_token_directory_and_the_parents_created_for_it_are_0700()
    {
        Skip.If(OperatingSystem.IsWindows(), "Unix file modes only.");
        const UnixFileMode ownerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        fixture.Open(SoftHsmFixture.NewTokenLabel("modes")).Dispose();
        var dataDir = Path.Combine(fixture.Root, "modes-" + Guid.NewGuid().ToString("N"), "data");

        // Only writes the directories and softhsm2.conf: a process uses one token directory (the fixture's).
        SoftHsmConfigFile.For(Path.Combine(dataDir, "softhsm", "tokens"))!.Write();

        Assert.Equal(ownerOnly, File.GetUnixFileMode(fixture.TokenDirectory));
        Assert.Equal(ownerOnly, File.GetUnixFileMode(dataDir));
        Assert.Equal(ownerOnly, File.GetUnixFileMode(Path.Combine(dataDir, "softhsm")));
        Assert.Equal(ownerOnly, File.GetUnixFileMode(Path.Combine(dataDir, "softhsm", "tokens")));
    }

    [Fact]
    public async Task A_disposed_backend_is_not_ready_and_refuses_work()
    {
        var backend = fixture.Open(SoftHsmFixture.NewTokenLabel("disposed"));

        backend.Dispose();

        Assert.False(backend.IsReady);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => backend.GenerateRandomAsync(8).AsTask());
    }

    private int TokenCount() =>
        Directory.Exists(fixture.TokenDirectory) ? Directory.GetDirectories(fixture.TokenDirectory).Length : 0;
}
