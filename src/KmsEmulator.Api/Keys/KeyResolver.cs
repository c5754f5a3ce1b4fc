namespace KmsEmulator.Api.Keys;

/// <summary>A key found for a request, and the alias the request named it by, if any.</summary>
public sealed record ResolvedKey(KeyRecord Key, string? RequestAlias);

/// <summary>
/// Finds the key a request names, in any of the forms the operation accepts, with KMS's errors for
/// malformed identifiers, unknown keys, unknown aliases and ARNs of another region.
/// </summary>
public sealed class KeyResolver(KeyCatalog catalog, KeyLifecycle lifecycle, AwsManagedKeys managedKeys)
{
    /// <summary>
    /// Before <see cref="Resolve"/>: when <paramref name="value"/> names a predefined AWS managed alias of the caller's own
    /// account and Region that has no key yet, creates the key (AWS does so on first use). A no-op for anything else,
    /// including values <see cref="Resolve"/> will reject.
    /// </summary>
    public ValueTask PrepareAsync(string value, KeyScope callerScope, KeyIdentifierForms allowed, CancellationToken cancellationToken)
    {
        if ((allowed & (KeyIdentifierForms.AliasName | KeyIdentifierForms.AliasArn)) == 0 || !AwsManagedKeys.MayName(value))
        {
            return ValueTask.CompletedTask;
        }

        KeyIdentifier identifier;
        try
        {
            identifier = KeyIdentifierParser.Parse(value, callerScope, allowed);
        }
        catch (KmsException)
        {
            return ValueTask.CompletedTask;
        }

        return identifier.AliasName is { } aliasName && identifier.Scope == callerScope
            ? managedKeys.EnsureAsync(callerScope, aliasName, cancellationToken)
            : ValueTask.CompletedTask;
    }

    public ResolvedKey Resolve(string value, KeyScope callerScope, KeyIdentifierForms allowed)
    {
        var identifier = KeyIdentifierParser.Parse(value, callerScope, allowed);
        if (identifier.Scope.Region != callerScope.Region)
        {
            throw KmsErrors.InvalidArnRegion(identifier.Scope.Region);
        }

        if (identifier.AliasName is { } aliasName)
        {
            var alias = catalog.FindAlias(identifier.Scope, aliasName) ?? throw KmsErrors.AliasNotFound(identifier.Scope.AliasArn(aliasName));
            var target = lifecycle.FindLive(identifier.Scope, alias.TargetKeyId)
                ?? throw KmsErrors.AliasNotFound(identifier.Scope.AliasArn(aliasName));
            return new ResolvedKey(target, aliasName);
        }

        var key = lifecycle.FindLive(identifier.Scope, identifier.KeyId!) ?? throw KmsErrors.KeyDoesNotExist(identifier.Scope.KeyArn(identifier.KeyId!));
        return new ResolvedKey(key, null);
    }

    /// <summary>The key a symmetric ciphertext names, looked up in the caller's region.</summary>
    public KeyRecord? FindForCiphertext(in SymmetricCiphertext ciphertext, KeyScope callerScope)
    {
        // A key id is unique, so the key is found in whichever account of the caller's region holds it.
        var own = lifecycle.FindLive(callerScope, ciphertext.KeyId);
        return own ?? lifecycle.FindLiveInRegion(callerScope.Region, ciphertext.KeyId);
    }
}
