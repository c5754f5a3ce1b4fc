using Net.Pkcs11Interop.Common;

namespace KmsEmulator.Hsm.Tests;

/// <summary>The start-up index: one pass over the token that checks every key object before any is used.</summary>
[Collection(SoftHsmCollection.Name)]
public sealed class IndexTests(SoftHsmFixture fixture)
{
    private static readonly string TokenLabel = SoftHsmFixture.NewTokenLabel("index");

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_index_sorts_keys_into_good_missing_defective_and_unexpected(bool readAhead)
    {
        var prefix = $"idx-{Guid.NewGuid():N}/";
        var good = HsmKeyDescription.Aes(prefix + "good");
        var pair = new HsmKeyDescription(prefix + "pair", HsmKeySpec.EcP256, HsmKeyUsage.SignVerify);
        var missing = HsmKeyDescription.Hmac(prefix + "missing", HsmKeySpec.Hmac256);
        var halfPair = new HsmKeyDescription(prefix + "half", HsmKeySpec.EcP256, HsmKeyUsage.SignVerify);
        var wrongUsage = new HsmKeyDescription(prefix + "usage", HsmKeySpec.EcP256, HsmKeyUsage.KeyAgreement);
        var readable = HsmKeyDescription.Aes(prefix + "readable");
        using (var maker = fixture.Open(TokenLabel))
        {
            await maker.CreateAesKeyAsync(good.Label);
            await maker.CreateKeyPairAsync(pair.Label, pair.Spec, pair.Usage);
            await maker.CreateKeyPairAsync(halfPair.Label, halfPair.Spec, halfPair.Usage);
            await maker.CreateKeyPairAsync(wrongUsage.Label, wrongUsage.Spec, HsmKeyUsage.SignVerify);
            await maker.CreateAesKeyAsync(prefix + "orphan");
            await HsmObjects.CreateAsync(maker,
                new(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY), new(CKA.CKA_KEY_TYPE, CKK.CKK_AES), new(CKA.CKA_TOKEN, true),
                new(CKA.CKA_PRIVATE, true), new(CKA.CKA_SENSITIVE, false), new(CKA.CKA_EXTRACTABLE, true),
                new(CKA.CKA_ENCRYPT, true), new(CKA.CKA_DECRYPT, true), new(CKA.CKA_VALUE, TestData.Bytes(32)),
                new(CKA.CKA_LABEL, readable.Label));
            await maker.RunAsync("destroy a public key", session =>
            {
                using var template = Pkcs11.Pkcs11Template.From(session, Pkcs11.AttributeTemplates.TokenObjectLabelled(CKO.CKO_PUBLIC_KEY, halfPair.Label));
                session.DestroyObject(session.FindAllObjects(template.Attributes).Single());
                return true;
            }, default);
        }

        using var backend = fixture.Open(TokenLabel);
        if (readAhead)
        {
            // As at start-up: the token is read first, and a key made after that is still found when first used.
            await backend.ReadTokenAheadAsync();
            await backend.CreateAesKeyAsync(prefix + "later");
        }

        var inventory = await backend.IndexAsync(prefix, [good, pair, missing, halfPair, wrongUsage, readable]);

        Assert.Equal([prefix + "orphan"], inventory.Unexpected);
        Assert.Equal([halfPair.Label, missing.Label], inventory.Missing);
        Assert.Equal([readable.Label, wrongUsage.Label], inventory.Defective.Select(d => d.Label).Order(StringComparer.Ordinal));
        var usageDefect = inventory.Defective.Single(d => d.Label == wrongUsage.Label).Differences;
        Assert.Contains("CKO_PRIVATE_KEY: CKA_SIGN is true, expected false", usageDefect);
        Assert.Contains("CKO_PRIVATE_KEY: CKA_DERIVE is false, expected true", usageDefect);
        var readableDefect = inventory.Defective.Single(d => d.Label == readable.Label).Differences;
        Assert.Contains("CKO_SECRET_KEY: CKA_EXTRACTABLE is true, expected false", readableDefect);
        Assert.Contains("CKO_SECRET_KEY: CKA_SENSITIVE is false, expected true", readableDefect);
        Assert.Equal(8, inventory.KeyObjects);
        Assert.Equal([readable.Label, wrongUsage.Label], backend.Defects.Keys.Order(StringComparer.Ordinal));

        // The good keys work; the defective ones are refused, never used.
        var iv = TestData.Iv();
        await backend.EncryptAesGcmAsync(good.Label, iv, default, TestData.Bytes(16));
        await backend.SignAsync(pair.Label, SignatureScheme.EcdsaSha256, TestData.Bytes(32), inputIsDigest: true);
        await TestData.ThrowsHsm(HsmErrorKind.Defective, () => backend.EncryptAesGcmAsync(readable.Label, iv, default, TestData.Bytes(16)).AsTask());
        await TestData.ThrowsHsm(HsmErrorKind.Defective, () => backend.GetPublicKeyAsync(wrongUsage.Label).AsTask());
        if (readAhead)
        {
            await backend.EncryptAesGcmAsync(prefix + "later", iv, default, TestData.Bytes(16));
        }
    }

    [Fact]
    public async Task A_key_object_found_by_label_that_is_extractable_is_never_used()
    {
        using var backend = fixture.Open(TokenLabel);
        var label = TestData.KeyLabel("extractable");
        await HsmObjects.CreateAsync(backend,
            new(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY), new(CKA.CKA_KEY_TYPE, CKK.CKK_AES), new(CKA.CKA_TOKEN, true),
            new(CKA.CKA_PRIVATE, true), new(CKA.CKA_SENSITIVE, true), new(CKA.CKA_EXTRACTABLE, true),
            new(CKA.CKA_ENCRYPT, true), new(CKA.CKA_DECRYPT, true), new(CKA.CKA_VALUE, TestData.Bytes(32)), new(CKA.CKA_LABEL, label));

        var error = await TestData.ThrowsHsm(HsmErrorKind.Defective, () => backend.EncryptAesGcmAsync(label, TestData.Iv(), default, TestData.Bytes(16)).AsTask());

        Assert.Contains("CKA_EXTRACTABLE is true, expected false", error.Message);
        Assert.True(backend.Defects.ContainsKey(label));
    }

    [Fact]
    public async Task Keys_cached_by_the_index_are_used_without_searching_the_token()
    {
        var prefix = $"cached-{Guid.NewGuid():N}/";
        var key = HsmKeyDescription.Aes(prefix + "k");
        using (var maker = fixture.Open(TokenLabel))
        {
            await maker.CreateAesKeyAsync(key.Label);
        }

        using var backend = fixture.Open(TokenLabel);
        await backend.IndexAsync(prefix, [key]);

        // Relabel the token object behind the backend's back: a search by label would no longer find it, a cached
        // handle still does.
        await backend.RunAsync("relabel", session =>
        {
            using var find = Pkcs11.Pkcs11Template.From(session, Pkcs11.AttributeTemplates.TokenObjectsLabelled(key.Label));
            using var relabel = Pkcs11.Pkcs11Template.From(session, [new(CKA.CKA_LABEL, prefix + "renamed")]);
            session.SetAttributeValue(session.FindAllObjects(find.Attributes).Single(), relabel.Attributes);
            return true;
        }, default);

        var iv = TestData.Iv();
        var sealedBytes = await backend.EncryptAesGcmAsync(key.Label, iv, default, TestData.Bytes(16));
        Assert.Equal(32, sealedBytes.Length);
    }

    [Fact]
    public async Task Objects_outside_the_prefix_that_the_index_passed_over_are_found_by_their_handle_and_checked()
    {
        var prefix = $"indexed-{Guid.NewGuid():N}/";
        var signing = $"outside-{Guid.NewGuid():N}/signing";
        var relabelled = $"outside-{Guid.NewGuid():N}/relabelled";
        var destroyed = $"outside-{Guid.NewGuid():N}/destroyed";
        byte[] publicKey;
        using (var maker = fixture.Open(TokenLabel))
        {
            publicKey = await maker.CreateKeyPairAsync(signing, HsmKeySpec.EcP256, HsmKeyUsage.SignVerify);
            await maker.CreateKeyPairAsync(relabelled, HsmKeySpec.EcP256, HsmKeyUsage.SignVerify);
            await maker.CreateKeyPairAsync(destroyed, HsmKeySpec.EcP256, HsmKeyUsage.SignVerify);
        }

        using var backend = fixture.Open(TokenLabel);
        var inventory = await backend.IndexAsync(prefix, []);
        Assert.Empty(inventory.Unexpected); // Outside the prefix: neither indexed nor an orphan.

        // Behind the backend's back: one pair renamed, one destroyed. The handles the index saw must not answer for them.
        await backend.RunAsync("relabel", session =>
        {
            using var find = Pkcs11.Pkcs11Template.From(session, Pkcs11.AttributeTemplates.TokenObjectsLabelled(relabelled));
            using var relabel = Pkcs11.Pkcs11Template.From(session, [new(CKA.CKA_LABEL, relabelled + "-renamed")]);
            foreach (var handle in session.FindAllObjects(find.Attributes))
            {
                session.SetAttributeValue(handle, relabel.Attributes);
            }

            return true;
        }, default);
        using (var other = fixture.Open(TokenLabel))
        {
            await other.DestroyAsync(destroyed);
        }

        Assert.True(await backend.ExistsAsync(signing));
        Assert.Equal(publicKey, await backend.GetPublicKeyAsync(signing));
        Assert.False(await backend.ExistsAsync(relabelled));
        Assert.False(await backend.ExistsAsync(destroyed));
        await TestData.ThrowsHsm(HsmErrorKind.KeyNotFound, () => backend.GetPublicKeyAsync(destroyed).AsTask());

        await backend.DestroyAsync(signing);
        Assert.False(await backend.ExistsAsync(signing));
    }
}
