using System.Collections.Immutable;
using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Pipeline;

namespace KmsEmulator.Api.Operations;

/// <summary>CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant.</summary>
public sealed class GrantOperations(GrantService grantService) : IOperationGroup
{
    private const string KeyId = nameof(CreateGrantRequest.KeyId);

    public void Register(OperationTable.Builder table)
    {
        table.Add(KmsOperation.CreateGrant, new OperationRow<CreateGrantRequest, CreateGrantResponse>
        {
            Handler = CreateGrant,
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, Forms = KeyIdentifierForms.KeyIdOrArn, StateRule = KeyStateRule.CreateGrant }],
            CrossAccount = true,
            ConditionKeys = (r, _, keys) =>
            {
                keys.AddValues("kms:GrantOperations", r.Operations ?? [])
                    .AddIfPresent("kms:GranteePrincipal", r.GranteePrincipal)
                    .AddIfPresent("kms:RetiringPrincipal", r.RetiringPrincipal)
                    .Add("kms:GrantIsForAWSResource", "false");
                if (r.Constraints?.EncryptionContextEquals is { } equals)
                {
                    keys.Add("kms:GrantConstraintType", "EncryptionContextEquals").AddEncryptionContext(equals);
                }
                else if (r.Constraints?.EncryptionContextSubset is { } subset)
                {
                    keys.Add("kms:GrantConstraintType", "EncryptionContextSubset").AddEncryptionContext(subset);
                }
            },
            DryRun = r => r.DryRun,
            Check = c => GrantRules.Check(c.Key(KeyId), ToNewGrant(c.Request)),
            Audit = new()
            {
                // The grant token is never logged.
                ReadOnly = false,
                Request = r => AuditJson.Fields(
                    ("keyId", r.KeyId), ("granteePrincipal", r.GranteePrincipal), ("retiringPrincipal", r.RetiringPrincipal),
                    ("operations", r.Operations), ("constraints", AuditJson.Wire(r.Constraints, KmsJsonContext.Default.GrantConstraints)), ("name", r.Name)),
                Response = r => AuditJson.Fields(("grantId", r.GrantId)),
            },
        });
        table.Add(KmsOperation.ListGrants, new OperationRow<ListGrantsRequest, ListGrantsResponse>
        {
            Handler = ListGrants,
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, Forms = KeyIdentifierForms.KeyIdOrArn }],
            CrossAccount = true,
            ConditionKeys = (_, _, keys) => keys.Add("kms:GrantIsForAWSResource", "false"),
            Audit = new()
            {
                ReadOnly = true,
                Request = r => AuditJson.Fields(
                    ("keyId", r.KeyId), ("grantId", r.GrantId), ("granteePrincipal", r.GranteePrincipal), ("limit", r.Limit), ("marker", r.Marker)),
            },
        });
        table.Add(KmsOperation.ListRetirableGrants, new OperationRow<ListRetirableGrantsRequest, ListGrantsResponse>
        {
            Handler = ListRetirableGrants,
            Keys = [],
            CrossAccount = false,
            Audit = new() { ReadOnly = true, Request = r => AuditJson.Fields(("retiringPrincipal", r.RetiringPrincipal), ("limit", r.Limit), ("marker", r.Marker)) },
        });
        table.Add(KmsOperation.RetireGrant, new OperationRow<RetireGrantRequest, EmptyResponse>
        {
            Handler = async c =>
            {
                await grantService.DeleteGrantAsync(c.Key(KeyId), RetiredGrantId(c.Request), c.CancellationToken);
                return new EmptyResponse();
            },
            // The grant token names the key when KeyId is absent, so that authorization sees the grant's key.
            Keys = [new() { Member = KeyId, Identifier = RetiredGrantKey, Forms = KeyIdentifierForms.KeyIdOrArn }],
            CrossAccount = true,
            DryRun = r => r.DryRun,
            Check = c => GrantService.FindGrant(c.Key(KeyId), RetiredGrantId(c.Request)),
            // The grant token is not logged.
            Audit = new() { ReadOnly = false, Request = r => AuditJson.Fields(("keyId", r.KeyId), ("grantId", r.GrantId)) },
        });
        table.Add(KmsOperation.RevokeGrant, new OperationRow<RevokeGrantRequest, EmptyResponse>
        {
            Handler = async c =>
            {
                await grantService.DeleteGrantAsync(c.Key(KeyId), c.Request.GrantId!, c.CancellationToken);
                return new EmptyResponse();
            },
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, Forms = KeyIdentifierForms.KeyIdOrArn }],
            CrossAccount = true,
            ConditionKeys = (_, _, keys) => keys.Add("kms:GrantIsForAWSResource", "false"),
            DryRun = r => r.DryRun,
            Check = c => GrantService.FindGrant(c.Key(KeyId), c.Request.GrantId!),
            Audit = new() { ReadOnly = false, Request = r => AuditJson.Fields(("keyId", r.KeyId), ("grantId", r.GrantId)) },
        });
    }

    /// <summary>The domain view of a CreateGrant request; ValidationException for two encryption context constraints.</summary>
    public static NewGrant ToNewGrant(CreateGrantRequest request)
    {
        if (request.Constraints is { EncryptionContextEquals: not null, EncryptionContextSubset: not null })
        {
            throw KmsErrors.MoreThanOneGrantConstraint();
        }

        var operations = (request.Operations ?? [])
            .Select(name => GrantOperationWire.TryParse(name, out var op) ? op : throw KmsErrors.UnknownGrantOperation(name))
            .Distinct()
            .ToImmutableArray();
        return new NewGrant
        {
            Name = request.Name,
            GranteePrincipal = request.GranteePrincipal,
            GranteeServicePrincipal = request.GranteeServicePrincipal,
            RetiringPrincipal = request.RetiringPrincipal,
            RetiringServicePrincipal = request.RetiringServicePrincipal,
            Operations = operations,
            Constraint = GrantEvaluator.ConstraintOf(request.Constraints),
            SourceArn = request.Constraints?.SourceArn,
        };
    }

    /// <summary>A grant in the shape of ListGrants and ListRetirableGrants.</summary>
    public static GrantListEntry ToEntry(KeyRecord key, GrantRecord grant) => new()
    {
        KeyId = key.Arn,
        GrantId = grant.GrantId,
        // AWS lists a grant without a name with an empty Name.
        Name = grant.Name ?? string.Empty,
        CreationDate = grant.CreationDate,
        GranteePrincipal = grant.GranteePrincipal,
        GranteeServicePrincipal = grant.GranteeServicePrincipal,
        RetiringPrincipal = grant.RetiringPrincipal,
        RetiringServicePrincipal = grant.RetiringServicePrincipal,
        IssuingAccount = new KeyScope(grant.IssuingAccount, key.Scope.Region).RootArn,
        Operations = grant.Operations.Select(o => o.ToWire()).ToList(),
        Constraints = grant.Constraint is null && grant.SourceArn is null
            ? null
            : new GrantConstraints
            {
                EncryptionContextEquals = grant.Constraint is { Kind: GrantConstraintKind.EncryptionContextEquals } equals ? equals.Pairs.ToDictionary() : null,
                EncryptionContextSubset = grant.Constraint is { Kind: GrantConstraintKind.EncryptionContextSubset } subset ? subset.Pairs.ToDictionary() : null,
                SourceArn = grant.SourceArn,
            },
    };

    private async ValueTask<CreateGrantResponse> CreateGrant(OperationContext<CreateGrantRequest> context)
    {
        var (grant, token) = await grantService.CreateGrantAsync(
            context.Key(KeyId), ToNewGrant(context.Request), context.RequestContext.Caller.AccountId, context.CancellationToken);
        return new CreateGrantResponse { GrantId = grant.GrantId, GrantToken = token };
    }

    private ValueTask<ListGrantsResponse> ListGrants(OperationContext<ListGrantsRequest> context)
    {
        var key = context.Key(KeyId);
        var request = context.Request;
        var grants = GrantService.ListGrants(key, request.GrantId, request.GranteePrincipal, request.GranteeServicePrincipal);
        var page = Paging.Take(grants, g => g.GrantId, request.Marker, request.Limit, defaultLimit: 50, maxLimit: 100);
        return ValueTask.FromResult(new ListGrantsResponse
        {
            Grants = page.Items.Select(g => ToEntry(key, g)).ToList(),
            NextMarker = page.NextMarker,
            Truncated = page.Truncated,
        });
    }

    private ValueTask<ListGrantsResponse> ListRetirableGrants(OperationContext<ListRetirableGrantsRequest> context)
    {
        var request = context.Request;
        if (request.RetiringPrincipal is null && request.RetiringServicePrincipal is null)
        {
            throw KmsErrors.RequiredMemberMissing(nameof(request.RetiringPrincipal));
        }

        var grants = grantService.ListRetirableGrants(context.Scope, request.RetiringPrincipal, request.RetiringServicePrincipal);
        var page = Paging.Take(grants, g => g.Grant.GrantId, request.Marker, request.Limit, defaultLimit: 50, maxLimit: 100);
        return ValueTask.FromResult(new ListGrantsResponse
        {
            Grants = page.Items.Select(g => ToEntry(g.Key, g.Grant)).ToList(),
            NextMarker = page.NextMarker,
            Truncated = page.Truncated,
        });
    }

    /// <summary>The key of the grant to retire: the one its token names, else KeyId (which then needs a GrantId).</summary>
    private static string RetiredGrantKey(RetireGrantRequest request)
    {
        if (request.GrantToken is { } token)
        {
            return GrantToken.TryParse(token, out var target) ? target.KeyArn : throw KmsErrors.InvalidGrantToken();
        }

        if (request.KeyId is null || request.GrantId is null)
        {
            throw KmsErrors.RetireGrantNeedsTokenOrIds();
        }

        return request.KeyId;
    }

    private static string RetiredGrantId(RetireGrantRequest request) =>
        request.GrantToken is { } token && GrantToken.TryParse(token, out var target) ? target.GrantId : request.GrantId!;
}
