using KmsEmulator.Api.Generated;
using KmsEmulator.Policy;

namespace KmsEmulator.Api.Pipeline;

/// <summary>
/// One row of the operation table, as the rest of the pipeline sees it: the operation's facts and a way to run it.
/// Built rows are <see cref="Operation{TRequest,TResponse}"/> (made from an <see cref="OperationRow{TRequest,TResponse}"/>);
/// the others are <see cref="NotImplementedOperation"/>.
/// </summary>
public abstract class OperationDescriptor(KmsOperation operation)
{
    public KmsOperation Operation { get; } = operation;

    /// <summary>The IAM action, e.g. <c>kms:Encrypt</c>.</summary>
    public string Action => "kms:" + Operation.Name();

    /// <summary>False for operations that answer "not implemented yet".</summary>
    public abstract bool Implemented { get; }

    /// <summary>Whether a principal of another account can be allowed this operation on a key.</summary>
    public abstract bool CrossAccount { get; }

    /// <summary>Whether the request carries GrantTokens that the pipeline checks (from the service model).</summary>
    public abstract bool TakesGrantTokens { get; }

    /// <summary>CloudTrail's <c>readOnly</c> for this operation.</summary>
    public abstract bool ReadOnly { get; }

    /// <summary>Whether the request takes DryRun.</summary>
    public abstract bool TakesDryRun { get; }

    /// <summary>The encryption context of <paramref name="request"/> for the key used with <paramref name="action"/>.</summary>
    public abstract IReadOnlyDictionary<string, string>? EncryptionContextOf(object request, string action);

    /// <summary>Adds the condition keys <paramref name="request"/> supplies besides its encryption context.</summary>
    public abstract void AddConditionKeys(object request, string action, ContextKeys.Builder keys);

    /// <summary>
    /// Runs the whole pipeline for a request body and returns the serialised response, filling <paramref name="audit"/>
    /// with what the audit record keeps of the request as each step learns it (also when a step fails).
    /// </summary>
    public abstract ValueTask<OperationResult> ExecuteAsync(KmsRequestContext context, ReadOnlyMemory<byte> body, AuditFacts audit, CancellationToken cancellationToken);
}

/// <summary>A serialised response body and the key the request acted on (for the completion log line).</summary>
public readonly record struct OperationResult(byte[] Body, string? KeyId);
