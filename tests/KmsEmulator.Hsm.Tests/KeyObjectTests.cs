using System.Text;
using KmsEmulator.Hsm.Pkcs11;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace KmsEmulator.Hsm.Tests;

[Collection(SoftHsmCollection.Name)]
public sealed class KeyObjectTests : IDisposable
{
    private static readonly string TokenLabel = SoftHsmFixture.NewTokenLabel("objects");
    private readonly SoftHsmFixture _fixture;
    private readonly Pkcs11Backend _backend;

    public KeyObjectTests(SoftHsmFixture fixture)
    {
        _fixture = fixture;
        _backend = fixture.Open(TokenLabel);
    }

    public void Dispose() => _backend.Dispose();

    [Fact]
    public async Task Key_objects_are_private_sensitive_token_objects_that_were_never_extractable()
    {
        var label = TestData.KeyLabel();
        await _backend.CreateAesKeyAsync(label);

        var attributes = await ReadAttributes(label,
            CKA.CKA_TOKEN, CKA.CKA_PRIVATE, CKA.CKA_SENSITIVE, CKA.CKA_ALWAYS_SENSITIVE,
            CKA.CKA_EXTRACTABLE, CKA.CKA_NEVER_EXTRACTABLE, CKA.CKA_WRAP, CKA.CKA_UNWRAP, CKA.CKA_ENCRYPT, CKA.CKA_DECRYPT);

        Assert.Equal(
            new Dictionary<CKA, bool>
            {
                [CKA.CKA_TOKEN] = true, [CKA.CKA_PRIVATE] = true, [CKA.CKA_SENSITIVE] = true, [CKA.CKA_ALWAYS_SENSITIVE] = true,
                [CKA.CKA_EXTRACTABLE] = false, [CKA.CKA_NEVER_EXTRACTABLE] = true, [CKA.CKA_WRAP] = false,
                [CKA.CKA_UNWRAP] = false, [CKA.CKA_ENCRYPT] = true, [CKA.CKA_DECRYPT] = true,
            },
            attributes.ToDictionary(a => (CKA)a.Type, a => a.GetValueAsBool()));
    }

    [Fact]
    public async Task Key_objects_are_not_extractable()
    {
        var label = TestData.KeyLabel();
        await _backend.CreateAesKeyAsync(label);

        var value = (await ReadAttributes(label, CKA.CKA_VALUE)).Single();

        Assert.True(value.CannotBeRead);
    }

    [Fact]
    public async Task Key_objects_carry_a_256_bit_length_and_the_label_with_the_time_they_were_made_as_their_id()
    {
        var label = TestData.KeyLabel();
        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await _backend.CreateAesKeyAsync(label);
        var after = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        var attributes = await ReadAttributes(label, CKA.CKA_VALUE_LEN, CKA.CKA_ID);

        Assert.Equal(32UL, attributes[0].GetValueAsUlong());
        var id = Encoding.UTF8.GetString(attributes[1].GetValueAsByteArray());
        Assert.StartsWith(label + "@", id, StringComparison.Ordinal);
        Assert.InRange(long.Parse(id[(label.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture), before, after);
    }

    [Fact]
    public async Task The_token_files_do_not_contain_the_key_label_in_plaintext()
    {
        var label = TestData.KeyLabel("secret");
        await _backend.CreateAesKeyAsync(label);
        var publicLabel = TestData.KeyLabel("public");
        await HsmObjects.CreateAsync(_backend,
            new(CKA.CKA_CLASS, CKO.CKO_DATA), new(CKA.CKA_TOKEN, true), new(CKA.CKA_PRIVATE, false), new(CKA.CKA_LABEL, publicLabel));

        try
        {
            // The public object shows that the scan would find a label that SoftHSM2 stores in plaintext.
            Assert.True(TokenFilesContain(publicLabel));
            Assert.False(TokenFilesContain(label));
        }
        finally
        {
            await _backend.DestroyAsync(publicLabel);
        }
    }

    [Fact]
    public async Task A_destroyed_key_is_KeyNotFound()
    {
        var label = TestData.KeyLabel();
        await _backend.CreateAesKeyAsync(label);
        await _backend.EncryptAesGcmAsync(label, TestData.Iv(), default, TestData.Bytes(8));

        await _backend.DestroyAsync(label);

        Assert.False(await _backend.ExistsAsync(label));
        await TestData.ThrowsHsm(HsmErrorKind.KeyNotFound,
            () => _backend.EncryptAesGcmAsync(label, TestData.Iv(), default, TestData.Bytes(8)).AsTask());
    }

    [Fact]
    public async Task Destroying_a_missing_key_is_not_an_error()
    {
        await _backend.DestroyAsync(TestData.KeyLabel("missing"));
    }

    [Fact]
    public async Task A_key_destroyed_by_someone_else_is_KeyNotFound()
    {
        var label = TestData.KeyLabel();
        await _backend.CreateAesKeyAsync(label);
        using (var other = _fixture.Open(TokenLabel))
        {
            await other.DestroyAsync(label);
        }

        await TestData.ThrowsHsm(HsmErrorKind.KeyNotFound,
            () => _backend.EncryptAesGcmAsync(label, TestData.Iv(), default, TestData.Bytes(8)).AsTask());
    }

    [Fact]
    public async Task A_key_replaced_by_someone_else_is_found_again()
    {
        var label = TestData.KeyLabel();
        await _backend.CreateAesKeyAsync(label);
        var iv = TestData.Iv();
        byte[] ciphertext;
        using (var other = _fixture.Open(TokenLabel))
        {
            await other.DestroyAsync(label);
            await other.CreateAesKeyAsync(label);
            ciphertext = await other.EncryptAesGcmAsync(label, iv, default, Encoding.UTF8.GetBytes("replaced"));
        }

        var plaintext = await _backend.DecryptAesGcmAsync(label, iv, default, ciphertext);

        Assert.Equal("replaced", Encoding.UTF8.GetString(plaintext));
    }

    [Fact]
    public async Task A_used_key_has_one_session_copy_that_is_private_sensitive_and_not_extractable()
    {
        var label = TestData.KeyLabel();
        await _backend.CreateAesKeyAsync(label);
        await _backend.EncryptAesGcmAsync(label, TestData.Iv(), default, TestData.Bytes(8));

        var copies = await HsmObjects.ReadSessionCopiesAsync(_backend, label,
            CKA.CKA_TOKEN, CKA.CKA_PRIVATE, CKA.CKA_SENSITIVE, CKA.CKA_EXTRACTABLE, CKA.CKA_NEVER_EXTRACTABLE);
        var value = await HsmObjects.ReadSessionCopiesAsync(_backend, label, CKA.CKA_VALUE);

        Assert.Equal(
            new Dictionary<CKA, bool>
            {
                [CKA.CKA_TOKEN] = false, [CKA.CKA_PRIVATE] = true, [CKA.CKA_SENSITIVE] = true,
                [CKA.CKA_EXTRACTABLE] = false, [CKA.CKA_NEVER_EXTRACTABLE] = true,
            },
            copies.ToDictionary(a => (CKA)a.Type, a => a.GetValueAsBool()));
        Assert.True(Assert.Single(value).CannotBeRead);
    }

    [Fact]
    public async Task Destroying_a_key_destroys_its_session_copies_in_every_backend()
    {
        var label = TestData.KeyLabel();
        await _backend.CreateAesKeyAsync(label);
        using var other = _fixture.Open(TokenLabel);
        await other.EncryptAesGcmAsync(label, TestData.Iv(), default, TestData.Bytes(8));
        Assert.Equal(2, (await HsmObjects.ReadSessionCopiesAsync(_backend, label, CKA.CKA_TOKEN)).Count);

        await _backend.DestroyAsync(label);

        Assert.Empty(await HsmObjects.ReadSessionCopiesAsync(_backend, label, CKA.CKA_TOKEN));
        await TestData.ThrowsHsm(HsmErrorKind.KeyNotFound,
            () => other.EncryptAesGcmAsync(label, TestData.Iv(), default, TestData.Bytes(8)).AsTask());
    }

    [Fact]
    public async Task Destroying_many_keys_in_one_pass_takes_their_objects_and_copies_and_nothing_else()
    {
        var aes = TestData.KeyLabel("many-aes");
        var pair = TestData.KeyLabel("many-pair");
        var kept = TestData.KeyLabel("many-kept");
        await _backend.CreateAesKeyAsync(aes);
        await _backend.CreateKeyPairAsync(pair, HsmKeySpec.EcP256, HsmKeyUsage.SignVerify);
        await _backend.CreateAesKeyAsync(kept);
        using var other = _fixture.Open(TokenLabel);
        await other.EncryptAesGcmAsync(aes, TestData.Iv(), default, TestData.Bytes(8));
        await _backend.SignAsync(pair, SignatureScheme.EcdsaSha256, TestData.Bytes(32), inputIsDigest: true);
        Assert.NotEmpty(await HsmObjects.ReadSessionCopiesAsync(_backend, aes, CKA.CKA_TOKEN));

        var destroyed = await _backend.DestroyManyAsync(new HashSet<string>(StringComparer.Ordinal) { aes, pair, TestData.KeyLabel("many-missing") });

        Assert.Equal(3, destroyed); // The AES key, and the pair's private and public key.
        Assert.False(await _backend.ExistsAsync(aes));
        Assert.False(await _backend.ExistsAsync(pair));
        Assert.Empty(await HsmObjects.ReadSessionCopiesAsync(_backend, aes, CKA.CKA_TOKEN));
        Assert.Empty(await HsmObjects.ReadSessionCopiesAsync(_backend, pair, CKA.CKA_TOKEN));
        await TestData.ThrowsHsm(HsmErrorKind.KeyNotFound,
            () => other.EncryptAesGcmAsync(aes, TestData.Iv(), default, TestData.Bytes(8)).AsTask());
        Assert.True(await _backend.ExistsAsync(kept));
        await _backend.EncryptAesGcmAsync(kept, TestData.Iv(), default, TestData.Bytes(8));
    }

    [Fact]
    public async Task A_key_destroyed_while_another_backend_first_uses_it_leaves_no_usable_copy()
    {
        // Probabilistic: the backend making its first copy must land between the destroy's search and its destruction
        // of the token object. Six users per round over 300 rounds hit that window many times on SoftHSM2.
        using var user = _fixture.Open(TokenLabel);
        for (var round = 0; round < 300; round++)
        {
            var label = TestData.KeyLabel();
            await _backend.CreateAesKeyAsync(label);
            using var started = new CountdownEvent(6);
            var users = Enumerable.Range(0, 6).Select(_ => Task.Run(async () =>
            {
                started.Signal();
                try
                {
                    await user.EncryptAesGcmAsync(label, TestData.Iv(), default, TestData.Bytes(8));
                }
                catch (HsmException)
                {
                    // Lost the race to the destroy. SoftHSM2 reports an object destroyed during a call in several
                    // ways (no such object, function not permitted, general error); only what is left afterwards counts.
                }
            })).ToList();

            started.Wait();
            await _backend.DestroyAsync(label);
            await Task.WhenAll(users);

            Assert.Empty(await HsmObjects.ReadSessionCopiesAsync(_backend, label, CKA.CKA_TOKEN));
            await TestData.ThrowsHsm(HsmErrorKind.KeyNotFound,
                () => user.EncryptAesGcmAsync(label, TestData.Iv(), default, TestData.Bytes(8)).AsTask());
        }
    }

    [Fact]
    public async Task With_session_copies_off_keys_are_used_as_token_objects()
    {
        using var backend = Pkcs11Backend.Open(new HsmOptions
        {
            TokenDirectory = _fixture.TokenDirectory, TokenLabel = TokenLabel, SessionKeyCopies = false,
        });
        var label = TestData.KeyLabel();
        await backend.CreateAesKeyAsync(label);
        var iv = TestData.Iv();

        var ciphertext = await backend.EncryptAesGcmAsync(label, iv, default, Encoding.UTF8.GetBytes("token object"));

        Assert.Empty(await HsmObjects.ReadSessionCopiesAsync(backend, label, CKA.CKA_TOKEN));
        Assert.Equal("token object", Encoding.UTF8.GetString(await _backend.DecryptAesGcmAsync(label, iv, default, ciphertext)));
    }

    [Fact]
    public async Task Closing_a_backend_removes_its_session_copies()
    {
        var label = TestData.KeyLabel();
        using (var other = _fixture.Open(TokenLabel))
        {
            await other.CreateAesKeyAsync(label);
            Assert.Single(await HsmObjects.ReadSessionCopiesAsync(_backend, label, CKA.CKA_TOKEN));
        }

        Assert.Empty(await HsmObjects.ReadSessionCopiesAsync(_backend, label, CKA.CKA_TOKEN));
    }

    [Fact]
    public async Task Exists_tells_whether_a_label_is_on_the_token()
    {
        var label = TestData.KeyLabel();
        await _backend.CreateAesKeyAsync(label);

        Assert.True(await _backend.ExistsAsync(label));
        Assert.False(await _backend.ExistsAsync(TestData.KeyLabel("missing")));
    }

    [Fact]
    public async Task The_index_reports_the_labels_with_the_prefix_only()
    {
        var prefix = $"list-{Guid.NewGuid():N}/";
        string[] wanted = [prefix + "a", prefix + "b"];
        var other = TestData.KeyLabel("unlisted");
        foreach (var label in wanted.Append(other))
        {
            await _backend.CreateAesKeyAsync(label);
        }

        Assert.Equal(wanted, (await _backend.IndexAsync(prefix, [])).Unexpected);
        Assert.Contains(other, (await _backend.IndexAsync("", [])).Unexpected);
    }

    private Task<List<IObjectAttribute>> ReadAttributes(string label, params CKA[] types) =>
        _backend.RunAsync("read attributes", session =>
        {
            using var template = Pkcs11Template.From(session, AttributeTemplates.TokenObjectLabelled(CKO.CKO_SECRET_KEY, label));
            var handle = session.FindAllObjects(template.Attributes).Single();
            return session.GetAttributeValue(handle, [.. types]);
        }, default).AsTask();

    private bool TokenFilesContain(string text)
    {
        var needle = Encoding.UTF8.GetBytes(text);
        return Directory.EnumerateFiles(_fixture.TokenDirectory, "*", SearchOption.AllDirectories)
            .Any(file => File.ReadAllBytes(file).AsSpan().IndexOf(needle) >= 0);
    }
}
