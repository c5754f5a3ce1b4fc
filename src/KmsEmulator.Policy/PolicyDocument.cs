using System.Diagnostics.CodeAnalysis;
using KmsEmulator.Policy.Internal;

namespace KmsEmulator.Policy;

/// <summary>
/// A parsed, immutable and thread-safe IAM policy (key policy or identity policy). Parse once per policy text and
/// cache the instance; <see cref="Evaluate"/> uses matchers compiled at parse time and does not allocate for
/// ordinary policies.
/// </summary>
public sealed class PolicyDocument
{
    /// <summary>The version that enables policy variables.</summary>
    public const string Version20121017 = "2012-10-17";

    /// <summary>The legacy version (also the meaning of an absent Version): <c>${...}</c> is literal text.</summary>
    public const string Version20081017 = "2008-10-17";

    internal PolicyDocument(string? version, string? id, IReadOnlyList<PolicyStatement> statements)
    {
        Version = version;
        Id = id;
        Statements = statements;
    }

    /// <summary>The Version element, or null when absent.</summary>
    public string? Version { get; }

    /// <summary>The Id element, or null when absent.</summary>
    public string? Id { get; }

    /// <summary>The statements in document order.</summary>
    public IReadOnlyList<PolicyStatement> Statements { get; }

    /// <summary>Parses a policy.</summary>
    /// <exception cref="PolicyParseException">The text is not a policy; <see cref="PolicyParseException.Reason"/> says why.</exception>
    public static PolicyDocument Parse(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        return PolicyParser.Parse(json, out var error) ?? throw new PolicyParseException(error!);
    }

    /// <summary>Parses a policy; on failure <paramref name="error"/> is a reason fit for <c>MalformedPolicyDocumentException</c>.</summary>
    public static bool TryParse(string json, [NotNullWhen(true)] out PolicyDocument? document, [NotNullWhen(false)] out string? error)
    {
        ArgumentNullException.ThrowIfNull(json);
        document = PolicyParser.Parse(json, out error);
        return document is not null;
    }

    /// <summary>Evaluates the policy for one request.</summary>
    /// <param name="request">The request.</param>
    /// <param name="type"><see cref="PolicyType.Resource"/> for a key policy (Principal evaluated), <see cref="PolicyType.Identity"/> for an IAM policy.</param>
    public PolicyEvaluation Evaluate(PolicyRequest request, PolicyType type)
    {
        ArgumentNullException.ThrowIfNull(request);
        PolicyStatement? deny = null;
        PolicyStatement? direct = null;
        PolicyStatement? throughAccount = null;
        var statements = Statements;
        for (var i = 0; i < statements.Count; i++)
        {
            var statement = statements[i];
            if (statement.Effect == PolicyEffect.Deny ? deny is not null : direct is not null)
            {
                continue;
            }

            var match = statement.Match(request, type);
            if (match == PrincipalMatch.None)
            {
                continue;
            }

            if (statement.Effect == PolicyEffect.Deny)
            {
                deny = statement;
            }
            else if (match == PrincipalMatch.Direct)
            {
                direct = statement;
            }
            else
            {
                throughAccount ??= statement;
            }
        }

        return new PolicyEvaluation(deny, direct ?? throughAccount, direct is null && throughAccount is not null);
    }

    /// <summary>Every statement (Allow and Deny) that matches the request, in document order; for diagnostics.</summary>
    public IReadOnlyList<PolicyStatement> MatchingStatements(PolicyRequest request, PolicyType type)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Statements.Where(s => s.Match(request, type) != PrincipalMatch.None).ToArray();
    }
}

/// <summary>A policy text that is not a valid policy; the message is the reason.</summary>
public sealed class PolicyParseException : FormatException
{
    /// <summary>Creates the exception with the reason the policy is malformed.</summary>
    public PolicyParseException(string reason)
        : base(reason)
    {
    }

    /// <summary>The reason, fit for a <c>MalformedPolicyDocumentException</c> message.</summary>
    public string Reason => Message;
}
