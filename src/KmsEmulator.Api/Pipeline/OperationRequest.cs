using KmsEmulator.Policy;

namespace KmsEmulator.Api.Pipeline;

/// <summary>
/// A deserialized request together with its operation's row, so that authorization reads what it needs of the request
/// (encryption context, condition keys, cross-account use) from the row's facts instead of knowing request types.
/// </summary>
public readonly record struct OperationRequest(OperationDescriptor Row, object Body)
{
    /// <summary>The encryption context for the key used with <paramref name="action"/>, or null.</summary>
    public IReadOnlyDictionary<string, string>? EncryptionContext(string action) => Row.EncryptionContextOf(Body, action);

    /// <summary>Adds the request's own condition keys for the key used with <paramref name="action"/>.</summary>
    public void AddConditionKeys(ContextKeys.Builder keys, string action)
    {
        keys.AddEncryptionContext(EncryptionContext(action));
        Row.AddConditionKeys(Body, action, keys);
    }
}
