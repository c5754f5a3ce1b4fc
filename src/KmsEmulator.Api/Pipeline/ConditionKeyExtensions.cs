using KmsEmulator.Api.Generated;
using KmsEmulator.Policy;

namespace KmsEmulator.Api.Pipeline;

/// <summary>Helpers for the condition keys that operation rows add from their requests.</summary>
public static class ConditionKeyExtensions
{
    /// <summary>Adds the key when the request has the member.</summary>
    public static ContextKeys.Builder AddIfPresent(this ContextKeys.Builder keys, string key, string? value) =>
        value is null ? keys : keys.Add(key, value);

    /// <summary>A boolean member as the policy language compares it.</summary>
    public static ContextKeys.Builder AddFlag(this ContextKeys.Builder keys, string key, bool? value) =>
        keys.Add(key, value == true ? "true" : "false");

    /// <summary><c>aws:RequestTag/&lt;key&gt;</c> for each tag and <c>aws:TagKeys</c> for all of them.</summary>
    public static ContextKeys.Builder AddRequestTags(this ContextKeys.Builder keys, List<Tag>? tags)
    {
        if (tags is null)
        {
            return keys;
        }

        foreach (var tag in tags)
        {
            if (tag.TagKey is { } name)
            {
                keys.Add("aws:RequestTag/" + name, tag.TagValue ?? string.Empty);
            }
        }

        return keys.AddValues("aws:TagKeys", tags.Select(t => t.TagKey).OfType<string>());
    }
}
