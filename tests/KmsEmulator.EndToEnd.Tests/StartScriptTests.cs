namespace KmsEmulator.EndToEnd.Tests;

/// <summary>
/// tools/run.sh, README's run command, is also how the Docker image starts the emulator (with KMS_EMULATOR_APP naming
/// the published DLL): that path is run here, since no Docker engine runs on the test machines.
/// </summary>
public sealed class StartScriptTests
{
    [Fact]
    public async Task The_start_script_runs_a_built_emulator_as_the_docker_image_does()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "kmsemu-e2e-script-" + Guid.NewGuid().ToString("N")[..12]);
        try
        {
            await using var emulator = await EmulatorProcess.StartThroughScriptAsync(dataDir);
            using (var http = new HttpClient())
            {
                var health = await http.GetAsync(new Uri(emulator.Url + "/health"));
                Assert.Equal(System.Net.HttpStatusCode.OK, health.StatusCode);
            }

            using var kms = EmulatorHost.CreateClient(emulator.Url);
            var key = await kms.NewKeyAsync("started by tools/run.sh");
            var context = Blob.Context(("via", "script"));
            var ciphertext = (await kms.EncryptTextAsync(key.KeyId, "from the image's start path", context)).CiphertextBlob;
            Assert.Equal("from the image's start path", Blob.Text((await kms.DecryptBlobAsync(ciphertext, context)).Plaintext));
            Assert.True(File.Exists(Path.Combine(dataDir, "kms.db")), "the data directory given to the script is used");
        }
        finally
        {
            try
            {
                Directory.Delete(dataDir, recursive: true);
            }
            catch (IOException)
            {
                // Best effort: a temporary directory.
            }
        }
    }
}
