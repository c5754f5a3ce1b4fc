using System.Security.Cryptography;
using KmsEmulator.Hsm.Pkcs11;
using Microsoft.Extensions.Time.Testing;
using Net.Pkcs11Interop.Common;

namespace KmsEmulator.Hsm.Tests;

/// <summary>
/// One SoftHSM2 token used by two processes, as by two emulator nodes on one token directory: this process (node B)
/// and an <see cref="HsmPeerProcess"/> (node A). Each test has a token of its own, made here before the peer opens it.
/// </summary>
[Collection(SoftHsmCollection.Name)]
public sealed class SharedTokenTests(SoftHsmFixture fixture)
{
    private static readonly TimeSpan CheckInterval = TimeSpan.FromMinutes(1);

    private readonly byte[] _iv = TestData.Iv();
    private readonly byte[] _plaintext = TestData.Bytes(32);

    [Fact]
    public async Task Keys_made_by_another_process_are_found_by_label_and_hold_the_same_material()
    {
        var (node, tokenLabel) = OpenNode(TimeSpan.Zero);
        using var owned = node;
        await using var peer = await HsmPeerProcess.StartAsync(fixture.TokenDirectory, tokenLabel);
        var aes = TestData.KeyLabel("peer-aes");
        var ec = TestData.KeyLabel("peer-ec");
        await peer.RunAsync($"create-aes {aes}");
        var spki = Convert.FromHexString(await peer.RunAsync($"create-ec {ec}"));

        // Sealed here, opened there, and the other way round: one key, two processes.
        var sealedHere = await node.EncryptAesGcmAsync(aes, _iv, default, _plaintext);
        Assert.Equal(Hex(_plaintext), await peer.RunAsync($"decrypt {aes} {Hex(_iv)} - {Hex(sealedHere)}"));
        var sealedThere = Convert.FromHexString(await peer.RunAsync($"encrypt {aes} {Hex(_iv)} - {Hex(_plaintext)}"));
        Assert.Equal(_plaintext, await node.DecryptAesGcmAsync(aes, _iv, default, sealedThere));

        var digest = SHA256.HashData(TestData.Bytes(64));
        var signature = await node.SignAsync(ec, SignatureScheme.EcdsaSha256, digest, inputIsDigest: true);
        using var verifier = ECDsa.Create();
        verifier.ImportSubjectPublicKeyInfo(spki, out _);
        Assert.True(verifier.VerifyHash(digest, signature, DSASignatureFormat.Rfc3279DerSequence));
        Assert.Equal(spki, await node.GetPublicKeyAsync(ec));
    }

    [Fact]
    public async Task Without_checks_a_session_copy_outlives_a_destroy_by_another_process()
    {
        // What a token shared without SessionCopyCheckInterval does: the copy in this process is beyond the other
        // process's reach, so the key keeps working here although its token object is gone.
        var (node, tokenLabel) = OpenNode(checkInterval: null);
        using var owned = node;
        await using var peer = await HsmPeerProcess.StartAsync(fixture.TokenDirectory, tokenLabel);
        var aes = TestData.KeyLabel("peer-aes");
        await peer.RunAsync($"create-aes {aes}");
        await node.EncryptAesGcmAsync(aes, _iv, default, _plaintext);

        await peer.RunAsync($"destroy {aes}");

        Assert.Equal(_plaintext, await node.DecryptAesGcmAsync(aes, _iv, default, await node.EncryptAesGcmAsync(aes, _iv, default, _plaintext)));
        Assert.StartsWith("error KeyNotFound", await peer.AnswerAsync($"encrypt {aes} {Hex(_iv)} - {Hex(_plaintext)}"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_destroyed_by_another_process_is_refused_here_once_the_check_interval_has_passed()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var (node, tokenLabel) = OpenNode(CheckInterval, clock);
        using var owned = node;
        await using var peer = await HsmPeerProcess.StartAsync(fixture.TokenDirectory, tokenLabel);
        var aes = TestData.KeyLabel("peer-aes");
        await peer.RunAsync($"create-aes {aes}");
        var sealedBefore = await node.EncryptAesGcmAsync(aes, _iv, default, _plaintext);

        await peer.RunAsync($"destroy {aes}");

        // Within the interval the copy is still trusted: how long a destroyed key can stay usable on another node.
        clock.Advance(CheckInterval - TimeSpan.FromSeconds(1));
        await node.EncryptAesGcmAsync(aes, _iv, default, _plaintext);
        Assert.False(await node.ExistsAsync(aes)); // It asks the token whenever copies are checked at all.

        clock.Advance(TimeSpan.FromSeconds(1));
        await TestData.ThrowsHsm(HsmErrorKind.KeyNotFound, () => node.EncryptAesGcmAsync(aes, _iv, default, _plaintext).AsTask());
        await TestData.ThrowsHsm(HsmErrorKind.KeyNotFound, () => node.DecryptAesGcmAsync(aes, _iv, default, sealedBefore).AsTask());
        Assert.Equal(0, await SessionCopiesAsync(node, aes));
    }

    [Fact]
    public async Task With_a_zero_interval_a_destroy_by_another_process_is_seen_at_the_next_use_of_either_half_of_a_key_pair()
    {
        var (node, tokenLabel) = OpenNode(TimeSpan.Zero);
        using var owned = node;
        await using var peer = await HsmPeerProcess.StartAsync(fixture.TokenDirectory, tokenLabel);
        var ec = TestData.KeyLabel("peer-ec");
        await peer.RunAsync($"create-ec {ec}");
        var digest = SHA256.HashData(TestData.Bytes(64));
        var signature = await node.SignAsync(ec, SignatureScheme.EcdsaSha256, digest, inputIsDigest: true);
        Assert.True(await node.VerifyAsync(ec, SignatureScheme.EcdsaSha256, digest, inputIsDigest: true, signature));

        await peer.RunAsync($"destroy {ec}");

        await TestData.ThrowsHsm(HsmErrorKind.KeyNotFound, () => node.SignAsync(ec, SignatureScheme.EcdsaSha256, digest, inputIsDigest: true).AsTask());
        await TestData.ThrowsHsm(HsmErrorKind.KeyNotFound, () => node.VerifyAsync(ec, SignatureScheme.EcdsaSha256, digest, inputIsDigest: true, signature).AsTask());
        Assert.Equal(0, await SessionCopiesAsync(node, ec));
    }

    [Fact]
    public async Task Material_made_again_under_the_same_label_by_another_process_replaces_the_copy_here()
    {
        // A re-import of deleted material reuses its label: the check finds the old object gone and the label is
        // looked up again, so this process uses the new material, as the other one does.
        var (node, tokenLabel) = OpenNode(TimeSpan.Zero);
        using var owned = node;
        await using var peer = await HsmPeerProcess.StartAsync(fixture.TokenDirectory, tokenLabel);
        var aes = TestData.KeyLabel("peer-aes");
        await peer.RunAsync($"create-aes {aes}");
        var sealedWithOld = await node.EncryptAesGcmAsync(aes, _iv, default, _plaintext);

        await peer.RunAsync($"destroy {aes}");
        await peer.RunAsync($"create-aes {aes}");

        var sealedWithNew = await node.EncryptAesGcmAsync(aes, _iv, default, _plaintext);
        Assert.Equal(Hex(_plaintext), await peer.RunAsync($"decrypt {aes} {Hex(_iv)} - {Hex(sealedWithNew)}"));
        await TestData.ThrowsHsm(HsmErrorKind.AuthenticationFailed, () => node.DecryptAesGcmAsync(aes, _iv, default, sealedWithOld).AsTask());
    }

    [Fact]
    public async Task The_index_gives_when_another_process_made_an_object_and_nothing_for_undated_ones()
    {
        var (node, tokenLabel) = OpenNode(TimeSpan.Zero);
        using var owned = node;
        await using var peer = await HsmPeerProcess.StartAsync(fixture.TokenDirectory, tokenLabel);
        var prefix = $"shared-{Guid.NewGuid():N}/";
        // An object whose CKA_ID is only its label, as every object made before ids were dated.
        await HsmObjects.CreateAsync(node,
            new(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY),
            new(CKA.CKA_KEY_TYPE, CKK.CKK_AES),
            new(CKA.CKA_TOKEN, true), new(CKA.CKA_PRIVATE, true),
            new(CKA.CKA_SENSITIVE, true), new(CKA.CKA_VALUE, TestData.Bytes(32)),
            new(CKA.CKA_LABEL, prefix + "undated"), new(CKA.CKA_ID, System.Text.Encoding.UTF8.GetBytes(prefix + "undated")));

        var before = DateTimeOffset.UtcNow;
        await peer.RunAsync($"create-aes {prefix}aes");
        await peer.RunAsync($"create-ec {prefix}ec");
        var after = DateTimeOffset.UtcNow;

        var inventory = await node.IndexAsync(prefix, []);

        Assert.Equal([prefix + "aes", prefix + "ec", prefix + "undated"], inventory.Unexpected);
        Assert.Equal([prefix + "aes", prefix + "ec"], inventory.CreatedAt.Keys.Order(StringComparer.Ordinal));
        Assert.All(inventory.CreatedAt.Values, made => Assert.InRange(made, before.AddMilliseconds(-1), after.AddMilliseconds(1)));
    }

    [Fact]
    public async Task A_key_another_process_made_is_found_after_this_process_made_one_of_its_own()
    {
        // SoftHSM2 forgets to look at the token when this process adds an object after another process did: without
        // the backend's catch-up before each generation, the peer's key would stay unknown here.
        var (node, tokenLabel) = OpenNode(TimeSpan.Zero);
        using var owned = node;
        await using var peer = await HsmPeerProcess.StartAsync(fixture.TokenDirectory, tokenLabel);
        await node.CreateAesKeyAsync(TestData.KeyLabel("own"));
        var theirs = TestData.KeyLabel("peer-aes");
        await peer.RunAsync($"create-aes {theirs}");

        await node.CreateAesKeyAsync(TestData.KeyLabel("own"));
        await node.CreateKeyPairAsync(TestData.KeyLabel("own-ec"), HsmKeySpec.EcP256, HsmKeyUsage.SignVerify);

        var sealedHere = await node.EncryptAesGcmAsync(theirs, _iv, default, _plaintext);
        Assert.Equal(Hex(_plaintext), await peer.RunAsync($"decrypt {theirs} {Hex(_iv)} - {Hex(sealedHere)}"));
    }

    /// <summary>A new token and this process's backend on it, with <paramref name="checkInterval"/> and a clock.</summary>
    private (Pkcs11Backend Backend, string TokenLabel) OpenNode(TimeSpan? checkInterval, TimeProvider? clock = null)
    {
        var tokenLabel = SoftHsmFixture.NewTokenLabel("shared");
        var options = fixture.Options(tokenLabel);
        options.SessionCopyCheckInterval = checkInterval;
        return (Pkcs11Backend.Open(options, time: clock), tokenLabel);
    }

    /// <summary>The session objects (copies of keys) with this label that this process holds.</summary>
    private static Task<int> SessionCopiesAsync(Pkcs11Backend backend, string label) =>
        backend.RunAsync("count session copies", session =>
        {
            using var template = Pkcs11Template.From(session, [.. AttributeTemplates.ObjectsLabelled(label), new(CKA.CKA_TOKEN, false)]);
            return session.FindAllObjects(template.Attributes).Count;
        }, default).AsTask();

    private static string Hex(byte[] bytes) => bytes.Length == 0 ? "-" : Convert.ToHexString(bytes);
}
