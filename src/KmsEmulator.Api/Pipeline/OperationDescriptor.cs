using KmsEmulator.Api.Generated;

namespace KmsEmulator.Api.Pipeline;

/// <summary>One row of the operation table: everything the pipeline needs to run one KMS operation.</summary>
public abstract class OperationDescriptor(KmsOperation operation)
{
    public KmsOperation Operation { get; } = operation;

    /// <summary>The IAM action, e.g. <c>kms:Encrypt</c>.</summary>
    public string Action => "kms:" + Operation.Name();

    /// <summary>False for operations that answer "not implemented yet".</summary>
    public abstract bool Implemented { get; }

    /// <summary>Runs the whole pipeline for a request body and returns the serialised response.</summary>
    public abstract ValueTask<OperationResult> ExecuteAsync(KmsRequestContext context, ReadOnlyMemory<byte> body, CancellationToken cancellationToken);
}

/// <summary>A serialised response body and the key the request acted on (for the completion log line).</summary>
public readonly record struct OperationResult(byte[] Body, string? KeyId);
