using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Pipeline;

namespace KmsEmulator.Api.Operations;

/// <summary>
/// GetKeyLastUsage: the last successful cryptographic use of a key, from the audit trail (a use counts as soon as its
/// request has answered; after a restart the trail's index remembers it).
/// </summary>
public sealed class KeyUsageOperations(KeyUsageTracker usage) : IOperationGroup
{
    private const string KeyId = nameof(GetKeyLastUsageRequest.KeyId);

    public void Register(OperationTable.Builder table) =>
        table.Add(KmsOperation.GetKeyLastUsage, new OperationRow<GetKeyLastUsageRequest, GetKeyLastUsageResponse>
        {
            Handler = GetKeyLastUsage,
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, Forms = KeyIdentifierForms.KeyIdOrArn }],
            CrossAccount = false,
            Audit = new() { ReadOnly = true, Request = r => AuditJson.Fields(("keyId", r.KeyId)) },
        });

    private async ValueTask<GetKeyLastUsageResponse> GetKeyLastUsage(OperationContext<GetKeyLastUsageRequest> context)
    {
        var key = context.Key(KeyId);
        var last = await usage.LastAsync(key.Arn, context.CancellationToken);
        var trackingStart = usage.TrackingStart > key.CreationDate ? usage.TrackingStart : key.CreationDate;

        // A use from before this key existed would belong to an earlier key with the same ARN (a restored store).
        var counted = last is not null && last.Timestamp >= key.CreationDate ? last : null;
        return new GetKeyLastUsageResponse
        {
            KeyId = key.KeyId,
            KeyCreationDate = key.CreationDate,
            TrackingStartDate = trackingStart,
            KeyLastUsage = counted is null
                ? new KeyLastUsageData()
                : new KeyLastUsageData
                {
                    Operation = counted.Operation,
                    Timestamp = counted.Timestamp,
                    CloudTrailEventId = counted.CloudTrailEventId,
                    KmsRequestId = counted.KmsRequestId,
                },
        };
    }
}
