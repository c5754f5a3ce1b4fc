using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;

namespace KmsEmulator.Api.Pipeline;

/// <summary>The row of an operation that is not built yet: a clear UnsupportedOperationException naming it.</summary>
public sealed class NotImplementedOperation(KmsOperation operation) : OperationDescriptor(operation)
{
    public override bool Implemented => false;

    public override ValueTask<OperationResult> ExecuteAsync(KmsRequestContext context, ReadOnlyMemory<byte> body, CancellationToken cancellationToken) =>
        throw KmsErrors.NotImplemented(Operation.Name());
}
