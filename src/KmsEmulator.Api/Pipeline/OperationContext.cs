using KmsEmulator.Api.Keys;

namespace KmsEmulator.Api.Pipeline;

/// <summary>What a handler gets: the validated request, the request context and the keys the pipeline resolved.</summary>
public sealed class OperationContext<TRequest>(TRequest request, KmsRequestContext requestContext, CancellationToken cancellationToken)
{
    private readonly Dictionary<string, ResolvedKey> _keys = new(StringComparer.Ordinal);
    private readonly Dictionary<string, KeyCiphertext> _ciphertexts = new(StringComparer.Ordinal);

    public TRequest Request { get; } = request;

    public KmsRequestContext RequestContext { get; } = requestContext;

    public KeyScope Scope => RequestContext.Scope;

    public CancellationToken CancellationToken { get; } = cancellationToken;

    /// <summary>The key bound to <paramref name="member"/>; throws if the operation's table row has no such binding.</summary>
    public KeyRecord Key(string member) => ResolvedKey(member).Key;

    public ResolvedKey ResolvedKey(string member) =>
        _keys.TryGetValue(member, out var key) ? key : throw new InvalidOperationException($"No key is bound to {member}.");

    /// <summary>The key bound to <paramref name="member"/>, or null when an optional identifier was absent.</summary>
    public KeyRecord? OptionalKey(string member) => _keys.GetValueOrDefault(member)?.Key;

    /// <summary>
    /// The ciphertext of a binding that reads one (Decrypt, ReEncrypt): parsed when its key is symmetric, raw when the
    /// key's ciphertexts are raw RSA output.
    /// </summary>
    public KeyCiphertext Ciphertext(string member) =>
        _ciphertexts.TryGetValue(member, out var value) ? value : throw new InvalidOperationException($"No ciphertext is bound to {member}.");

    internal void Bind(string member, ResolvedKey key) => _keys[member] = key;

    internal void Bind(string member, KeyCiphertext ciphertext) => _ciphertexts[member] = ciphertext;
}
