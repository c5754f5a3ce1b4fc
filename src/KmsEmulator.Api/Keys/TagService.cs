namespace KmsEmulator.Api.Keys;

/// <summary>Tags on keys: add or replace, remove, and the rules every tag set obeys (CreateKey's tags too).</summary>
public sealed class TagService(KeyWriter writer)
{
    public const int MaxTagsPerKey = 50;

    public Task<KeyRecord> TagAsync(KeyRecord key, IReadOnlyList<KeyTag> tags, CancellationToken cancellationToken) =>
        writer.UpdateKeyAsync(
            key,
            KeyStateRule.Management,
            k =>
            {
                ValidateTags(tags, k.Tags);
                var merged = k.Tags.ToList();
                foreach (var tag in tags)
                {
                    var index = merged.FindIndex(t => t.Key == tag.Key);
                    if (index >= 0)
                    {
                        merged[index] = tag;
                    }
                    else
                    {
                        merged.Add(tag);
                    }
                }

                return k with { Tags = [.. merged] };
            },
            cancellationToken);

    public Task<KeyRecord> UntagAsync(KeyRecord key, IReadOnlyCollection<string> tagKeys, CancellationToken cancellationToken)
    {
        if (tagKeys.Any(IsReservedTagKey))
        {
            throw KmsErrors.ReservedTagKey();
        }

        return writer.UpdateKeyAsync(key, KeyStateRule.Management, k => k with { Tags = [.. k.Tags.Where(t => !tagKeys.Contains(t.Key))] }, cancellationToken);
    }

    /// <summary>TagException unless <paramref name="tags"/> may be added to <paramref name="existing"/>.</summary>
    public static void ValidateTags(IReadOnlyList<KeyTag> tags, IReadOnlyList<KeyTag> existing)
    {
        if (tags.Any(t => IsReservedTagKey(t.Key)))
        {
            throw KmsErrors.ReservedTagKey();
        }

        if (tags.Select(t => t.Key).Distinct(StringComparer.Ordinal).Count() != tags.Count)
        {
            throw KmsErrors.DuplicateTagKeys();
        }

        var total = existing.Select(t => t.Key).Union(tags.Select(t => t.Key), StringComparer.Ordinal).Count();
        if (total > MaxTagsPerKey)
        {
            throw KmsErrors.TooManyTags();
        }
    }

    private static bool IsReservedTagKey(string key) => key.StartsWith("aws:", StringComparison.OrdinalIgnoreCase);
}
