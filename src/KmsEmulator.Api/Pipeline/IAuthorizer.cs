using KmsEmulator.Api.Keys;

namespace KmsEmulator.Api.Pipeline;

/// <summary>One key a request acts on, with the IAM action it needs on that key (ReEncrypt needs two).</summary>
/// <param name="Key">The resolved key.</param>
/// <param name="Action">The action, e.g. <c>kms:Decrypt</c>, <c>kms:ReEncryptFrom</c>.</param>
/// <param name="Operation">The grant operation name that would allow it, e.g. <c>Decrypt</c>, <c>ReEncryptFrom</c>.</param>
/// <param name="FromCiphertext">True when the key was named by a ciphertext, not by the request.</param>
public sealed record KeyAccess(ResolvedKey Key, string Action, string Operation, bool FromCiphertext);

/// <summary>
/// The authorization step of the pipeline: decides whether the caller may perform the operation on the resolved
/// keys, throwing AccessDeniedException when not. Runs after key resolution and key-state checks, before DryRun
/// and the handler, in every authentication mode: only authentication is relaxed for local use, never authorization.
/// </summary>
public interface IAuthorizer
{
    ValueTask AuthorizeAsync(KmsRequestContext request, OperationRequest operation, string action, IReadOnlyList<KeyAccess> keys, CancellationToken cancellationToken);

    /// <summary>
    /// Decides an action on a resource that has no key policy (an alias ARN, or "*" for operations without a
    /// resource) by the caller's identity policies alone; account roots are allowed.
    /// </summary>
    void AuthorizeWithoutKey(KmsRequestContext request, OperationRequest operation, string action, string resource);

    /// <summary>
    /// The checks of a new key policy (CreateKey, PutKeyPolicy): unless <paramref name="bypassLockoutSafetyCheck"/> it
    /// must let the caller call PutKeyPolicy again (the lockout safety check), and in strict mode every IAM principal it
    /// names must be configured. Throws MalformedPolicyDocumentException with AWS's wording.
    /// </summary>
    void CheckNewKeyPolicy(KmsRequestContext request, string policy, string keyArn, string keyOwnerAccount, bool bypassLockoutSafetyCheck);
}

/// <summary>Whether a grant on the key allows the access (grantee, operation, constraints, grant tokens).</summary>
public interface IGrantEvaluator
{
    bool Allows(KmsRequestContext request, KeyAccess access, OperationRequest operation);
}
