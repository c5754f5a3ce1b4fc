using KmsEmulator.Hsm.Pkcs11;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace KmsEmulator.Hsm.Tests;

/// <summary>
/// Many callers creating keys at once while the garbage collector runs flat out: every object the token ends up with
/// must be exactly what was asked for (PKCS#11 templates live in unmanaged memory that must outlive the native call).
/// </summary>
[Collection(SoftHsmCollection.Name)]
public sealed class ConcurrentCreationTests(SoftHsmFixture fixture)
{
    private const int Creators = 16;
    private const int KeysPerCreator = 12;

    internal static readonly (HsmKeySpec? Spec, HsmKeyUsage Usage)[] Kinds =
    [
        (null, HsmKeyUsage.EncryptDecrypt),
        (HsmKeySpec.Hmac224, HsmKeyUsage.GenerateVerifyMac),
        (HsmKeySpec.Hmac256, HsmKeyUsage.GenerateVerifyMac),
        (HsmKeySpec.Hmac384, HsmKeyUsage.GenerateVerifyMac),
        (HsmKeySpec.Hmac512, HsmKeyUsage.GenerateVerifyMac),
        (HsmKeySpec.Rsa2048, HsmKeyUsage.SignVerify),
        (HsmKeySpec.Rsa2048, HsmKeyUsage.EncryptDecrypt),
        (HsmKeySpec.EcP256, HsmKeyUsage.SignVerify),
        (HsmKeySpec.EcP384, HsmKeyUsage.KeyAgreement),
        (HsmKeySpec.EcP521, HsmKeyUsage.SignVerify),
        (HsmKeySpec.EcSecp256k1, HsmKeyUsage.SignVerify),
        (HsmKeySpec.Ed25519, HsmKeyUsage.SignVerify),
    ];

    [Fact]
    public async Task Keys_created_by_16_parallel_callers_under_forced_garbage_collection_are_exactly_what_was_asked()
    {
        var tokenLabel = SoftHsmFixture.NewTokenLabel("concurrent");
        var created = new System.Collections.Concurrent.ConcurrentBag<(string Label, HsmKeySpec? Spec, HsmKeyUsage Usage)>();
        using (var backend = fixture.Open(tokenLabel))
        {
            using var collector = new GarbageCollectorStorm();
            await Task.WhenAll(Enumerable.Range(0, Creators).Select(creator => Task.Run(async () =>
            {
                for (var i = 0; i < KeysPerCreator; i++)
                {
                    var (spec, usage) = Kinds[(creator + i) % Kinds.Length];
                    var label = TestData.KeyLabel($"c{creator}");
                    await CreateAsync(backend, label, spec, usage);
                    created.Add((label, spec, usage));
                }
            })));

            Assert.True(collector.Collections > 0, "the garbage collector never ran during the test");
            await AssertWholeAsync(backend, created);
        }

        // A new backend (as after a restart) indexes the token, checking every object attribute by attribute against
        // what its key should be, then uses every key.
        using var reopened = fixture.Open(tokenLabel);
        var inventory = await reopened.IndexAsync("c", [.. created.Select(Describe)]);
        Assert.Empty(inventory.Defective);
        Assert.Empty(inventory.Missing);
        Assert.Empty(inventory.Unexpected);
        Assert.Equal(created.Sum(k => k.Spec is null || k.Usage == HsmKeyUsage.GenerateVerifyMac ? 1 : 2), inventory.KeyObjects);
        await AssertWholeAsync(reopened, created);
    }

    internal static HsmKeyDescription Describe((string Label, HsmKeySpec? Spec, HsmKeyUsage Usage) key) =>
        new(key.Label, key.Spec ?? HsmKeySpec.Aes256, key.Usage);

    internal static async Task CreateAsync(Pkcs11Backend backend, string label, HsmKeySpec? spec, HsmKeyUsage usage)
    {
        if (spec is null)
        {
            await backend.CreateAesKeyAsync(label);
        }
        else if (usage == HsmKeyUsage.GenerateVerifyMac)
        {
            await backend.CreateHmacKeyAsync(label, spec.Value);
        }
        else
        {
            await backend.CreateKeyPairAsync(label, spec.Value, usage);
        }
    }

    internal static async Task AssertWholeAsync(Pkcs11Backend backend, IEnumerable<(string Label, HsmKeySpec? Spec, HsmKeyUsage Usage)> keys)
    {
        var problems = new List<string>();
        foreach (var (label, spec, usage) in keys)
        {
            var objects = await backend.RunAsync("inspect", session => Inspect(session, label), default);
            var expectedClasses = spec is null || usage == HsmKeyUsage.GenerateVerifyMac
                ? new[] { CKO.CKO_SECRET_KEY }
                : [CKO.CKO_PRIVATE_KEY, CKO.CKO_PUBLIC_KEY];
            var classes = objects.Select(o => o.Class).Order().ToArray();
            if (!classes.SequenceEqual(expectedClasses.Order()))
            {
                problems.Add($"{label}: token objects of classes [{string.Join(", ", classes)}]");
                continue;
            }

            foreach (var o in objects.Where(o => o.Class != CKO.CKO_PUBLIC_KEY))
            {
                if (!o.Sensitive || o.Extractable || !o.Private || !o.NeverExtractable || !o.AlwaysSensitive)
                {
                    problems.Add($"{label}: {o.Class} sensitive={o.Sensitive} extractable={o.Extractable} private={o.Private}");
                }
            }

            // Every key must work: encrypt/decrypt, MAC or sign/verify/derive through the public API.
            try
            {
                await RoundTripAsync(backend, label, spec, usage);
            }
            catch (Exception e)
            {
                problems.Add($"{label}: round trip failed: {e.Message}");
            }
        }

        Assert.Empty(problems);
    }

    private static async Task RoundTripAsync(Pkcs11Backend backend, string label, HsmKeySpec? spec, HsmKeyUsage usage)
    {
        var message = TestData.Bytes(40);
        if (spec is null)
        {
            var iv = TestData.Iv();
            var sealedBytes = await backend.EncryptAesGcmAsync(label, iv, message[..8], message);
            Assert.Equal(message, await backend.DecryptAesGcmAsync(label, iv, message[..8], sealedBytes));
        }
        else if (usage == HsmKeyUsage.GenerateVerifyMac)
        {
            var algorithm = spec switch
            {
                HsmKeySpec.Hmac224 => MacAlgorithm.HmacSha224,
                HsmKeySpec.Hmac256 => MacAlgorithm.HmacSha256,
                HsmKeySpec.Hmac384 => MacAlgorithm.HmacSha384,
                _ => MacAlgorithm.HmacSha512,
            };
            var mac = await backend.MacAsync(label, algorithm, message);
            Assert.True(await backend.VerifyMacAsync(label, algorithm, message, mac));
        }
        else if (usage == HsmKeyUsage.SignVerify)
        {
            var scheme = spec switch
            {
                HsmKeySpec.Ed25519 => SignatureScheme.Ed25519,
                HsmKeySpec.Rsa2048 => SignatureScheme.RsaPssSha256,
                HsmKeySpec.EcP521 => SignatureScheme.EcdsaSha512,
                _ => SignatureScheme.EcdsaSha256,
            };
            var signature = await backend.SignAsync(label, scheme, message, inputIsDigest: false);
            Assert.True(await backend.VerifyAsync(label, scheme, message, inputIsDigest: false, signature));
        }
        else if (usage == HsmKeyUsage.EncryptDecrypt)
        {
            var ciphertext = await backend.EncryptRsaAsync(label, RsaEncryptionScheme.OaepSha1, message);
            Assert.Equal(message, await backend.DecryptRsaAsync(label, RsaEncryptionScheme.OaepSha1, ciphertext));
        }
        else
        {
            using var peer = System.Security.Cryptography.ECDiffieHellman.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP384);
            var secret = await backend.DeriveSharedSecretAsync(label, peer.ExportSubjectPublicKeyInfo());
            Assert.Equal(48, secret.Length);
        }
    }

    private static List<ObjectFacts> Inspect(ISession session, string label)
    {
        var facts = new List<ObjectFacts>();
        using var template = Pkcs11Template.From(session, AttributeTemplates.TokenObjectsLabelled(label));
        foreach (var handle in session.FindAllObjects(template.Attributes))
        {
            var values = session.GetAttributeValue(handle,
                [CKA.CKA_CLASS, CKA.CKA_SENSITIVE, CKA.CKA_EXTRACTABLE, CKA.CKA_PRIVATE, CKA.CKA_NEVER_EXTRACTABLE, CKA.CKA_ALWAYS_SENSITIVE]);
            bool Flag(int i) => !values[i].CannotBeRead && values[i].GetValueAsBool();
            facts.Add(new ObjectFacts((CKO)values[0].GetValueAsUlong(), Flag(1), Flag(2), Flag(3), Flag(4), Flag(5)));
            values.ForEach(v => v.Dispose());
        }

        return facts;
    }

    private sealed record ObjectFacts(CKO Class, bool Sensitive, bool Extractable, bool Private, bool NeverExtractable, bool AlwaysSensitive);
}
