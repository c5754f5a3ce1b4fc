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
        table.Add<CreateGrantRequest, CreateGrantResponse>(
            KmsOperation.CreateGrant,
            CreateGrant,
            [new() { Member = KeyId, Identifier = r => r.KeyId, Forms = KeyIdentifierForms.KeyIdOrArn, StateRule = KeyStateRule.CreateGrant }],
            dryRun: r => r.DryRun,
            check: c => GrantRules.Check(c.Key(KeyId), ToNewGrant(c.Request)));
        table.Add<ListGrantsRequest, ListGrantsResponse>(
            KmsOperation.ListGrants,
            ListGrants,
            [new() { Member = KeyId, Identifier = r => r.KeyId, Forms = KeyIdentifierForms.KeyIdOrArn }]);
        table.Add<ListRetirableGrantsRequest, ListGrantsResponse>(KmsOperation.ListRetirableGrants, ListRetirableGrants);
        table.Add<RetireGrantRequest, EmptyResponse>(
            KmsOperation.RetireGrant,
            async c =>
            {
                await grantService.DeleteGrantAsync(c.Key(KeyId), RetiredGrantId(c.Request), c.CancellationToken);
                return new EmptyResponse();
            },
            // The grant token names the key when KeyId is absent, so that authorization sees the grant's key.
            [new() { Member = KeyId, Identifier = RetiredGrantKey, Forms = KeyIdentifierForms.KeyIdOrArn }],
            dryRun: r => r.DryRun,
            check: c => GrantService.FindGrant(c.Key(KeyId), RetiredGrantId(c.Request)));
        table.Add<RevokeGrantRequest, EmptyResponse>(
            KmsOperation.RevokeGrant,
            async c =>
            {
                await grantService.DeleteGrantAsync(c.Key(KeyId), c.Request.GrantId!, c.CancellationToken);
                return new EmptyResponse();
            },
            [new() { Member = KeyId, Identifier = r => r.KeyId, Forms = KeyIdentifierForms.KeyIdOrArn }],
            dryRun: r => r.DryRun,
            check: c => GrantService.FindGrant(c.Key(KeyId), c.Request.GrantId!));
    }

    /// <summary>The domain view of a CreateGrant request; ValidationException for two encryption context constraints.</summary>
    public static NewGrant ToNewGrant(CreateGrantRequest request)
    {
        if (request.Constraints is { EncryptionContextEquals: not null, EncryptionContextSubset: not null })
        {
            throw KmsErrors.MoreThanOneGrantConstraint();
        }

        var operations = (request.Operations ?? [])
            .Select(name => GrantOperationWire.TryParse(name, out var op) ? op : throw KmsErrors.Validation($"'{name}' is not a grant operation."))
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
            throw KmsErrors.Validation("1 validation error detected: Value null at 'retiringPrincipal' failed to satisfy constraint: Member must not be null");
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
            throw KmsErrors.Validation("RetireGrant needs either a GrantToken, or both a KeyId and a GrantId.");
        }

        return request.KeyId;
    }

    private static string RetiredGrantId(RetireGrantRequest request) =>
        request.GrantToken is { } token && GrantToken.TryParse(token, out var target) ? target.GrantId : request.GrantId!;
}
