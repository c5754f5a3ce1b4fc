using System.Text;
using KmsEmulator.Api.Keys;

namespace KmsEmulator.Api.Operations;

/// <summary>
/// Limit/Marker paging as KMS list operations do it. The marker is opaque to callers: base64 of the sort key
/// of the last item returned, so paging stays stable while items are added or removed.
/// </summary>
public static class Paging
{
    public sealed record Page<T>(List<T> Items, string? NextMarker)
    {
        public bool Truncated => NextMarker is not null;
    }

    /// <summary>One page of <paramref name="ordered"/> (sorted ordinally by <paramref name="sortKey"/>).</summary>
    public static Page<T> Take<T>(IReadOnlyList<T> ordered, Func<T, string> sortKey, string? marker, int? limit, int defaultLimit, int maxLimit)
    {
        var start = 0;
        if (marker is not null)
        {
            var after = Decode(marker);
            while (start < ordered.Count && string.CompareOrdinal(sortKey(ordered[start]), after) <= 0)
            {
                start++;
            }
        }

        var size = Math.Min(limit ?? defaultLimit, maxLimit);
        var items = ordered.Skip(start).Take(size).ToList();
        var more = start + items.Count < ordered.Count;
        return new Page<T>(items, more ? Encode(sortKey(items[^1])) : null);
    }

    /// <summary>One page of a list kept in insertion order; the marker is the position to continue from.</summary>
    public static Page<T> TakeByPosition<T>(IReadOnlyList<T> items, string? marker, int? limit, int defaultLimit, int maxLimit)
    {
        var start = 0;
        if (marker is not null && (!int.TryParse(Decode(marker), out start) || start < 0))
        {
            throw KmsErrors.InvalidMarker();
        }

        var size = Math.Min(limit ?? defaultLimit, maxLimit);
        var page = items.Skip(start).Take(size).ToList();
        var next = start + page.Count;
        return new Page<T>(page, next < items.Count ? Encode(next.ToString(System.Globalization.CultureInfo.InvariantCulture)) : null);
    }

    private static string Encode(string sortKey) => Convert.ToBase64String(Encoding.UTF8.GetBytes("kmsemu:" + sortKey));

    private static string Decode(string marker)
    {
        try
        {
            var text = Encoding.UTF8.GetString(Convert.FromBase64String(marker));
            return text.StartsWith("kmsemu:", StringComparison.Ordinal) ? text["kmsemu:".Length..] : throw KmsErrors.InvalidMarker();
        }
        catch (FormatException)
        {
            throw KmsErrors.InvalidMarker();
        }
    }
}
