using System.Collections.Frozen;
using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Generated.Runtime;

namespace KmsEmulator.Api.Pipeline;

/// <summary>A family of operations (keys, aliases, crypto, ...) that adds its rows to the operation table.</summary>
public interface IOperationGroup
{
    void Register(OperationTable.Builder table);
}

/// <summary>
/// The single dispatch point: exactly one row per operation of the service model. Operations that no group
/// registers get a <see cref="NotImplementedOperation"/> row, so every target has a deliberate answer.
/// </summary>
public sealed class OperationTable
{
    private readonly FrozenDictionary<KmsOperation, OperationDescriptor> _rows;

    public OperationTable(IEnumerable<IOperationGroup> groups, PipelineServices services)
    {
        var builder = new Builder(services);
        foreach (var group in groups)
        {
            group.Register(builder);
        }

        foreach (var operation in KmsOperations.All)
        {
            builder.Rows.TryAdd(operation, new NotImplementedOperation(operation));
        }

        _rows = builder.Rows.ToFrozenDictionary();
    }

    public OperationDescriptor this[KmsOperation operation] => _rows[operation];

    public IEnumerable<OperationDescriptor> Rows => KmsOperations.All.Select(op => _rows[op]);

    /// <summary>Collects rows; adding the same operation twice is a programming error.</summary>
    public sealed class Builder(PipelineServices services)
    {
        internal Dictionary<KmsOperation, OperationDescriptor> Rows { get; } = [];

        public void Add<TRequest, TResponse>(KmsOperation operation, OperationRow<TRequest, TResponse> row)
            where TRequest : class, IValidatable
            where TResponse : class
        {
            if (!Rows.TryAdd(operation, new Operation<TRequest, TResponse>(operation, row, services)))
            {
                throw new InvalidOperationException($"{operation} has two rows in the operation table.");
            }
        }
    }
}
