using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Generated.Runtime;

namespace KmsEmulator.Api.Tests;

public sealed class ShapeValidationTests
{
    private static string? Validate(IValidatable shape)
    {
        var errors = new ValidationErrors();
        shape.Validate(errors, string.Empty);
        return errors.Count == 0 ? null : errors.ToMessage();
    }

    [Fact]
    public void A_valid_request_has_no_errors()
    {
        Assert.Null(Validate(new GenerateRandomRequest { NumberOfBytes = 32 }));
    }

    [Theory]
    [InlineData(0, "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1")]
    [InlineData(1025, "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024")]
    public void Integer_ranges_use_AWS_wording(int value, string expected)
    {
        Assert.Equal(expected, Validate(new GenerateRandomRequest { NumberOfBytes = value }));
    }

    [Fact]
    public void A_missing_required_member_is_reported_as_null()
    {
        Assert.Equal(
            "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null",
            Validate(new DescribeKeyRequest()));
    }

    [Fact]
    public void Sensitive_members_never_print_their_value()
    {
        var message = Validate(new EncryptRequest { KeyId = "k", Plaintext = new byte[4097] });

        Assert.Equal("1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096", message);
    }

    [Fact]
    public void Blobs_are_printed_like_a_Java_ByteBuffer()
    {
        var message = Validate(new DecryptRequest { CiphertextBlob = [] });

        Assert.Equal("1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=0 cap=0]' at 'ciphertextBlob' failed to satisfy constraint: Member must have length greater than or equal to 1", message);
    }

    [Fact]
    public void Enum_values_outside_the_set_list_the_set()
    {
        var message = Validate(new CreateKeyRequest { KeyUsage = "RANDOM" });

        Assert.Equal("1 validation error detected: Value 'RANDOM' at 'keyUsage' failed to satisfy constraint: Member must satisfy enum value set: [SIGN_VERIFY, ENCRYPT_DECRYPT, GENERATE_VERIFY_MAC, KEY_AGREEMENT]", message);
    }

    [Fact]
    public void List_elements_are_addressed_with_a_one_based_member_path()
    {
        var longKey = new string('a', 129);
        var message = Validate(new CreateKeyRequest { Tags = [new Tag { TagKey = "ok", TagValue = "v" }, new Tag { TagKey = longKey, TagValue = "v" }] });

        Assert.Equal($"1 validation error detected: Value '{longKey}' at 'tags.2.member.tagKey' failed to satisfy constraint: Member must have length less than or equal to 128", message);
    }

    [Fact]
    public void Several_errors_are_counted_and_joined()
    {
        var message = Validate(new CreateAliasRequest { AliasName = "alias/bad name" });

        Assert.StartsWith("2 validation errors detected: ", message, StringComparison.Ordinal);
        Assert.Contains("Value 'alias/bad name' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$", message, StringComparison.Ordinal);
        Assert.Contains("; Value null at 'targetKeyId' failed to satisfy constraint: Member must not be null", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Patterns_match_the_whole_value_with_Java_character_classes()
    {
        // PolicyNameType is [\w]+; Java's \w is ASCII-only, and the pattern must match the entire value.
        Assert.Null(Validate(new GetKeyPolicyRequest { KeyId = "k", PolicyName = "default" }));
        Assert.NotNull(Validate(new GetKeyPolicyRequest { KeyId = "k", PolicyName = "café" }));
        Assert.NotNull(Validate(new GetKeyPolicyRequest { KeyId = "k", PolicyName = "de fault" }));
    }

    [Fact]
    public void A_null_map_value_is_reported_at_its_key()
    {
        var message = Validate(new EncryptRequest { KeyId = "k", Plaintext = [1], EncryptionContext = new() { ["a"] = null! } });

        Assert.Equal("1 validation error detected: Value null at 'encryptionContext.a' failed to satisfy constraint: Member must not be null", message);
    }

    [Fact]
    public void A_null_list_element_is_reported_at_its_one_based_member_path()
    {
        var message = Validate(new UntagResourceRequest { KeyId = "k", TagKeys = ["ok", null!] });

        Assert.Equal("1 validation error detected: Value null at 'tagKeys.2.member' failed to satisfy constraint: Member must not be null", message);
    }

    [Fact]
    public void A_null_structure_in_a_list_is_reported_as_null()
    {
        var message = Validate(new TagResourceRequest { KeyId = "k", Tags = [null!] });

        Assert.Equal("1 validation error detected: Value null at 'tags.1.member' failed to satisfy constraint: Member must not be null", message);
    }

    [Fact]
    public void A_null_map_value_in_a_nested_structure_is_reported_with_the_full_path()
    {
        var message = Validate(new CreateGrantRequest
        {
            KeyId = "k",
            GranteePrincipal = "p",
            Operations = ["Encrypt"],
            Constraints = new GrantConstraints { EncryptionContextEquals = new() { ["a"] = null! } },
        });

        Assert.Equal("1 validation error detected: Value null at 'constraints.encryptionContextEquals.a' failed to satisfy constraint: Member must not be null", message);
    }
}
