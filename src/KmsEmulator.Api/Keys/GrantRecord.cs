using System.Collections.Immutable;
using KmsEmulator.Api.Generated;

namespace KmsEmulator.Api.Keys;

/// <summary>
/// One grant on a KMS key. Immutable; it lives in <see cref="KeyRecord.Grants"/> of its key and goes away with the key.
/// Grant tokens are not part of the record: each CreateGrant call issues a fresh one (<see cref="GrantToken"/>).
/// </summary>
public sealed record GrantRecord
{
    /// <summary>64 lowercase hex digits, unique across every key.</summary>
    public required string GrantId { get; init; }

    /// <summary>The friendly name given to CreateGrant, or null.</summary>
    public string? Name { get; init; }

    /// <summary>The principal ARN that the grant allows (null for a grant to a service principal).</summary>
    public string? GranteePrincipal { get; init; }

    public string? GranteeServicePrincipal { get; init; }

    public string? RetiringPrincipal { get; init; }

    public string? RetiringServicePrincipal { get; init; }

    /// <summary>The allowed operations, in the order given, without duplicates.</summary>
    public required ImmutableArray<GrantOperation> Operations { get; init; }

    /// <summary>The encryption context constraint (symmetric encryption keys only), or null.</summary>
    public GrantConstraint? Constraint { get; init; }

    /// <summary>The SourceArn constraint of a grant to a service principal, or null.</summary>
    public string? SourceArn { get; init; }

    /// <summary>The 12-digit account whose principal created the grant.</summary>
    public required string IssuingAccount { get; init; }

    public required DateTimeOffset CreationDate { get; init; }

    public bool Allows(GrantOperation operation) => Operations.Contains(operation);

    /// <summary>
    /// True when a CreateGrant request asks for exactly this grant (same name and parameters), which AWS treats as a
    /// retry: it returns the existing grant instead of creating another.
    /// </summary>
    public bool IsSameGrant(NewGrant request, string issuingAccount) =>
        Name is not null
        && Name == request.Name
        && GranteePrincipal == request.GranteePrincipal
        && GranteeServicePrincipal == request.GranteeServicePrincipal
        && RetiringPrincipal == request.RetiringPrincipal
        && RetiringServicePrincipal == request.RetiringServicePrincipal
        && SourceArn == request.SourceArn
        && IssuingAccount == issuingAccount
        && Operations.ToHashSet().SetEquals(request.Operations)
        && GrantConstraint.SameAs(Constraint, request.Constraint);
}

/// <summary>What CreateGrant asks for, already read from the wire request.</summary>
public sealed record NewGrant
{
    public string? Name { get; init; }

    public string? GranteePrincipal { get; init; }

    public string? GranteeServicePrincipal { get; init; }

    public string? RetiringPrincipal { get; init; }

    public string? RetiringServicePrincipal { get; init; }

    /// <summary>Operations in request order, duplicates removed.</summary>
    public required ImmutableArray<GrantOperation> Operations { get; init; }

    public GrantConstraint? Constraint { get; init; }

    public string? SourceArn { get; init; }
}

/// <summary>Which encryption context constraint a grant has.</summary>
public enum GrantConstraintKind
{
    /// <summary>The request's encryption context must be exactly these pairs.</summary>
    EncryptionContextEquals,

    /// <summary>The request's encryption context must include these pairs; other pairs are allowed.</summary>
    EncryptionContextSubset,
}

/// <summary>
/// An encryption context grant constraint. As AWS documents, keys match case-insensitively and values
/// case-sensitively; the order of pairs never matters.
/// </summary>
public sealed record GrantConstraint(GrantConstraintKind Kind, ImmutableSortedDictionary<string, string> Pairs)
{
    public const int MaxPairs = 8;
    public const int MaxValueLength = 384;

    public static GrantConstraint Of(GrantConstraintKind kind, IEnumerable<KeyValuePair<string, string>> pairs) =>
        new(kind, ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, pairs));

    /// <summary>Whether a request with <paramref name="context"/> (null: none) satisfies the constraint.</summary>
    public bool IsSatisfiedBy(IReadOnlyDictionary<string, string>? context)
    {
        context ??= ImmutableDictionary<string, string>.Empty;
        if (!ContainsAll(context, Pairs))
        {
            return false;
        }

        // Equals: nothing beyond the constraint's pairs.
        return Kind == GrantConstraintKind.EncryptionContextSubset || context.All(pair => Find(Pairs, pair.Key) == pair.Value);
    }

    /// <summary>
    /// Whether a grant constrained by <paramref name="child"/> allows no request that a grant constrained by
    /// <paramref name="parent"/> would refuse: the rule for grants created through a grant's CreateGrant permission.
    /// </summary>
    public static bool IsAtLeastAsStrict(GrantConstraint? child, GrantConstraint? parent) => parent switch
    {
        null => true,
        _ when child is null => false,
        { Kind: GrantConstraintKind.EncryptionContextEquals } =>
            child.Kind == GrantConstraintKind.EncryptionContextEquals && SamePairs(child.Pairs, parent.Pairs),
        _ => ContainsAll(child.Pairs, parent.Pairs),
    };

    /// <summary>Equality for idempotent CreateGrant: same kind and same pairs (keys compared as constraints compare them).</summary>
    public static bool SameAs(GrantConstraint? a, GrantConstraint? b) =>
        a is null || b is null ? a is null && b is null : a.Kind == b.Kind && SamePairs(a.Pairs, b.Pairs);

    private static bool SamePairs(IReadOnlyDictionary<string, string> a, IReadOnlyDictionary<string, string> b) =>
        a.Count == b.Count && ContainsAll(a, b) && ContainsAll(b, a);

    /// <summary>Every pair of <paramref name="required"/> is in <paramref name="context"/> (key ignoring case, value exactly).</summary>
    private static bool ContainsAll(IReadOnlyDictionary<string, string> context, IReadOnlyDictionary<string, string> required)
    {
        foreach (var (key, value) in required)
        {
            if (!HasPair(context, key, value))
            {
                return false;
            }
        }

        return true;
    }

    private static bool HasPair(IReadOnlyDictionary<string, string> context, string key, string value)
    {
        if (context.TryGetValue(key, out var exact) && exact == value)
        {
            return true;
        }

        foreach (var (candidate, candidateValue) in context)
        {
            if (string.Equals(candidate, key, StringComparison.OrdinalIgnoreCase) && candidateValue == value)
            {
                return true;
            }
        }

        return false;
    }

    private static string? Find(IReadOnlyDictionary<string, string> pairs, string key)
    {
        if (pairs.TryGetValue(key, out var exact))
        {
            return exact;
        }

        foreach (var (candidate, value) in pairs)
        {
            if (string.Equals(candidate, key, StringComparison.OrdinalIgnoreCase))
            {
                return value;
            }
        }

        return null;
    }
}
