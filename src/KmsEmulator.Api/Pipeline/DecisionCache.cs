using System.Collections.Concurrent;
using System.Collections.Frozen;
using KmsEmulator.Policy;

namespace KmsEmulator.Api.Pipeline;

/// <summary>
/// Caches policy decisions per (key policy, identity policies, caller, action, resource, values of the condition keys
/// those policies reference). Decisions that depend on time (aws:CurrentTime, aws:EpochTime) or on policy variables
/// are never cached. The cache is cleared when it grows past a bound.
/// </summary>
public sealed class DecisionCache
{
    private const int MaxEntries = 50_000;

    // Per pair of policies: the condition keys they read, and the decisions made under them (in ConditionKeySet).
    private ConcurrentDictionary<(PolicyDocument KeyPolicy, IReadOnlyList<PolicyDocument> Identity), ConditionKeySet?> _pairs = new();
    private int _entries;

    // The fingerprint of the request being decided, built here and looked up without allocating a string.
    [ThreadStatic]
    private static char[]? t_fingerprint;

    /// <summary>
    /// The condition keys that the policies read, or null when decisions on them are not cached (they read the time or
    /// use policy variables), in which case every key must be supplied.
    /// </summary>
    public ConditionKeySet? ReferencedKeys(PolicyDocument keyPolicy, IReadOnlyList<PolicyDocument> identity)
    {
        var pairs = _pairs;
        if (pairs.TryGetValue((keyPolicy, identity), out var known))
        {
            return known;
        }

        Count(pairs);
        return pairs.GetOrAdd((keyPolicy, identity), static k => ReferencedKeys([k.KeyPolicy, .. k.Identity]));
    }

    public KmsAuthorizationResult Decide(PolicyDocument keyPolicy, IReadOnlyList<PolicyDocument> identity, PolicyRequest request, string keyOwnerAccount, bool crossAccountAllowed) =>
        Decide(keyPolicy, identity, ReferencedKeys(keyPolicy, identity), request, keyOwnerAccount, crossAccountAllowed);

    /// <summary>
    /// Decides with the <paramref name="referenced"/> keys that <see cref="ReferencedKeys"/> returned for these same
    /// policies (the decisions are kept with them).
    /// </summary>
    public KmsAuthorizationResult Decide(PolicyDocument keyPolicy, IReadOnlyList<PolicyDocument> identity, ConditionKeySet? referenced,
        PolicyRequest request, string keyOwnerAccount, bool crossAccountAllowed)
    {
        if (referenced is null)
        {
            return KmsAuthorization.Decide(keyPolicy, identity, request, keyOwnerAccount, crossAccountAllowed);
        }

        var fingerprint = Fingerprint(request, crossAccountAllowed, referenced);
        var decisions = referenced.Decisions.GetAlternateLookup<ReadOnlySpan<char>>();
        if (decisions.TryGetValue(fingerprint, out var cached))
        {
            return cached;
        }

        var result = KmsAuthorization.Decide(keyPolicy, identity, request, keyOwnerAccount, crossAccountAllowed);
        if (referenced.Decisions.TryAdd(new string(fingerprint), result))
        {
            Count(_pairs);
        }

        return result;
    }

    /// <summary>Counts a new entry; past the bound, every pair and its decisions are dropped.</summary>
    private void Count(ConcurrentDictionary<(PolicyDocument, IReadOnlyList<PolicyDocument>), ConditionKeySet?> pairs)
    {
        if (Interlocked.Increment(ref _entries) > MaxEntries)
        {
            Interlocked.CompareExchange(ref _pairs, new(), pairs);
            Interlocked.Exchange(ref _entries, 0);
        }
    }

    /// <summary>The condition keys the policies read, or null when a decision may not be cached.</summary>
    private static ConditionKeySet? ReferencedKeys(IEnumerable<PolicyDocument> policies)
    {
        var keys = new SortedSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var statement in policies.SelectMany(p => p.Statements))
        {
            if ((statement.Resources ?? []).Any(r => r.Contains("${", StringComparison.Ordinal)))
            {
                return null;
            }

            foreach (var condition in statement.Conditions)
            {
                if (condition.Key.StartsWith("aws:CurrentTime", StringComparison.OrdinalIgnoreCase)
                    || condition.Key.StartsWith("aws:EpochTime", StringComparison.OrdinalIgnoreCase)
                    || condition.Values.Any(v => v.Contains("${", StringComparison.Ordinal)))
                {
                    return null;
                }

                keys.Add(condition.Key);
            }
        }

        return new ConditionKeySet([.. keys]);
    }

    /// <summary>
    /// An unambiguous text of everything the decision depends on: each part is length-prefixed, so no choice of values
    /// (whatever characters they contain) can produce another request's fingerprint. Valid until the next call on
    /// this thread.
    /// </summary>
    private static ReadOnlySpan<char> Fingerprint(PolicyRequest request, bool crossAccountAllowed, ConditionKeySet referenced)
    {
        var writer = new FingerprintWriter(t_fingerprint ??= new char[512]);
        writer.Append(crossAccountAllowed ? "cross-account" : "own-account");
        writer.Append(request.PrincipalArn);
        writer.Append(request.PrincipalType.ToString());
        writer.Append(request.Action);
        writer.Append(request.Resource);
        foreach (var key in referenced)
        {
            if (request.Keys.TryGetValues(key, out var values))
            {
                writer.Count(values.Count);
                foreach (var value in values)
                {
                    writer.Append(value);
                }
            }
            else
            {
                writer.Absent();
            }
        }

        t_fingerprint = writer.Buffer.Length <= 16_384 ? writer.Buffer : null;
        return writer.Written;
    }

    /// <summary>Writes length-prefixed parts into a char buffer, growing it as needed.</summary>
    private ref struct FingerprintWriter(char[] buffer)
    {
        private char[] _buffer = buffer;
        private int _length;

        public readonly char[] Buffer => _buffer;

        public readonly ReadOnlySpan<char> Written => _buffer.AsSpan(0, _length);

        public void Append(string value)
        {
            Count(value.Length, ':');
            Ensure(value.Length);
            value.CopyTo(_buffer.AsSpan(_length));
            _length += value.Length;
        }

        public void Count(int count) => Count(count, '#');

        public void Absent()
        {
            Ensure(2);
            _buffer[_length++] = '-';
            _buffer[_length++] = '#';
        }

        private void Count(int count, char separator)
        {
            Ensure(12);
            count.TryFormat(_buffer.AsSpan(_length), out var written, provider: System.Globalization.CultureInfo.InvariantCulture);
            _length += written;
            _buffer[_length++] = separator;
        }

        private void Ensure(int more)
        {
            if (_length + more > _buffer.Length)
            {
                Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + more));
            }
        }
    }
}

/// <summary>
/// The condition keys a set of policies reads: in order (case-insensitive) for fingerprints, and as a set (names
/// compared case-insensitively) for deciding which keys a request needs at all.
/// </summary>
public sealed class ConditionKeySet(string[] sortedNames) : IReadOnlyList<string>
{
    private readonly string[] _names = sortedNames;

    /// <summary>Decisions made under the policies these keys belong to, by request fingerprint.</summary>
    internal ConcurrentDictionary<string, KmsAuthorizationResult> Decisions { get; } = new(StringComparer.Ordinal);

    /// <summary>The names as a case-insensitive set.</summary>
    public IReadOnlySet<string> Set { get; } = sortedNames.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    public int Count => _names.Length;

    public string this[int index] => _names[index];

    public IEnumerator<string> GetEnumerator() => ((IEnumerable<string>)_names).GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
