using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Pipeline;

namespace KmsEmulator.Api.Operations;

/// <summary>CreateAlias, UpdateAlias, DeleteAlias, ListAliases.</summary>
public sealed class AliasOperations(AliasService aliasService) : IOperationGroup
{
    private const string TargetKeyId = nameof(CreateAliasRequest.TargetKeyId);
    private const string KeyId = nameof(ListAliasesRequest.KeyId);
    private const string AliasName = nameof(DeleteAliasRequest.AliasName);

    public void Register(OperationTable.Builder table)
    {
        table.Add(KmsOperation.CreateAlias, new OperationRow<CreateAliasRequest, EmptyResponse>
        {
            Handler = async c =>
            {
                await aliasService.CreateAliasAsync(c.Scope, c.Request.AliasName!, c.Key(TargetKeyId), c.CancellationToken);
                return new EmptyResponse();
            },
            Keys = [new() { Member = TargetKeyId, Identifier = r => r.TargetKeyId, Forms = KeyIdentifierForms.KeyIdOrArn, StateRule = KeyStateRule.Management }],
            CrossAccount = false,
            Alias = r => CustomerAlias(r.AliasName),
            Audit = new() { ReadOnly = false, Request = r => AuditJson.Fields(("aliasName", r.AliasName), ("targetKeyId", r.TargetKeyId)) },
        });
        table.Add(KmsOperation.UpdateAlias, new OperationRow<UpdateAliasRequest, EmptyResponse>
        {
            Handler = async c =>
            {
                await aliasService.UpdateAliasAsync(c.Scope, c.Request.AliasName!, c.Key(TargetKeyId), c.CancellationToken);
                return new EmptyResponse();
            },
            Keys =
            [
                CurrentTarget<UpdateAliasRequest>(r => r.AliasName),
                new() { Member = TargetKeyId, Identifier = r => r.TargetKeyId, Forms = KeyIdentifierForms.KeyIdOrArn, StateRule = KeyStateRule.Management },
            ],
            CrossAccount = false,
            Alias = r => CustomerAlias(r.AliasName),
            Audit = new() { ReadOnly = false, Request = r => AuditJson.Fields(("aliasName", r.AliasName), ("targetKeyId", r.TargetKeyId)) },
        });
        table.Add(KmsOperation.DeleteAlias, new OperationRow<DeleteAliasRequest, EmptyResponse>
        {
            Handler = async c =>
            {
                await aliasService.DeleteAliasAsync(c.Scope, c.Request.AliasName!, c.CancellationToken);
                return new EmptyResponse();
            },
            Keys = [CurrentTarget<DeleteAliasRequest>(r => r.AliasName)],
            CrossAccount = false,
            Alias = r => CustomerAlias(r.AliasName),
            Audit = new() { ReadOnly = false, Request = r => AuditJson.Fields(("aliasName", r.AliasName)) },
        });
        table.Add(KmsOperation.ListAliases, new OperationRow<ListAliasesRequest, ListAliasesResponse>
        {
            Handler = ListAliases,
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, Forms = KeyIdentifierForms.KeyIdOrArn, Optional = true, Authorize = false }],
            CrossAccount = false,
            Audit = new() { ReadOnly = true, Request = r => AuditJson.Fields(("keyId", r.KeyId), ("limit", r.Limit), ("marker", r.Marker)) },
        });
    }

    /// <summary>
    /// The key an existing alias points at: UpdateAlias and DeleteAlias act on it, so the caller must be authorized on
    /// it. Names that are not alias names are left to the domain, which answers with AWS's validation errors.
    /// </summary>
    private static KeyBinding<TRequest> CurrentTarget<TRequest>(Func<TRequest, string?> aliasName) => new()
    {
        Member = AliasName,
        Identifier = r => CustomerAlias(aliasName(r)),
        Forms = KeyIdentifierForms.AliasName,
        Optional = true,
    };

    /// <summary>The name when it is a customer alias name (alias/..., not alias/aws/...); others are left to the domain's validation.</summary>
    private static string? CustomerAlias(string? name) =>
        name is not null && name.StartsWith("alias/", StringComparison.Ordinal)
            && !name.StartsWith("alias/aws/", StringComparison.Ordinal) && name.Length > "alias/".Length ? name : null;

    private ValueTask<ListAliasesResponse> ListAliases(OperationContext<ListAliasesRequest> context)
    {
        var aliases = aliasService.ListAliases(context.Scope, context.OptionalKey(KeyId)?.KeyId);
        var page = Paging.Take(aliases, a => a.AliasName, context.Request.Marker, context.Request.Limit, defaultLimit: 50, maxLimit: 100);
        return ValueTask.FromResult(new ListAliasesResponse
        {
            Aliases = page.Items.Select(a => new AliasListEntry
            {
                AliasName = a.AliasName,
                AliasArn = a.Arn,
                TargetKeyId = a.TargetKeyId,
                CreationDate = a.CreationDate,
                LastUpdatedDate = a.LastUpdatedDate,
            }).ToList(),
            NextMarker = page.NextMarker,
            Truncated = page.Truncated,
        });
    }
}
