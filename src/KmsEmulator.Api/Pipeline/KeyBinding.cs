using KmsEmulator.Api.Keys;

namespace KmsEmulator.Api.Pipeline;

/// <summary>
/// How an operation names one of the keys it acts on, and what that key must satisfy. The pipeline resolves every
/// binding before the handler runs, so handlers receive keys that exist, are in an allowed state and fit the usage.
/// </summary>
/// <typeparam name="TRequest">The operation's request shape.</typeparam>
public sealed record KeyBinding<TRequest>
{
    /// <summary>The request member holding the identifier (also the name handlers use to fetch the key).</summary>
    public required string Member { get; init; }

    public required Func<TRequest, string?> Identifier { get; init; }

    public KeyIdentifierForms Forms { get; init; } = KeyIdentifierForms.Any;

    public KeyStateRule StateRule { get; init; } = KeyStateRule.Any;

    /// <summary>Absent identifiers are an error unless the binding is optional (ListAliases' KeyId filter).</summary>
    public bool Optional { get; init; }

    /// <summary>
    /// False for a key that only filters the result (ListAliases' KeyId): AWS authorizes such operations with identity
    /// policies on resource "*", not on the key.
    /// </summary>
    public bool Authorize { get; init; } = true;

    /// <summary>The IAM action this key needs when it differs from the operation's (ReEncrypt: kms:ReEncryptFrom / kms:ReEncryptTo).</summary>
    public string? Action { get; init; }

    /// <summary>The grant operation that allows this use when it differs from the operation name (ReEncryptFrom / ReEncryptTo).</summary>
    public string? GrantOperation { get; init; }

    /// <summary>
    /// For Decrypt and ReEncrypt with DryRun and the IGNORE_CIPHERTEXT modifier: the ciphertext is not read, so the key
    /// must be named by the identifier, and only authorization and key checks run.
    /// </summary>
    public Func<TRequest, bool>? IgnoreCiphertext { get; init; }

    /// <summary>For Decrypt and ReEncrypt: the ciphertext whose header names the key when the identifier is absent.</summary>
    public Func<TRequest, byte[]?>? Ciphertext { get; init; }
}
