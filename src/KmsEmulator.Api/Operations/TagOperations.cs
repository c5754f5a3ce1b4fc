using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Pipeline;

namespace KmsEmulator.Api.Operations;

/// <summary>TagResource, UntagResource, ListResourceTags.</summary>
public sealed class TagOperations(TagService tags) : IOperationGroup
{
    private const string KeyId = nameof(TagResourceRequest.KeyId);

    public void Register(OperationTable.Builder table)
    {
        table.Add<TagResourceRequest, EmptyResponse>(
            KmsOperation.TagResource,
            async c =>
            {
                await tags.TagAsync(c.Key(KeyId), ToDomain(c.Request.Tags), c.CancellationToken);
                return new EmptyResponse();
            },
            [new() { Member = KeyId, Identifier = r => r.KeyId, Forms = KeyIdentifierForms.KeyIdOrArn, StateRule = KeyStateRule.Management }]);
        table.Add<UntagResourceRequest, EmptyResponse>(
            KmsOperation.UntagResource,
            async c =>
            {
                await tags.UntagAsync(c.Key(KeyId), c.Request.TagKeys ?? [], c.CancellationToken);
                return new EmptyResponse();
            },
            [new() { Member = KeyId, Identifier = r => r.KeyId, Forms = KeyIdentifierForms.KeyIdOrArn, StateRule = KeyStateRule.Management }]);
        table.Add<ListResourceTagsRequest, ListResourceTagsResponse>(
            KmsOperation.ListResourceTags,
            c =>
            {
                var page = Paging.TakeByPosition(c.Key(KeyId).Tags, c.Request.Marker, c.Request.Limit, defaultLimit: 50, maxLimit: 50);
                return ValueTask.FromResult(new ListResourceTagsResponse
                {
                    Tags = page.Items.Select(t => new Tag { TagKey = t.Key, TagValue = t.Value }).ToList(),
                    NextMarker = page.NextMarker,
                    Truncated = page.Truncated,
                });
            },
            [new() { Member = KeyId, Identifier = r => r.KeyId, Forms = KeyIdentifierForms.KeyIdOrArn }]);
    }

    /// <summary>Wire tags to domain tags (shape validation has already ensured key and value are present).</summary>
    public static IReadOnlyList<KeyTag> ToDomain(List<Tag>? tags) =>
        tags?.Select(t => new KeyTag(t.TagKey!, t.TagValue!)).ToList() ?? [];
}
