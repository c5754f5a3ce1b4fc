using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>TagResource, UntagResource, ListResourceTags and tags given to CreateKey.</summary>
public sealed class TagTests(HostFixture fixture) : IClassFixture<HostFixture>
{
    private const string ReservedMessage = "Tags beginning with aws: are reserved";

    private readonly AmazonKeyManagementServiceClient _kms = fixture.Kms;

    private static Tag T(string key, string value) => new() { TagKey = key, TagValue = value };

    private static List<(string, string)> Pairs(IEnumerable<Tag> tags) => tags.Select(t => (t.TagKey, t.TagValue)).OrderBy(p => p.TagKey, StringComparer.Ordinal).ToList();

    [Fact]
    public async Task CreateKey_with_tags_lists_them()
    {
        var key = await _kms.NewKeyAsync(tags: [T("tag1", "value1"), T("tag2", "value2"), T("empty", "")]);

        Assert.Equal([("empty", ""), ("tag1", "value1"), ("tag2", "value2")], Pairs(await _kms.TagsAsync(key.KeyId)));
    }

    [Fact]
    public async Task TagResource_adds_new_tags_and_replaces_the_values_of_existing_ones()
    {
        var key = await _kms.NewKeyAsync(tags: [T("tag1", "value1"), T("tag2", "value2"), T("tag3", "value3")]);

        await _kms.TagResourceAsync(new TagResourceRequest { KeyId = key.Arn, Tags = [T("tag2", "updated_value2"), T("tag4", "value4"), T("tag5", "value5")] });

        Assert.Equal(
            [("tag1", "value1"), ("tag2", "updated_value2"), ("tag3", "value3"), ("tag4", "value4"), ("tag5", "value5")],
            Pairs(await _kms.TagsAsync(key.KeyId)));
    }

    [Fact]
    public async Task UntagResource_removes_only_the_named_tags()
    {
        var key = await _kms.NewKeyAsync(tags: [T("tag1", "value1"), T("tag2", "value2"), T("tag3", "value3")]);

        await _kms.UntagResourceAsync(new UntagResourceRequest { KeyId = key.KeyId, TagKeys = ["tag2", "not-there"] });

        Assert.Equal([("tag1", "value1"), ("tag3", "value3")], Pairs(await _kms.TagsAsync(key.KeyId)));

        await _kms.UntagResourceAsync(new UntagResourceRequest { KeyId = key.KeyId, TagKeys = ["tag1", "tag3"] });
        Assert.Empty(await _kms.TagsAsync(key.KeyId));
    }

    [Theory]
    [InlineData("aws:owner")]
    [InlineData("AWS:owner")]
    [InlineData("Aws:owner")]
    [InlineData("aWs:")]
    public async Task Tag_keys_beginning_with_aws_in_any_case_return_TagException(string tagKey)
    {
        var key = await _kms.NewKeyAsync();

        await KmsAssert.ErrorAsync<TagException>(() => _kms.NewKeyAsync(tags: [T(tagKey, "v")]), ReservedMessage);
        await KmsAssert.ErrorAsync<TagException>(
            () => _kms.TagResourceAsync(new TagResourceRequest { KeyId = key.KeyId, Tags = [T("fine", "v"), T(tagKey, "v")] }),
            ReservedMessage);
        Assert.Empty(await _kms.TagsAsync(key.KeyId));
    }

    [Fact]
    public async Task Duplicate_tag_keys_in_one_request_return_TagException()
    {
        var key = await _kms.NewKeyAsync();

        await KmsAssert.ErrorAsync<TagException>(
            () => _kms.TagResourceAsync(new TagResourceRequest { KeyId = key.KeyId, Tags = [T("same", "1"), T("same", "2")] }),
            "Duplicate tag keys");
        await KmsAssert.ErrorAsync<TagException>(() => _kms.NewKeyAsync(tags: [T("same", "1"), T("same", "2")]), "Duplicate tag keys");
        Assert.Empty(await _kms.TagsAsync(key.KeyId));
    }

    [Fact]
    public async Task More_than_50_tags_on_a_key_return_TagException()
    {
        var fifty = Enumerable.Range(1, 50).Select(i => T($"tag{i:00}", $"value{i}")).ToList();

        await KmsAssert.ErrorAsync<TagException>(() => _kms.NewKeyAsync(tags: [.. fifty, T("tag51", "value51")]), "Too many tags");

        var key = await _kms.NewKeyAsync(tags: fifty);
        await KmsAssert.ErrorAsync<TagException>(
            () => _kms.TagResourceAsync(new TagResourceRequest { KeyId = key.KeyId, Tags = [T("tag51", "value51")] }),
            "Too many tags");

        // Replacing the value of an existing tag does not count as a new tag.
        await _kms.TagResourceAsync(new TagResourceRequest { KeyId = key.KeyId, Tags = [T("tag01", "replaced")] });
        var tags = (await _kms.ListResourceTagsAsync(new ListResourceTagsRequest { KeyId = key.KeyId, Limit = 50 })).Tags;
        Assert.Equal(50, tags.Count);
        Assert.Equal("replaced", Assert.Single(tags, t => t.TagKey == "tag01").TagValue);
    }

    [Fact]
    public async Task A_tag_key_longer_than_128_characters_returns_ValidationException()
    {
        var key = await _kms.NewKeyAsync();
        var longKey = new string('a', 129);

        await KmsAssert.ValidationAsync(
            () => _kms.TagResourceAsync(new TagResourceRequest { KeyId = key.KeyId, Tags = [T(longKey, "v")] }),
            $"1 validation error detected: Value '{longKey}' at 'tags.1.member.tagKey' failed to satisfy constraint: Member must have length less than or equal to 128");
    }

    [Fact]
    public async Task A_tag_value_longer_than_256_characters_returns_ValidationException()
    {
        var longValue = new string('v', 257);

        await KmsAssert.ValidationAsync(
            () => _kms.NewKeyAsync(tags: [T("ok", "fine"), T("tag", longValue)]),
            $"1 validation error detected: Value '{longValue}' at 'tags.2.member.tagValue' failed to satisfy constraint: Member must have length less than or equal to 256");
    }

    [Fact]
    public async Task Tagging_an_unknown_key_returns_NotFoundException()
    {
        var keyId = Guid.NewGuid().ToString();

        await KmsAssert.KeyDoesNotExistAsync(
            () => _kms.TagResourceAsync(new TagResourceRequest { KeyId = keyId, Tags = [T("k", "v")] }),
            Accounts.KeyArn(keyId));
        await KmsAssert.KeyDoesNotExistAsync(() => _kms.ListResourceTagsAsync(new ListResourceTagsRequest { KeyId = keyId }), Accounts.KeyArn(keyId));
    }
}
