using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Policy;

namespace KmsEmulator.Api.Pipeline;

/// <summary>The row of an operation that is not built yet: a clear UnsupportedOperationException naming it.</summary>
public sealed class NotImplementedOperation(KmsOperation operation) : OperationDescriptor(operation)
{
    public override bool Implemented => false;

    public override bool CrossAccount => false;

    public override bool TakesGrantTokens => false;

    public override bool TakesDryRun => false;

    /// <summary>CloudTrail's rule of thumb for operations without a row yet: reads are Describe, Get and List.</summary>
    public override bool ReadOnly { get; } = operation.Name() is var name &&
        (name.StartsWith("Describe", StringComparison.Ordinal) || name.StartsWith("Get", StringComparison.Ordinal) || name.StartsWith("List", StringComparison.Ordinal));

    public override IReadOnlyDictionary<string, string>? EncryptionContextOf(object request, string action) => null;

    public override void AddConditionKeys(object request, string action, ContextKeys.Builder keys)
    {
    }

    public override ValueTask<OperationResult> ExecuteAsync(KmsRequestContext context, ReadOnlyMemory<byte> body, AuditFacts audit, CancellationToken cancellationToken) =>
        throw KmsErrors.NotImplemented(Operation.Name());
}
