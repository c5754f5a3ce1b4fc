using KmsEmulator.Hsm.Pkcs11;

namespace KmsEmulator.Hsm.Tests;

/// <summary>
/// C_CopyObject copies of key material (multi-Region replica keys): the copies are the same key material as the
/// originals, are exactly the key objects the store will expect (checked attribute by attribute, also by the start-up
/// index of a reopened token), and stay so when many callers copy at once while the garbage collector runs flat out.
/// </summary>
[Collection(SoftHsmCollection.Name)]
public sealed class CopyTests(SoftHsmFixture fixture)
{
    private const int Copiers = 16;
    private const int CopiesPerCopier = 6;

    [Fact]
    public async Task Copies_made_by_16_parallel_callers_under_forced_garbage_collection_are_the_same_material_and_exactly_the_objects_asked_for()
    {
        var tokenLabel = SoftHsmFixture.NewTokenLabel("copy");
        var sources = new List<(string Label, HsmKeySpec? Spec, HsmKeyUsage Usage)>();
        var copies = new System.Collections.Concurrent.ConcurrentBag<(string Source, (string Label, HsmKeySpec? Spec, HsmKeyUsage Usage) Copy)>();
        using (var backend = fixture.Open(tokenLabel))
        {
            foreach (var (spec, usage) in ConcurrentCreationTests.Kinds)
            {
                var label = TestData.KeyLabel("src");
                await ConcurrentCreationTests.CreateAsync(backend, label, spec, usage);
                sources.Add((label, spec, usage));
            }

            using var collector = new GarbageCollectorStorm();
            await Task.WhenAll(Enumerable.Range(0, Copiers).Select(copier => Task.Run(async () =>
            {
                for (var i = 0; i < CopiesPerCopier; i++)
                {
                    var source = sources[(copier + i) % sources.Count];
                    var copy = source with { Label = TestData.KeyLabel($"copy{copier}") };
                    await backend.CopyKeyAsync(source.Label, ConcurrentCreationTests.Describe(copy));
                    copies.Add((source.Label, copy));
                }
            })));

            Assert.True(collector.Collections > 0, "the garbage collector never ran during the test");
            await ConcurrentCreationTests.AssertWholeAsync(backend, copies.Select(c => c.Copy));
            await AssertSameMaterialAsync(backend, sources, copies);
        }

        // A restart indexes the token: originals and copies are all what their keys should be, and still the same material.
        using var reopened = fixture.Open(tokenLabel);
        var expected = sources.Concat(copies.Select(c => c.Copy)).Select(ConcurrentCreationTests.Describe).ToList();
        var inventory = await reopened.IndexAsync(string.Empty, expected);
        Assert.Empty(inventory.Defective);
        Assert.Empty(inventory.Missing);
        Assert.Empty(inventory.Unexpected);
        await AssertSameMaterialAsync(reopened, sources, copies);
    }

    [Fact]
    public async Task A_copy_of_a_missing_key_onto_a_taken_label_or_of_another_kind_of_key_fails_and_leaves_nothing()
    {
        using var backend = fixture.Open(SoftHsmFixture.NewTokenLabel("copy-errors"));
        var aes = TestData.KeyLabel("aes");
        await backend.CreateAesKeyAsync(aes);
        var taken = TestData.KeyLabel("taken");
        await backend.CreateAesKeyAsync(taken);

        await TestData.ThrowsHsm(HsmErrorKind.KeyNotFound, () => backend.CopyKeyAsync(TestData.KeyLabel("none"), HsmKeyDescription.Aes(TestData.KeyLabel())).AsTask());
        await TestData.ThrowsHsm(HsmErrorKind.InvalidInput, () => backend.CopyKeyAsync(aes, HsmKeyDescription.Aes(taken)).AsTask());
        await TestData.ThrowsHsm(HsmErrorKind.InvalidInput, () => backend.CopyKeyAsync(aes, HsmKeyDescription.Aes(aes)).AsTask());

        // The source is an AES key, not the HMAC key the target describes: nothing is copied.
        var wrongKind = TestData.KeyLabel("wrong");
        await TestData.ThrowsHsm(HsmErrorKind.Defective, () => backend.CopyKeyAsync(aes, HsmKeyDescription.Hmac(wrongKind, HsmKeySpec.Hmac256)).AsTask());
        Assert.False(await backend.ExistsAsync(wrongKind));

        // The taken label still holds its own key only, and the source still works.
        var iv = TestData.Iv();
        var sealedBytes = await backend.EncryptAesGcmAsync(taken, iv, default, new byte[] { 1, 2, 3 });
        await TestData.ThrowsHsm(HsmErrorKind.AuthenticationFailed, () => backend.DecryptAesGcmAsync(aes, iv, default, sealedBytes).AsTask());
        Assert.Equal([1, 2, 3], await backend.DecryptAesGcmAsync(taken, iv, default, sealedBytes));
    }

    /// <summary>Whatever the original makes, its copy opens, and the other way round: it is the same material.</summary>
    private static async Task AssertSameMaterialAsync(
        Pkcs11Backend backend,
        List<(string Label, HsmKeySpec? Spec, HsmKeyUsage Usage)> sources,
        IEnumerable<(string Source, (string Label, HsmKeySpec? Spec, HsmKeyUsage Usage) Copy)> copies)
    {
        var message = TestData.Bytes(48);
        foreach (var (sourceLabel, copy) in copies)
        {
            var source = sources.Single(s => s.Label == sourceLabel);
            switch (copy.Spec, copy.Usage)
            {
                case (null, _):
                    var iv = TestData.Iv();
                    Assert.Equal(message, await backend.DecryptAesGcmAsync(copy.Label, iv, message[..4], await backend.EncryptAesGcmAsync(source.Label, iv, message[..4], message)));
                    Assert.Equal(message, await backend.DecryptAesGcmAsync(source.Label, iv, message[..4], await backend.EncryptAesGcmAsync(copy.Label, iv, message[..4], message)));
                    break;
                case (HsmKeySpec.Hmac224, _):
                    Assert.Equal(await backend.MacAsync(source.Label, MacAlgorithm.HmacSha224, message), await backend.MacAsync(copy.Label, MacAlgorithm.HmacSha224, message));
                    break;
                case (HsmKeySpec.Hmac256, _):
                    Assert.Equal(await backend.MacAsync(source.Label, MacAlgorithm.HmacSha256, message), await backend.MacAsync(copy.Label, MacAlgorithm.HmacSha256, message));
                    break;
                case (HsmKeySpec.Hmac384, _):
                    Assert.Equal(await backend.MacAsync(source.Label, MacAlgorithm.HmacSha384, message), await backend.MacAsync(copy.Label, MacAlgorithm.HmacSha384, message));
                    break;
                case (HsmKeySpec.Hmac512, _):
                    Assert.Equal(await backend.MacAsync(source.Label, MacAlgorithm.HmacSha512, message), await backend.MacAsync(copy.Label, MacAlgorithm.HmacSha512, message));
                    break;
                case (_, HsmKeyUsage.SignVerify):
                    var scheme = copy.Spec switch
                    {
                        HsmKeySpec.Ed25519 => SignatureScheme.Ed25519,
                        HsmKeySpec.Rsa2048 => SignatureScheme.RsaPssSha256,
                        HsmKeySpec.EcP521 => SignatureScheme.EcdsaSha512,
                        _ => SignatureScheme.EcdsaSha256,
                    };
                    Assert.True(await backend.VerifyAsync(copy.Label, scheme, message, false, await backend.SignAsync(source.Label, scheme, message, false)));
                    Assert.True(await backend.VerifyAsync(source.Label, scheme, message, false, await backend.SignAsync(copy.Label, scheme, message, false)));
                    Assert.Equal(await backend.GetPublicKeyAsync(source.Label), await backend.GetPublicKeyAsync(copy.Label));
                    break;
                case (_, HsmKeyUsage.EncryptDecrypt):
                    var ciphertext = await backend.EncryptRsaAsync(source.Label, RsaEncryptionScheme.OaepSha256, message[..32]);
                    Assert.Equal(message[..32], await backend.DecryptRsaAsync(copy.Label, RsaEncryptionScheme.OaepSha256, ciphertext));
                    Assert.Equal(await backend.GetPublicKeyAsync(source.Label), await backend.GetPublicKeyAsync(copy.Label));
                    break;
                default:
                    using (var peer = System.Security.Cryptography.ECDiffieHellman.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP384))
                    {
                        var spki = peer.ExportSubjectPublicKeyInfo();
                        Assert.Equal(await backend.DeriveSharedSecretAsync(source.Label, spki), await backend.DeriveSharedSecretAsync(copy.Label, spki));
                    }

                    break;
            }
        }
    }
}
