using System.Text.Json.Nodes;
using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Policy;

namespace KmsEmulator.Api.Pipeline;

/// <summary>
/// Everything about one operation, in one place: what it does (<see cref="Handler"/>), which keys it names and what they
/// must satisfy, what authorization needs to know of the request (condition keys, encryption context, cross-account
/// use), what a dry run proves, and what the audit trail records. The pipeline (<see cref="Operation{TRequest,TResponse}"/>)
/// runs every step from these facts; a handler never repeats one. The facts every row must state are
/// <c>required</c>; <c>OperationTableTests</c> fails when a built row leaves out a fact its request shape calls for
/// (an encryption context accessor when the request has an encryption context, a DryRun accessor when it has DryRun,
/// condition keys when it has a member that AWS turns into one).
/// </summary>
public sealed record OperationRow<TRequest, TResponse>
    where TRequest : class
    where TResponse : class
{
    /// <summary>The operation itself: reads the validated request and the bound keys, calls the domain, shapes the response.</summary>
    public required Func<OperationContext<TRequest>, ValueTask<TResponse>> Handler { get; init; }

    /// <summary>One binding per key the request names (empty for operations on no key: CreateKey, ListKeys, ...).</summary>
    public required IReadOnlyList<KeyBinding<TRequest>> Keys { get; init; }

    /// <summary>
    /// Whether a principal of another account can be allowed this operation on a key (the API reference's
    /// "Cross-account use"). When false, callers from another account are denied whatever the policies say.
    /// </summary>
    public required bool CrossAccount { get; init; }

    /// <summary>What the audit trail records of the request and the response, and whether the operation is read-only.</summary>
    public required AuditProjection<TRequest, TResponse> Audit { get; init; }

    /// <summary>The key usage every bound key must have (ENCRYPT_DECRYPT for Encrypt, ...), or null.</summary>
    public KeyUsageType? RequiredUsage { get; init; }

    /// <summary>
    /// The encryption context of the request for the key used with the given IAM action (ReEncrypt has one per key):
    /// the <c>kms:EncryptionContext:</c> condition keys and grant constraints are checked against it.
    /// </summary>
    public Func<TRequest, string, IReadOnlyDictionary<string, string>?>? EncryptionContext { get; init; }

    /// <summary>
    /// The condition keys the request itself supplies besides its encryption context (kms:EncryptionAlgorithm,
    /// kms:SigningAlgorithm, aws:RequestTag/*, kms:GrantOperations, ...), for the key used with the given IAM action.
    /// Keys that describe the caller or the key are added by the authorizer.
    /// </summary>
    public Action<TRequest, string, ContextKeys.Builder>? ConditionKeys { get; init; }

    /// <summary>Reads the request's DryRun flag, for the operations that take one.</summary>
    public Func<TRequest, bool?>? DryRun { get; init; }

    /// <summary>
    /// What a dry run must still prove besides authorization and the checks, e.g. that Decrypt's ciphertext really
    /// decrypts (the model: a dry run validates the ciphertext unless DryRunModifiers has IGNORE_CIPHERTEXT). Runs only
    /// for DryRun requests; any result is discarded.
    /// </summary>
    public Func<OperationContext<TRequest>, ValueTask>? DryRunValidation { get; init; }

    /// <summary>
    /// The operation's semantic checks on the bound keys (algorithm against key spec, message type, sizes), run after
    /// authorization and before DryRun, so that DryRun answers DryRunOperationException only for a request that would succeed.
    /// </summary>
    public Action<OperationContext<TRequest>>? Check { get; init; }

    /// <summary>
    /// For alias operations: the alias the request acts on. Besides the bound keys, the caller's identity policies must
    /// allow the action on the alias ARN (AWS checks alias permissions in IAM only).
    /// </summary>
    public Func<TRequest, string?>? Alias { get; init; }
}

/// <summary>
/// What CloudTrail records of an operation: <c>requestParameters</c> (request members under lowerCamelCase names;
/// plaintext, ciphertext, keys and other secrets never) and <c>responseElements</c> (null for cryptographic, read-only
/// and most void operations), and <c>readOnly</c>.
/// </summary>
public sealed record AuditProjection<TRequest, TResponse>
{
    /// <summary>CloudTrail's <c>readOnly</c>: true for cryptographic operations and Describe/List/Get.</summary>
    public required bool ReadOnly { get; init; }

    /// <summary>The request's <c>requestParameters</c>, or null when AWS logs none.</summary>
    public required Func<TRequest, JsonObject?> Request { get; init; }

    /// <summary>The response's <c>responseElements</c>, or null (the default) when AWS logs none.</summary>
    public Func<TResponse, JsonObject?> Response { get; init; } = static _ => null;

    /// <summary>
    /// The ARN of a key the response names that the request could not (CreateKey's new key), for the record's
    /// <c>resources</c>; null by default.
    /// </summary>
    public Func<TResponse, string?>? ResponseKeyArn { get; init; }
}

/// <summary>Builds audit projections' JSON objects: members in the order given, null members left out.</summary>
public static class AuditJson
{
    /// <summary>An object of the non-null members; null when every member is null.</summary>
    public static JsonObject? Fields(params (string Name, object? Value)[] members)
    {
        JsonObject? fields = null;
        foreach (var (name, value) in members)
        {
            if (ToNode(value) is { } node)
            {
                (fields ??= [])[name] = node;
            }
        }

        return fields;
    }

    /// <summary>
    /// A wire shape as CloudTrail shows it (CreateKey's keyMetadata, ...): its JSON with member names in lowerCamelCase.
    /// </summary>
    public static JsonObject? Wire<T>(T? value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) =>
        value is null ? null : CamelCase(System.Text.Json.JsonSerializer.SerializeToNode(value, type)) as JsonObject;

    /// <summary>
    /// CloudTrail shows dates inside requestParameters and responseElements as KMS's Java service renders them, e.g.
    /// <c>Aug 10, 2022, 10:38:27 PM</c> (UTC), not as the wire's epoch seconds.
    /// </summary>
    public static string JavaDate(DateTimeOffset time) =>
        time.UtcDateTime.ToString("MMM d, yyyy, h:mm:ss tt", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The wire names of every date member of the model's shapes (CreationDate, DeletionDate, ValidTo, ...).</summary>
    private static readonly HashSet<string> DateMembers = [.. typeof(KmsJsonContext).Assembly.GetTypes()
        .Where(t => t.Namespace == typeof(KmsJsonContext).Namespace)
        .SelectMany(t => t.GetProperties())
        .Where(p => p.PropertyType == typeof(DateTimeOffset) || p.PropertyType == typeof(DateTimeOffset?))
        .Select(p => p.Name)];

    private static JsonNode? CamelCase(JsonNode? node) => node switch
    {
        JsonObject obj => new JsonObject(obj.Select(p => KeyValuePair.Create(char.ToLowerInvariant(p.Key[0]) + p.Key[1..], CamelCase(p.Key, p.Value?.DeepClone())))),
        JsonArray array => new JsonArray([.. array.Select(i => CamelCase(i?.DeepClone()))]),
        _ => node,
    };

    private static JsonNode? CamelCase(string member, JsonNode? value) =>
        DateMembers.Contains(member) && value is JsonValue date && date.TryGetValue<double>(out var seconds)
            ? JsonValue.Create(JavaDate(DateTimeOffset.UnixEpoch.AddMilliseconds(Math.Round(seconds * 1000))))
            : CamelCase(value);

    private static JsonNode? ToNode(object? value) => value switch
    {
        null => null,
        JsonNode node => node,
        string text => JsonValue.Create(text),
        bool flag => JsonValue.Create(flag),
        int number => JsonValue.Create(number),
        long number => JsonValue.Create(number),
        DateTimeOffset time => JsonValue.Create(JavaDate(time)),
        IEnumerable<KeyValuePair<string, string>> pairs => new JsonObject(pairs.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)JsonValue.Create(p.Value)))),
        IEnumerable<string> items => new JsonArray([.. items.Select(i => (JsonNode?)JsonValue.Create(i))]),
        _ => throw new ArgumentException($"{value.GetType().Name} has no audit form.", nameof(value)),
    };
}
