using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using KmsEmulator.Api.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>
/// Key rotation through the official SDK: every rotation adds a material version in the HSM, new ciphertexts use it,
/// old ones keep decrypting (also after a restart); automatic rotation happens when the clock reaches the date and
/// not before; AWS's rules per key type, state and limit.
/// </summary>
public sealed class RotationTests : IAsyncLifetime
{
    private EmulatorHost _host = null!;
    private AmazonKeyManagementServiceClient _kms = null!;

    public async Task InitializeAsync()
    {
        _host = await EmulatorHost.StartNewAsync();
        _kms = _host.CreateClient();
    }

    public async Task DisposeAsync()
    {
        _kms.Dispose();
        await _host.DisposeAsync();
    }

    [Fact]
    public async Task Ciphertexts_from_before_three_rotations_decrypt_after_them_and_after_a_restart()
    {
        var key = (await _kms.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata;
        var ciphertexts = new List<(byte[] Blob, string MaterialId, byte Marker)>();
        for (byte round = 0; round < 4; round++)
        {
            var encrypted = await _kms.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = new MemoryStream([round]) });
            var current = (await _kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = key.KeyId })).KeyMetadata.CurrentKeyMaterialId;
            ciphertexts.Add((encrypted.CiphertextBlob.ToArray(), current, round));
            if (round < 3)
            {
                var rotated = await _kms.RotateKeyOnDemandAsync(new RotateKeyOnDemandRequest { KeyId = key.Arn });
                Assert.Equal(key.KeyId, rotated.KeyId);
            }
        }

        Assert.Equal(4, ciphertexts.Select(c => c.MaterialId).Distinct().Count());
        await AssertAllDecryptAsync(_kms, ciphertexts);

        var rotations = await _kms.ListKeyRotationsAsync(new ListKeyRotationsRequest { KeyId = key.KeyId });
        Assert.Equal(3, rotations.Rotations.Count);
        Assert.All(rotations.Rotations, r => Assert.Equal(RotationType.ON_DEMAND, r.RotationType));
        Assert.Equal(ciphertexts.Skip(1).Select(c => c.MaterialId), rotations.Rotations.Select(r => r.KeyMaterialId));
        Assert.Equal(["NON_CURRENT", "NON_CURRENT", "CURRENT"], rotations.Rotations.Select(r => r.KeyMaterialState.Value));
        var all = await _kms.ListKeyRotationsAsync(new ListKeyRotationsRequest { KeyId = key.KeyId, IncludeKeyMaterial = IncludeKeyMaterial.ALL_KEY_MATERIAL });
        Assert.Equal(4, all.Rotations.Count);

        _host = await _host.RestartAsync();
        using var afterRestart = _host.CreateClient();
        await AssertAllDecryptAsync(afterRestart, ciphertexts);
        Assert.Equal(ciphertexts[^1].MaterialId, (await afterRestart.DescribeKeyAsync(new DescribeKeyRequest { KeyId = key.KeyId })).KeyMetadata.CurrentKeyMaterialId);
    }

    [Fact]
    public async Task Automatic_rotation_happens_when_the_clock_reaches_the_date_and_not_before()
    {
        var key = (await _kms.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata;
        await _kms.EnableKeyRotationAsync(new EnableKeyRotationRequest { KeyId = key.KeyId, RotationPeriodInDays = 90 });
        var status = await _kms.GetKeyRotationStatusAsync(new GetKeyRotationStatusRequest { KeyId = key.KeyId });
        Assert.True(status.KeyRotationEnabled);
        Assert.Equal(90, status.RotationPeriodInDays);
        Assert.Equal(key.KeyId, status.KeyId);
        var clock = _host.Services.GetRequiredService<EmulatorClock>();
        var expectedNext = clock.GetUtcNow().AddDays(90);
        Assert.InRange(status.NextRotationDate!.Value.ToUniversalTime(), expectedNext.UtcDateTime.AddSeconds(-2), expectedNext.UtcDateTime.AddSeconds(2));
        var before = await _kms.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = new MemoryStream([7]) });

        await clock.AdvanceAsync(TimeSpan.FromDays(89));
        Assert.Empty((await _kms.ListKeyRotationsAsync(new ListKeyRotationsRequest { KeyId = key.KeyId })).Rotations);

        await clock.AdvanceAsync(TimeSpan.FromDays(1) + TimeSpan.FromSeconds(5));
        var rotation = Assert.Single((await _kms.ListKeyRotationsAsync(new ListKeyRotationsRequest { KeyId = key.KeyId })).Rotations);
        Assert.Equal(RotationType.AUTOMATIC, rotation.RotationType);
        Assert.Equal(rotation.KeyMaterialId, (await _kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = key.KeyId })).KeyMetadata.CurrentKeyMaterialId);
        var next = (await _kms.GetKeyRotationStatusAsync(new GetKeyRotationStatusRequest { KeyId = key.KeyId })).NextRotationDate!.Value;
        Assert.True(next > status.NextRotationDate);
        Assert.Equal([7], (await _kms.DecryptAsync(new DecryptRequest { CiphertextBlob = before.CiphertextBlob })).Plaintext.ToArray());

        // The trail shows it as AWS does: a KMS-internal RotateKey event.
        var rotateKey = Assert.Single(await _host.FlushAndReadAsync(), r => (string?)r["eventName"] == "RotateKey");
        Assert.Equal("AwsServiceEvent", (string?)rotateKey["eventType"]);
        Assert.Equal("AWS Internal", (string?)rotateKey["userIdentity"]!["invokedBy"]);
        Assert.Equal(key.KeyId, (string?)rotateKey["serviceEventDetails"]!["keyId"]);
        Assert.Equal(key.Arn, (string?)rotateKey["resources"]![0]!["ARN"]);
        Assert.False(rotateKey.ContainsKey("requestID"));

        await _kms.DisableKeyRotationAsync(new DisableKeyRotationRequest { KeyId = key.KeyId });
        var disabled = await _kms.GetKeyRotationStatusAsync(new GetKeyRotationStatusRequest { KeyId = key.KeyId });
        Assert.False(disabled.KeyRotationEnabled);
        Assert.Null(disabled.RotationPeriodInDays);
        Assert.Null(disabled.NextRotationDate);
        await clock.AdvanceAsync(TimeSpan.FromDays(400));
        Assert.Single((await _kms.ListKeyRotationsAsync(new ListKeyRotationsRequest { KeyId = key.KeyId })).Rotations);
    }

    [Fact]
    public async Task Only_enabled_symmetric_keys_with_KMS_material_rotate()
    {
        var hmac = (await _kms.CreateKeyAsync(new CreateKeyRequest { KeySpec = KeySpec.HMAC_256, KeyUsage = KeyUsageType.GENERATE_VERIFY_MAC })).KeyMetadata;
        await KmsAssert.ErrorAsync(() => _kms.EnableKeyRotationAsync(new EnableKeyRotationRequest { KeyId = hmac.KeyId }), "UnsupportedOperationException");
        await KmsAssert.ErrorAsync(() => _kms.RotateKeyOnDemandAsync(new RotateKeyOnDemandRequest { KeyId = hmac.KeyId }), "UnsupportedOperationException");

        var key = (await _kms.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata;
        await _kms.DisableKeyAsync(new DisableKeyRequest { KeyId = key.KeyId });
        await KmsAssert.ErrorAsync(() => _kms.RotateKeyOnDemandAsync(new RotateKeyOnDemandRequest { KeyId = key.KeyId }), "DisabledException", $"{key.Arn} is disabled.");
        await KmsAssert.ErrorAsync(() => _kms.EnableKeyRotationAsync(new EnableKeyRotationRequest { KeyId = key.KeyId }), "DisabledException", $"{key.Arn} is disabled.");
        Assert.False((await _kms.GetKeyRotationStatusAsync(new GetKeyRotationStatusRequest { KeyId = key.KeyId })).KeyRotationEnabled);

        await _kms.CreateAliasAsync(new CreateAliasRequest { AliasName = "alias/rotating", TargetKeyId = key.KeyId });
        await KmsAssert.ErrorAsync(() => _kms.GetKeyRotationStatusAsync(new GetKeyRotationStatusRequest { KeyId = "alias/rotating" }), "NotFoundException");
    }

    [Fact]
    public async Task On_demand_rotations_stop_at_AWS_limit()
    {
        var key = (await _kms.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata;
        for (var i = 0; i < 10; i++)
        {
            await _kms.RotateKeyOnDemandAsync(new RotateKeyOnDemandRequest { KeyId = key.KeyId });
        }

        await KmsAssert.ErrorAsync(
            () => _kms.RotateKeyOnDemandAsync(new RotateKeyOnDemandRequest { KeyId = key.KeyId }),
            "LimitExceededException",
            $"The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: {key.Arn}");
        var page = await _kms.ListKeyRotationsAsync(new ListKeyRotationsRequest { KeyId = key.KeyId, Limit = 4 });
        Assert.Equal(4, page.Rotations.Count);
        Assert.True(page.Truncated);
        var rest = await _kms.ListKeyRotationsAsync(new ListKeyRotationsRequest { KeyId = key.KeyId, Marker = page.NextMarker });
        Assert.Equal(6, rest.Rotations.Count);
    }

    private static async Task AssertAllDecryptAsync(AmazonKeyManagementServiceClient kms, List<(byte[] Blob, string MaterialId, byte Marker)> ciphertexts)
    {
        foreach (var (blob, materialId, marker) in ciphertexts)
        {
            var decrypted = await kms.DecryptAsync(new DecryptRequest { CiphertextBlob = new MemoryStream(blob) });
            Assert.Equal([marker], decrypted.Plaintext.ToArray());
            Assert.Equal(materialId, decrypted.KeyMaterialId);
        }
    }
}
