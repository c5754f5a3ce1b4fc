using System.Text.Json.Nodes;

namespace KmsEmulator.Api.Pipeline;

/// <summary>
/// What the pipeline learns of one request for its audit record, filled as the steps run: what the row's audit
/// projection keeps of the request and the response, and the resources (keys, aliases) the request named. A request
/// that fails part-way leaves what was known by then, as CloudTrail records failed calls with the parameters it read.
/// </summary>
public sealed class AuditFacts
{
    private List<AuditResource>? _resources;

    /// <summary>CloudTrail's <c>readOnly</c>.</summary>
    public bool ReadOnly { get; set; }

    /// <summary>CloudTrail's <c>requestParameters</c>: set once the body has been read as the operation's request.</summary>
    public JsonObject? RequestParameters { get; set; }

    /// <summary>CloudTrail's <c>responseElements</c>: set when the handler succeeded.</summary>
    public JsonObject? ResponseElements { get; set; }

    /// <summary>The keys (and alias ARNs) the request named, in the order bound; each once.</summary>
    public IReadOnlyList<AuditResource> Resources => _resources ?? (IReadOnlyList<AuditResource>)[];

    /// <summary>
    /// The ARNs of the keys a successful cryptographic operation used (GetKeyLastUsage counts them): set with the response.
    /// </summary>
    public IReadOnlyList<string> UsedKeyArns { get; set; } = [];

    public void AddResource(string accountId, string arn)
    {
        _resources ??= new List<AuditResource>(2);
        if (!_resources.Exists(r => r.Arn == arn))
        {
            _resources.Add(new AuditResource(accountId, arn));
        }
    }
}

/// <summary>A resource of an audit record: CloudTrail's <c>{"accountId", "type": "AWS::KMS::Key", "ARN"}</c>.</summary>
public readonly record struct AuditResource(string AccountId, string Arn);
