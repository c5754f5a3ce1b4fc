using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Policy;

namespace KmsEmulator.Api.Pipeline;

/// <summary>
/// Authorization as AWS KMS does it, in every authentication mode: explicit deny wins; the key policy must allow the
/// caller, or allow the key's account and leave the decision to the caller's identity policies; grants allow their
/// operations under their constraints; callers from another account need both sides. Operations without a key
/// resource (CreateKey, ListKeys, ...) are decided by identity policies alone. Permissive mode relaxes only who the
/// caller is (unverified signatures, unknown access keys acting as account roots), never what the caller may do.
/// </summary>
public sealed class PolicyAuthorizer(IKnownPrincipals principals, KeyCatalog catalog, TimeProvider clock, IGrantEvaluator grants, DecisionCache decisions) : IAuthorizer
{
    // Parsed key policies, found by the policy text's identity: the catalog hands out the same string for a key until
    // its policy changes, and hashing a large policy's text on every request would cost more than the decision. Entries
    // go with their text. Behind it, a bounded cache by content lets keys with equal policies (the default policy
    // of every key in an account) share one document, and so their referenced-keys and decision cache entries.
    private readonly ConditionalWeakTable<string, PolicyDocument> _policiesByInstance = new();
    private readonly ConcurrentDictionary<string, PolicyDocument> _policiesByText = new(StringComparer.Ordinal);

    public ValueTask AuthorizeAsync(KmsRequestContext request, OperationRequest operation, string action, IReadOnlyList<KeyAccess> keys, CancellationToken cancellationToken)
    {
        if (keys.Count == 0)
        {
            AuthorizeWithoutKey(request, operation, action, "*");
            return ValueTask.CompletedTask;
        }

        var caller = request.Caller;
        var principalType = caller.PrincipalType;

        // ReEncrypt: whether source and destination are the same key, known only once both are resolved.
        string? sameKey = keys.Count == 2 && operation.Body is Generated.ReEncryptRequest
            ? (keys[0].Key.Key.KeyId == keys[1].Key.Key.KeyId ? "true" : "false")
            : null;
        foreach (var access in keys)
        {
            Authorize(request, operation, caller, principalType, access, sameKey);
        }

        return ValueTask.CompletedTask;
    }

    public void AuthorizeWithoutKey(KmsRequestContext request, OperationRequest operation, string action, string resource)
    {
        var caller = request.Caller;
        var policyRequest = new PolicyRequest(caller.Arn, caller.AccountId, caller.PrincipalType, action, resource, BaseKeys(request, operation, action).Build());
        var result = KmsAuthorization.DecideWithoutKey(caller.IdentityPolicies, policyRequest);
        if (!result.IsAllowed)
        {
            throw KmsErrors.AccessDenied(result.AccessDeniedMessage(policyRequest)!);
        }
    }

    public void CheckNewKeyPolicy(KmsRequestContext request, string policy, string keyArn, string keyOwnerAccount, bool bypassLockoutSafetyCheck)
    {
        var document = PolicyDocument.Parse(policy);

        var named = document.Statements.SelectMany(s => s.Principals ?? []).Where(p => p.Type == "AWS").Select(p => p.Value);
        if (named.Any(arn => !principals.Exists(arn)))
        {
            throw KmsErrors.PolicyInvalidPrincipals();
        }

        if (bypassLockoutSafetyCheck)
        {
            return;
        }

        var caller = request.Caller;
        // The question is whether the caller could call PutKeyPolicy on the key later, so the request's own keys are
        // those of a PutKeyPolicy call, not of this CreateKey or PutKeyPolicy request; PutKeyPolicy is never cross-account.
        var keys = BaseKeys(request, null, "kms:PutKeyPolicy").Build();
        var policyRequest = new PolicyRequest(caller.Arn, caller.AccountId, caller.PrincipalType, "kms:PutKeyPolicy", keyArn, keys);
        if (!KmsAuthorization.Decide(document, caller.IdentityPolicies, policyRequest, keyOwnerAccount, crossAccountAllowed: false).IsAllowed)
        {
            throw KmsErrors.PolicyLockout();
        }
    }

    private void Authorize(KmsRequestContext request, OperationRequest operation, CallerIdentity caller, PrincipalType principalType, KeyAccess access, string? reEncryptOnSameKey)
    {
        var key = access.Key.Key;
        var keyPolicy = ParsedPolicy(key.Policy);
        var referenced = decisions.ReferencedKeys(keyPolicy, caller.IdentityPolicies);
        var builder = BaseKeys(request, operation, access.Action, referenced);
        AddKeyKeys(builder, access.Key);
        if (reEncryptOnSameKey is not null)
        {
            builder.Add("kms:ReEncryptOnSameKey", reEncryptOnSameKey);
        }

        var policyRequest = new PolicyRequest(caller.Arn, caller.AccountId, principalType, access.Action, key.Arn, builder.Build());

        var crossAccount = operation.Row.CrossAccount;
        var result = decisions.Decide(keyPolicy, caller.IdentityPolicies, referenced, policyRequest, key.Scope.AccountId, crossAccount);
        if (!result.IsAllowed && !result.IsExplicitDeny && grants.Allows(request, access, operation))
        {
            result = KmsAuthorization.Decide(keyPolicy, caller.IdentityPolicies, policyRequest, key.Scope.AccountId, crossAccount, allowedByGrant: true);
        }

        if (!result.IsAllowed)
        {
            throw access.FromCiphertext ? KmsErrors.CiphertextKeyNotAccessible() : KmsErrors.AccessDenied(result.AccessDeniedMessage(policyRequest)!);
        }
    }

    /// <summary>A key policy, parsed once per policy text.</summary>
    private PolicyDocument ParsedPolicy(string text) =>
        _policiesByInstance.TryGetValue(text, out var document) ? document : _policiesByInstance.GetValue(text, ParsedByText);

    private PolicyDocument ParsedByText(string text)
    {
        if (_policiesByText.Count > 10_000)
        {
            _policiesByText.Clear();
        }

        return _policiesByText.GetOrAdd(text, static policy => PolicyDocument.Parse(policy));
    }

    /// <summary>
    /// The keys of the caller's request. With <paramref name="referenced"/> (the policies are known to read only those
    /// keys), every other key is left out; the policies never read the time then.
    /// </summary>
    private ContextKeys.Builder BaseKeys(KmsRequestContext request, OperationRequest? operation, string action, ConditionKeySet? referenced = null)
    {
        var builder = (referenced is null ? ContextKeys.CreateBuilder() : ContextKeys.CreateBuilder(referenced.Set))
            .Add("aws:SecureTransport", request.SecureTransport ? "true" : "false")
            .Add("aws:RequestedRegion", request.Region);
        if (referenced is null)
        {
            builder.AddCurrentTime(clock.GetUtcNow());
        }

        if (request.SourceIp is { } sourceIp)
        {
            builder.Add("aws:SourceIp", sourceIp);
        }

        if (request.Caller.ViaService is { } viaService)
        {
            builder.Add("kms:ViaService", viaService);
        }

        operation?.AddConditionKeys(builder, action);
        return builder;
    }

    /// <summary>Keys that describe the key. Aliases and tags are looked up only when the builder keeps them.</summary>
    private void AddKeyKeys(ContextKeys.Builder builder, ResolvedKey resolved)
    {
        var key = resolved.Key;
        builder.Add("kms:KeySpec", key.KeySpec.ToWire())
            .Add("kms:KeyUsage", key.KeyUsage.ToWire())
            .Add("kms:KeyOrigin", key.Origin.ToWire())
            .Add("kms:MultiRegion", key.MultiRegion ? "true" : "false");
        if (resolved.RequestAlias is { } alias)
        {
            builder.Add("kms:RequestAlias", alias);
        }

        if (builder.Keeps("kms:ResourceAliases"))
        {
            builder.AddValues("kms:ResourceAliases", catalog.AliasNamesOf(key.Scope, key.KeyId));
        }

        foreach (var tag in key.Tags)
        {
            builder.Add("aws:ResourceTag/" + tag.Key, tag.Value);
        }
    }

}
