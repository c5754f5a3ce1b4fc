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
        table.Add(KmsOperation.TagResource, new OperationRow<TagResourceRequest, EmptyResponse>
        {
            Handler = async c =>
            {
                await tags.TagAsync(c.Key(KeyId), ToDomain(c.Request.Tags), c.CancellationToken);
                return new EmptyResponse();
            },
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, Forms = KeyIdentifierForms.KeyIdOrArn, StateRule = KeyStateRule.Management }],
            CrossAccount = false,
            ConditionKeys = (r, _, keys) => keys.AddRequestTags(r.Tags),
            Audit = new() { ReadOnly = false, Request = r => AuditJson.Fields(("keyId", r.KeyId), ("tags", AuditTags(r.Tags))) },
        });
        table.Add(KmsOperation.UntagResource, new OperationRow<UntagResourceRequest, EmptyResponse>
        {
            Handler = async c =>
            {
                await tags.UntagAsync(c.Key(KeyId), c.Request.TagKeys ?? [], c.CancellationToken);
                return new EmptyResponse();
            },
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, Forms = KeyIdentifierForms.KeyIdOrArn, StateRule = KeyStateRule.Management }],
            CrossAccount = false,
            ConditionKeys = (r, _, keys) => keys.AddValues("aws:TagKeys", r.TagKeys ?? []),
            Audit = new() { ReadOnly = false, Request = r => AuditJson.Fields(("keyId", r.KeyId), ("tagKeys", r.TagKeys)) },
        });
        table.Add(KmsOperation.ListResourceTags, new OperationRow<ListResourceTagsRequest, ListResourceTagsResponse>
        {
            Handler = c =>
            {
                var page = Paging.TakeByPosition(c.Key(KeyId).Tags, c.Request.Marker, c.Request.Limit, defaultLimit: 50, maxLimit: 50);
                return ValueTask.FromResult(new ListResourceTagsResponse
                {
                    Tags = page.Items.Select(t => new Tag { TagKey = t.Key, TagValue = t.Value }).ToList(),
                    NextMarker = page.NextMarker,
                    Truncated = page.Truncated,
                });
            },
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, Forms = KeyIdentifierForms.KeyIdOrArn }],
            CrossAccount = false,
            Audit = new() { ReadOnly = true, Request = r => AuditJson.Fields(("keyId", r.KeyId), ("limit", r.Limit), ("marker", r.Marker)) },
        });
    }

    /// <summary>Tags as CloudTrail lists them: <c>[{"tagKey":..,"tagValue":..}]</c>.</summary>
    internal static System.Text.Json.Nodes.JsonArray? AuditTags(List<Tag>? tags) => tags is null
        ? null
        : [.. tags.Select(t => t is null ? null : (System.Text.Json.Nodes.JsonNode?)AuditJson.Fields(("tagKey", t.TagKey), ("tagValue", t.TagValue)))];

    /// <summary>Wire tags to domain tags (shape validation has already ensured key and value are present).</summary>
    public static IReadOnlyList<KeyTag> ToDomain(List<Tag>? tags) =>
        tags?.Select(t => new KeyTag(t.TagKey!, t.TagValue!)).ToList() ?? [];
}
