using System.Collections;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace KmsEmulator.Policy;

/// <summary>
/// The condition keys of a request: an immutable, case-insensitive map from key name (<c>kms:CallerAccount</c>,
/// <c>kms:EncryptionContext:Department</c>, <c>aws:TagKeys</c>, ...) to one or more string values. A key that is
/// present with an empty list counts as absent for plain operators, <c>...IfExists</c> and <c>Null</c>, and as an
/// empty set for <c>ForAllValues:</c> / <c>ForAnyValue:</c>. Equality is structural (key names case-insensitive,
/// values ordinal and in order), so a request can serve as a cache key.
/// </summary>
public sealed class ContextKeys : IEquatable<ContextKeys>, IEnumerable<KeyValuePair<string, IReadOnlyList<string>>>
{
    private readonly Dictionary<string, string[]> _map;

    private ContextKeys(Dictionary<string, string[]> map) => _map = map;

    /// <summary>No condition keys.</summary>
    public static ContextKeys Empty { get; } = new(new Dictionary<string, string[]>(StringComparer.OrdinalIgnoreCase));

    /// <summary>Number of distinct key names.</summary>
    public int Count => _map.Count;

    /// <summary>Starts an empty builder.</summary>
    public static Builder CreateBuilder() => new(null);

    /// <summary>
    /// Starts an empty builder that keeps only the keys named in <paramref name="only"/> (a set that compares names
    /// case-insensitively) and drops every other key it is given: for requests evaluated against policies known to
    /// read nothing else.
    /// </summary>
    public static Builder CreateBuilder(IReadOnlySet<string> only)
    {
        ArgumentNullException.ThrowIfNull(only);
        return new(only);
    }

    /// <summary>Single-valued keys from pairs; a repeated name (in any case) adds a value to that key.</summary>
    public static ContextKeys From(IEnumerable<KeyValuePair<string, string>> pairs)
    {
        var builder = new Builder(null);
        foreach (var (key, value) in pairs)
        {
            builder.Add(key, value);
        }

        return builder.Build();
    }

    /// <summary>True when the key is present (even with an empty value list).</summary>
    public bool Contains(string key) => _map.ContainsKey(key);

    /// <summary>The values of a key, looked up case-insensitively.</summary>
    public bool TryGetValues(string key, [NotNullWhen(true)] out IReadOnlyList<string>? values)
    {
        if (_map.TryGetValue(key, out var found))
        {
            values = found;
            return true;
        }

        values = null;
        return false;
    }

    internal string[]? Find(string key) => _map.GetValueOrDefault(key);

    /// <inheritdoc />
    public IEnumerator<KeyValuePair<string, IReadOnlyList<string>>> GetEnumerator() =>
        _map.Select(pair => new KeyValuePair<string, IReadOnlyList<string>>(pair.Key, pair.Value)).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <inheritdoc />
    public bool Equals(ContextKeys? other)
    {
        if (ReferenceEquals(this, other))
        {
            return true;
        }

        if (other is null || other._map.Count != _map.Count)
        {
            return false;
        }

        foreach (var (key, values) in _map)
        {
            if (!other._map.TryGetValue(key, out var theirs) || !values.AsSpan().SequenceEqual(theirs))
            {
                return false;
            }
        }

        return true;
    }

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as ContextKeys);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var hash = 0;
        foreach (var (key, values) in _map)
        {
            var entry = new HashCode();
            entry.Add(key, StringComparer.OrdinalIgnoreCase);
            foreach (var value in values)
            {
                entry.Add(value, StringComparer.Ordinal);
            }

            hash ^= entry.ToHashCode();
        }

        return hash;
    }

    /// <summary>Collects condition keys; <see cref="Build"/> snapshots them.</summary>
    public sealed class Builder
    {
        private readonly Dictionary<string, List<string>> _values = new(StringComparer.OrdinalIgnoreCase);
        private readonly IReadOnlySet<string>? _only;

        internal Builder(IReadOnlySet<string>? only) => _only = only;

        /// <summary>Adds one value; adding to an existing key (in any case) makes it multi-valued.</summary>
        public Builder Add(string key, string value)
        {
            ArgumentException.ThrowIfNullOrEmpty(key);
            ArgumentNullException.ThrowIfNull(value);
            if (Keeps(key))
            {
                Slot(key).Add(value);
            }

            return this;
        }

        /// <summary>Adds values to a multi-valued key; an empty sequence still makes the key present (empty set).</summary>
        public Builder AddValues(string key, IEnumerable<string> values)
        {
            ArgumentException.ThrowIfNullOrEmpty(key);
            ArgumentNullException.ThrowIfNull(values);
            if (Keeps(key))
            {
                Slot(key).AddRange(values);
            }

            return this;
        }

        /// <summary>False for a key this builder was told to drop.</summary>
        public bool Keeps(string key) => _only is null || _only.Contains(key);

        /// <summary>
        /// Adds <c>kms:EncryptionContext:&lt;key&gt;</c> for every pair and <c>kms:EncryptionContextKeys</c> with all
        /// context keys. Adds nothing for a null or empty context (AWS leaves both keys absent then).
        /// </summary>
        public Builder AddEncryptionContext(IEnumerable<KeyValuePair<string, string>>? context)
        {
            if (context is null)
            {
                return this;
            }

            var keepKeys = Keeps("kms:EncryptionContextKeys");
            foreach (var (key, value) in context)
            {
                Add("kms:EncryptionContext:" + key, value);
                if (keepKeys)
                {
                    Add("kms:EncryptionContextKeys", key);
                }
            }

            return this;
        }

        /// <summary>Adds <c>aws:CurrentTime</c> (ISO-8601, UTC) and <c>aws:EpochTime</c> (seconds).</summary>
        public Builder AddCurrentTime(DateTimeOffset now)
        {
            Add("aws:CurrentTime", now.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
            Add("aws:EpochTime", now.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture));
            return this;
        }

        /// <summary>Snapshots the keys added so far.</summary>
        public ContextKeys Build()
        {
            if (_values.Count == 0)
            {
                return Empty;
            }

            var map = new Dictionary<string, string[]>(_values.Count, StringComparer.OrdinalIgnoreCase);
            foreach (var (key, values) in _values)
            {
                map[key] = [.. values];
            }

            return new ContextKeys(map);
        }

        private List<string> Slot(string key)
        {
            if (!_values.TryGetValue(key, out var list))
            {
                list = [];
                _values[key] = list;
            }

            return list;
        }
    }
}
