using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>Limit / Marker / Truncated / NextMarker of ListKeys, ListAliases and ListResourceTags, in an account of its own per test.</summary>
public sealed class PagingTests(HostFixture fixture) : IClassFixture<HostFixture>
{
    private readonly EmulatorHost _host = fixture.Host;

    /// <summary>Walks every page with <paramref name="limit"/>, checking the paging members of each page.</summary>
    private static async Task<List<T>> WalkAsync<T>(int limit, Func<string?, Task<(List<T>? Items, bool? Truncated, string? NextMarker)>> listPage)
    {
        var all = new List<T>();
        string? marker = null;
        for (var pages = 1; ; pages++)
        {
            Assert.True(pages <= 100, "paging does not end");
            var (items, truncated, nextMarker) = await listPage(marker);
            Assert.NotNull(truncated);
            items ??= [];
            all.AddRange(items);
            if (truncated == false)
            {
                Assert.Null(nextMarker);
                Assert.InRange(items.Count, 0, limit);
                return all;
            }

            Assert.Equal(limit, items.Count);
            Assert.False(string.IsNullOrEmpty(nextMarker));
            marker = nextMarker;
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(100)]
    public async Task ListKeys_pages_through_every_key_exactly_once(int limit)
    {
        using var kms = _host.CreateClient(accessKeyId: Accounts.NewAccountId());
        var created = new List<string>();
        for (var i = 0; i < 7; i++)
        {
            created.Add((await kms.NewKeyAsync()).KeyId);
        }

        var listed = await WalkAsync(limit, async marker =>
        {
            var page = await kms.ListKeysAsync(new ListKeysRequest { Limit = limit, Marker = marker });
            return (page.Keys, page.Truncated, page.NextMarker);
        });

        Assert.Equal(created.Order(StringComparer.Ordinal), listed.Select(k => k.KeyId).Order(StringComparer.Ordinal));
        Assert.Equal(listed.Count, listed.Select(k => k.KeyId).Distinct().Count());
    }

    [Fact]
    public async Task ListKeys_of_an_empty_account_is_an_empty_untruncated_page()
    {
        using var kms = _host.CreateClient(accessKeyId: Accounts.NewAccountId());

        var page = await kms.ListKeysAsync(new ListKeysRequest());

        Assert.Empty(page.Keys ?? []);
        Assert.False(page.Truncated);
        Assert.Null(page.NextMarker);
    }

    [Fact]
    public async Task ListKeys_continues_correctly_when_keys_are_added_between_pages()
    {
        using var kms = _host.CreateClient(accessKeyId: Accounts.NewAccountId());
        var created = new HashSet<string>();
        for (var i = 0; i < 4; i++)
        {
            created.Add((await kms.NewKeyAsync()).KeyId);
        }

        var first = await kms.ListKeysAsync(new ListKeysRequest { Limit = 2 });
        var late = (await kms.NewKeyAsync()).KeyId;
        var rest = await WalkAsync(10, async marker =>
        {
            var page = await kms.ListKeysAsync(new ListKeysRequest { Limit = 10, Marker = marker ?? first.NextMarker });
            return (page.Keys, page.Truncated, page.NextMarker);
        });

        var seen = first.Keys.Concat(rest).Select(k => k.KeyId).ToList();
        Assert.Equal(seen.Count, seen.Distinct().Count());
        Assert.Superset(created, seen.ToHashSet());
        Assert.Subset(new HashSet<string>(created) { late }, seen.ToHashSet());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(50)]
    public async Task ListAliases_pages_through_every_alias_exactly_once(int limit)
    {
        using var kms = _host.CreateClient(accessKeyId: Accounts.NewAccountId());
        var keys = new[] { await kms.NewKeyAsync(), await kms.NewKeyAsync(), await kms.NewKeyAsync() };
        var created = new List<string>();
        for (var i = 0; i < 8; i++)
        {
            created.Add(await kms.NewAliasAsync(keys[i % 3].KeyId, $"alias/page-{i:00}-{Guid.NewGuid():N}"));
        }

        var listed = await WalkAsync(limit, async marker =>
        {
            var page = await kms.ListAliasesAsync(new ListAliasesRequest { Limit = limit, Marker = marker });
            return (page.Aliases, page.Truncated, page.NextMarker);
        });

        // AWS also lists its predefined alias/aws/* names; only our own aliases are compared.
        var names = listed.Select(a => a.AliasName).ToList();
        Assert.Equal(names.Count, names.Distinct().Count());
        Assert.Equal(created.Order(StringComparer.Ordinal), names.Where(n => n.StartsWith("alias/page-", StringComparison.Ordinal)).Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    public async Task ListAliases_with_a_KeyId_pages_through_that_keys_aliases_only(int limit)
    {
        using var kms = _host.CreateClient(accessKeyId: Accounts.NewAccountId());
        var key = await kms.NewKeyAsync();
        var other = await kms.NewKeyAsync();
        var created = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            created.Add(await kms.NewAliasAsync(key.KeyId));
            await kms.NewAliasAsync(other.KeyId);
        }

        var listed = await WalkAsync(limit, async marker =>
        {
            var page = await kms.ListAliasesAsync(new ListAliasesRequest { KeyId = key.Arn, Limit = limit, Marker = marker });
            return (page.Aliases, page.Truncated, page.NextMarker);
        });

        Assert.Equal(created.Order(StringComparer.Ordinal), listed.Select(a => a.AliasName).Order(StringComparer.Ordinal));
        Assert.All(listed, a => Assert.Equal(key.KeyId, a.TargetKeyId));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(23)]
    [InlineData(50)]
    public async Task ListResourceTags_pages_through_every_tag_exactly_once(int limit)
    {
        using var kms = _host.CreateClient(accessKeyId: Accounts.NewAccountId());
        var tags = Enumerable.Range(0, 23).Select(i => new Tag { TagKey = $"key-{i:00}", TagValue = $"value-{i}" }).ToList();
        var key = await kms.NewKeyAsync(tags: tags);

        var listed = await WalkAsync(limit, async marker =>
        {
            var page = await kms.ListResourceTagsAsync(new ListResourceTagsRequest { KeyId = key.KeyId, Limit = limit, Marker = marker });
            return (page.Tags, page.Truncated, page.NextMarker);
        });

        Assert.Equal(
            tags.Select(t => (t.TagKey, t.TagValue)).Order(),
            listed.Select(t => (t.TagKey, t.TagValue)).Order());
    }

    [Fact]
    public async Task A_marker_that_no_list_call_returned_is_rejected_with_InvalidMarkerException()
    {
        using var kms = _host.CreateClient(accessKeyId: Accounts.NewAccountId());
        var key = await kms.NewKeyAsync();

        await KmsAssert.ErrorAsync<InvalidMarkerException>(() => kms.ListKeysAsync(new ListKeysRequest { Marker = "not-a-marker" }));
        await KmsAssert.ErrorAsync<InvalidMarkerException>(() => kms.ListAliasesAsync(new ListAliasesRequest { Marker = "not-a-marker" }));
        await KmsAssert.ErrorAsync<InvalidMarkerException>(() => kms.ListResourceTagsAsync(new ListResourceTagsRequest { KeyId = key.KeyId, Marker = "not-a-marker" }));
    }
}
