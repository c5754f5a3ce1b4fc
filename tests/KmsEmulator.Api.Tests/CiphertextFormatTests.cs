using KmsEmulator.Api.Keys;

namespace KmsEmulator.Api.Tests;

public sealed class CiphertextFormatTests
{
    private static byte[] Blob(string keyId, int version, int bodyLength = 20)
    {
        var header = SymmetricCiphertext.CreateHeader(keyId, version);
        return SymmetricCiphertext.Assemble(header, new byte[SymmetricCiphertext.IvLength], new byte[bodyLength + SymmetricCiphertext.TagLength]);
    }

    [Theory]
    [InlineData("1234abcd-12ab-34cd-56ef-1234567890ab", 1)]
    [InlineData("mrk-1234abcd12ab34cd56ef1234567890ab", 7)]
    public void The_header_names_the_key_and_material_version(string keyId, int version)
    {
        Assert.True(SymmetricCiphertext.TryParse(Blob(keyId, version), out var parsed));

        Assert.Equal(keyId, parsed.KeyId);
        Assert.Equal(version, parsed.MaterialVersion);
        Assert.Equal(20 + SymmetricCiphertext.TagLength, parsed.CiphertextAndTag.Length);
    }

    [Fact]
    public void The_overhead_is_fifty_bytes()
    {
        Assert.Equal(32 + 50, Blob("1234abcd-12ab-34cd-56ef-1234567890ab", 1, 32).Length);
    }

    [Fact]
    public void Blobs_of_another_format_are_rejected()
    {
        var blob = Blob("1234abcd-12ab-34cd-56ef-1234567890ab", 1);

        var otherVersion = (byte[])blob.Clone();
        otherVersion[0] = 0x02;
        var otherKind = (byte[])blob.Clone();
        otherKind[1] = 0x07;
        var versionZero = SymmetricCiphertext.Assemble(SymmetricCiphertext.CreateHeader("1234abcd-12ab-34cd-56ef-1234567890ab", 0), new byte[12], new byte[16]);

        Assert.False(SymmetricCiphertext.TryParse(otherVersion, out _));
        Assert.False(SymmetricCiphertext.TryParse(otherKind, out _));
        Assert.False(SymmetricCiphertext.TryParse(versionZero, out _));
        Assert.False(SymmetricCiphertext.TryParse(blob.AsMemory(0, SymmetricCiphertext.Overhead - 1), out _));
        Assert.False(SymmetricCiphertext.TryParse(Array.Empty<byte>(), out _));
    }

    [Fact]
    public void The_encryption_context_encoding_ignores_order_but_not_content()
    {
        var header = new byte[] { 1, 2, 3 };
        var a = EncryptionContextEncoding.BuildAad(header, new Dictionary<string, string> { ["b"] = "2", ["a"] = "1" });
        var b = EncryptionContextEncoding.BuildAad(header, new Dictionary<string, string> { ["a"] = "1", ["b"] = "2" });
        var caseChanged = EncryptionContextEncoding.BuildAad(header, new Dictionary<string, string> { ["A"] = "1", ["b"] = "2" });

        Assert.Equal(a, b);
        Assert.NotEqual(a, caseChanged);
        Assert.Equal(header, a[..3]);
    }

    [Fact]
    public void The_encryption_context_encoding_keeps_key_and_value_boundaries()
    {
        // Plain concatenation would make these two contexts equal.
        var first = EncryptionContextEncoding.BuildAad([], new Dictionary<string, string> { ["ab"] = "c" });
        var second = EncryptionContextEncoding.BuildAad([], new Dictionary<string, string> { ["a"] = "bc" });

        Assert.NotEqual(first, second);
    }

    [Fact]
    public void An_empty_context_and_no_context_are_the_same()
    {
        Assert.Equal(
            EncryptionContextEncoding.BuildAad([9], null),
            EncryptionContextEncoding.BuildAad([9], new Dictionary<string, string>()));
    }
}
