using System.Text;
using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Pipeline;
using KmsEmulator.Policy;

namespace KmsEmulator.Api.Operations;

/// <summary>GetKeyPolicy, PutKeyPolicy, ListKeyPolicies. Policies are stored exactly as given and evaluated in strict mode.</summary>
public sealed class PolicyOperations(KeyPolicyService policies, IAuthorizer authorizer) : IOperationGroup
{
    private const string KeyId = nameof(GetKeyPolicyRequest.KeyId);

    public void Register(OperationTable.Builder table)
    {
        table.Add(KmsOperation.GetKeyPolicy, new OperationRow<GetKeyPolicyRequest, GetKeyPolicyResponse>
        {
            Handler = c =>
            {
                CheckPolicyName(c.Request.PolicyName);
                return ValueTask.FromResult(new GetKeyPolicyResponse { Policy = c.Key(KeyId).Policy, PolicyName = DefaultKeyPolicy.PolicyName });
            },
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, Forms = KeyIdentifierForms.KeyIdOrArn }],
            CrossAccount = false,
            // The policy in the response is not logged.
            Audit = new() { ReadOnly = true, Request = r => AuditJson.Fields(("keyId", r.KeyId), ("policyName", r.PolicyName)) },
        });
        table.Add(KmsOperation.PutKeyPolicy, new OperationRow<PutKeyPolicyRequest, EmptyResponse>
        {
            Handler = async c =>
            {
                CheckPolicyName(c.Request.PolicyName);
                CheckPolicyDocument(c.Request.Policy!);
                var key = c.Key(KeyId);
                authorizer.CheckNewKeyPolicy(c.RequestContext, c.Request.Policy!, key.Arn, key.Scope.AccountId, c.Request.BypassPolicyLockoutSafetyCheck == true);

                await policies.PutPolicyAsync(key, c.Request.Policy!, c.CancellationToken);
                return new EmptyResponse();
            },
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, Forms = KeyIdentifierForms.KeyIdOrArn }],
            CrossAccount = false,
            ConditionKeys = (r, _, keys) => keys.AddFlag("kms:BypassPolicyLockoutSafetyCheck", r.BypassPolicyLockoutSafetyCheck),
            Audit = new()
            {
                ReadOnly = false,
                Request = r => AuditJson.Fields(
                    ("keyId", r.KeyId), ("policyName", r.PolicyName), ("policy", r.Policy), ("bypassPolicyLockoutSafetyCheck", r.BypassPolicyLockoutSafetyCheck)),
            },
        });
        table.Add(KmsOperation.ListKeyPolicies, new OperationRow<ListKeyPoliciesRequest, ListKeyPoliciesResponse>
        {
            Handler = _ => ValueTask.FromResult(new ListKeyPoliciesResponse { PolicyNames = [DefaultKeyPolicy.PolicyName], Truncated = false }),
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, Forms = KeyIdentifierForms.KeyIdOrArn }],
            CrossAccount = false,
            Audit = new() { ReadOnly = true, Request = r => AuditJson.Fields(("keyId", r.KeyId), ("limit", r.Limit), ("marker", r.Marker)) },
        });
    }

    /// <summary>The checks a key policy passes before it is stored (CreateKey and PutKeyPolicy).</summary>
    public static void CheckPolicyDocument(string policy)
    {
        if (Encoding.UTF8.GetByteCount(policy) > PolicyDocumentCheck.MaxBytes)
        {
            throw KmsErrors.PolicyTooLarge(PolicyDocumentCheck.MaxBytes);
        }

        if (PolicyDocumentCheck.FindProblem(policy) is { } problem)
        {
            throw KmsErrors.PolicyDocumentMalformed(problem);
        }
    }

    private static void CheckPolicyName(string? name)
    {
        if (name is not null && name != DefaultKeyPolicy.PolicyName)
        {
            throw KmsErrors.PolicyNotFound();
        }
    }
}
