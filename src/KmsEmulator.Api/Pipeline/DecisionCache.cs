using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Text;
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

    private readonly ConcurrentDictionary<(PolicyDocument KeyPolicy, IReadOnlyList<PolicyDocument> Identity), ConditionKeySet?> _referencedKeys = new();
    private readonly ConcurrentDictionary<(PolicyDocument KeyPolicy, IReadOnlyList<PolicyDocument> Identity, string Request), KmsAuthorizationResult> _decisions = new();

    /// <summary>
    /// The condition keys that the policies read, or null when decisions on them are not cached (they read the time or
    /// use policy variables), in which case every key must be supplied.
    /// </summary>
    public ConditionKeySet? ReferencedKeys(PolicyDocument keyPolicy, IReadOnlyList<PolicyDocument> identity)
    {
        if (_referencedKeys.Count > MaxEntries)
        {
            _referencedKeys.Clear();
        }

        return _referencedKeys.GetOrAdd((keyPolicy, identity), static k => ReferencedKeys([k.KeyPolicy, .. k.Identity]));
    }

    public KmsAuthorizationResult Decide(PolicyDocument keyPolicy, IReadOnlyList<PolicyDocument> identity, PolicyRequest request, string keyOwnerAccount) =>
        Decide(keyPolicy, identity, ReferencedKeys(keyPolicy, identity), request, keyOwnerAccount);

    /// <summary>Decides with the <paramref name="referenced"/> keys that <see cref="ReferencedKeys"/> returned for these policies.</summary>
    public KmsAuthorizationResult Decide(PolicyDocument keyPolicy, IReadOnlyList<PolicyDocument> identity, ConditionKeySet? referenced,
        PolicyRequest request, string keyOwnerAccount)
    {
        if (referenced is null)
        {
            return KmsAuthorization.Decide(keyPolicy, identity, request, keyOwnerAccount);
        }

        var fingerprint = Fingerprint(request, referenced);
        if (_decisions.TryGetValue((keyPolicy, identity, fingerprint), out var cached))
        {
            return cached;
        }

        if (_decisions.Count > MaxEntries)
        {
            _decisions.Clear();
        }

        var result = KmsAuthorization.Decide(keyPolicy, identity, request, keyOwnerAccount);
        _decisions[(keyPolicy, identity, fingerprint)] = result;
        return result;
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
    /// (whatever characters they contain) can produce another request's fingerprint.
    /// </summary>
    private static string Fingerprint(PolicyRequest request, ConditionKeySet referenced)
    {
        var builder = new StringBuilder(256);
        Append(builder, request.PrincipalArn);
        Append(builder, request.PrincipalType.ToString());
        Append(builder, request.Action);
        Append(builder, request.Resource);
        foreach (var key in referenced)
        {
            if (request.Keys.TryGetValues(key, out var values))
            {
                builder.Append(values.Count).Append('#');
                foreach (var value in values)
                {
                    Append(builder, value);
                }
            }
            else
            {
                builder.Append("-#");
            }
        }

        return builder.ToString();
    }

    private static void Append(StringBuilder builder, string value) => builder.Append(value.Length).Append(':').Append(value);
}

/// <summary>
/// The condition keys a set of policies reads: in order (case-insensitive) for fingerprints, and as a set (names
/// compared case-insensitively) for deciding which keys a request needs at all.
/// </summary>
public sealed class ConditionKeySet(string[] sortedNames) : IReadOnlyList<string>
{
    private readonly string[] _names = sortedNames;

    /// <summary>The names as a case-insensitive set.</summary>
    public IReadOnlySet<string> Set { get; } = sortedNames.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    public int Count => _names.Length;

    public string this[int index] => _names[index];

    public IEnumerator<string> GetEnumerator() => ((IEnumerable<string>)_names).GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
