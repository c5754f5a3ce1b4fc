using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Pipeline;

namespace KmsEmulator.Api.Operations;

/// <summary>
/// GetParametersForImport, ImportKeyMaterial, DeleteImportedKeyMaterial: bring-your-own key material for keys created
/// with Origin EXTERNAL (<see cref="KeyImportService"/>). Their audit records never hold the import token, the public
/// key or the wrapped material.
/// </summary>
public sealed class ImportOperations(KeyImportService imports, TimeProvider clock) : IOperationGroup
{
    private const string KeyId = nameof(GetParametersForImportRequest.KeyId);

    public void Register(OperationTable.Builder table)
    {
        table.Add(KmsOperation.GetParametersForImport, new OperationRow<GetParametersForImportRequest, GetParametersForImportResponse>
        {
            Handler = async c =>
            {
                var key = c.Key(KeyId);
                var (publicKey, token, validTo) = await imports.GetParametersAsync(
                    key, ParseWrappingKeySpec(c.Request.WrappingKeySpec), ParseAlgorithm(c.Request.WrappingAlgorithm), c.CancellationToken);
                return new GetParametersForImportResponse { KeyId = key.Arn, ImportToken = token, PublicKey = publicKey, ParametersValidTo = validTo };
            },
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, Forms = KeyIdentifierForms.KeyIdOrArn, StateRule = KeyStateRule.Import }],
            CrossAccount = false,
            Check = c =>
            {
                KeyImportService.CheckImportable(c.Key(KeyId));
                KeyImportService.WrappingSpecOf(ParseWrappingKeySpec(c.Request.WrappingKeySpec));
                KeyImportService.WrappingAlgorithmOf(ParseAlgorithm(c.Request.WrappingAlgorithm));
                KeyImportService.CheckWrappingFits(c.Key(KeyId), ParseAlgorithm(c.Request.WrappingAlgorithm));
            },
            Audit = new()
            {
                ReadOnly = true,
                Request = r => AuditJson.Fields(("keyId", r.KeyId), ("wrappingAlgorithm", r.WrappingAlgorithm), ("wrappingKeySpec", r.WrappingKeySpec)),
            },
        });
        table.Add(KmsOperation.ImportKeyMaterial, new OperationRow<ImportKeyMaterialRequest, ImportKeyMaterialResponse>
        {
            Handler = async c =>
            {
                var r = c.Request;
                var (key, materialId) = await imports.ImportAsync(
                    c.Key(KeyId),
                    new ImportRequest(r.ImportToken!, r.EncryptedKeyMaterial!, ExpirationModelOf(r), r.ValidTo, ImportTypeOf(r), r.KeyMaterialDescription, r.KeyMaterialId),
                    c.CancellationToken);
                return new ImportKeyMaterialResponse
                {
                    KeyId = key.Arn,
                    KeyMaterialId = KeySpecCapabilities.For(key.KeySpec).HasKeyMaterialIds ? materialId : null,
                };
            },
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, Forms = KeyIdentifierForms.KeyIdOrArn, StateRule = KeyStateRule.Import }],
            CrossAccount = false,
            Check = c =>
            {
                KeyImportService.CheckImportable(c.Key(KeyId));
                var r = c.Request;
                KeyImportService.CheckExpiration(ExpirationModelOf(r), r.ValidTo, ImportTypeOf(r), r.KeyMaterialId, clock.GetUtcNow());
            },
            Audit = new()
            {
                ReadOnly = false,
                Request = r => AuditJson.Fields(
                    ("keyId", r.KeyId), ("validTo", r.ValidTo), ("expirationModel", r.ExpirationModel), ("importType", r.ImportType),
                    ("keyMaterialDescription", r.KeyMaterialDescription), ("keyMaterialId", r.KeyMaterialId)),
                Response = r => AuditJson.Fields(("keyMaterialId", r.KeyMaterialId)),
            },
        });
        table.Add(KmsOperation.DeleteImportedKeyMaterial, new OperationRow<DeleteImportedKeyMaterialRequest, DeleteImportedKeyMaterialResponse>
        {
            Handler = async c =>
            {
                var key = await imports.DeleteMaterialAsync(c.Key(KeyId), c.Request.KeyMaterialId, c.CancellationToken);
                return new DeleteImportedKeyMaterialResponse
                {
                    KeyId = key.Arn,
                    KeyMaterialId = KeySpecCapabilities.For(key.KeySpec).HasKeyMaterialIds ? key.CurrentMaterial?.MaterialId : null,
                };
            },
            Keys = [new() { Member = KeyId, Identifier = r => r.KeyId, Forms = KeyIdentifierForms.KeyIdOrArn, StateRule = KeyStateRule.DeleteImportedMaterial }],
            CrossAccount = false,
            Check = c =>
            {
                var key = c.Key(KeyId);
                if (key.Origin != OriginType.EXTERNAL)
                {
                    throw KmsErrors.OriginNotValidForImport(key.Arn, key.Origin);
                }
            },
            Audit = new()
            {
                ReadOnly = false,
                Request = r => AuditJson.Fields(("keyId", r.KeyId), ("keyMaterialId", r.KeyMaterialId)),
                Response = r => AuditJson.Fields(("keyMaterialId", r.KeyMaterialId)),
            },
        });
    }

    // The model's enum validation has run before these: an unknown value cannot reach them.
    private static WrappingKeySpec ParseWrappingKeySpec(string? value) =>
        WrappingKeySpecWire.TryParse(value, out var spec) ? spec : throw KmsErrors.WrappingKeySpecNotSupported(value ?? string.Empty);

    private static AlgorithmSpec ParseAlgorithm(string? value) =>
        AlgorithmSpecWire.TryParse(value, out var algorithm) ? algorithm : throw KmsErrors.WrappingAlgorithmNotSupported(value ?? string.Empty);

    /// <summary>ExpirationModel defaults to KEY_MATERIAL_EXPIRES (the model's documentation).</summary>
    private static ExpirationModelType ExpirationModelOf(ImportKeyMaterialRequest request) =>
        ExpirationModelTypeWire.TryParse(request.ExpirationModel, out var model) ? model : ExpirationModelType.KEY_MATERIAL_EXPIRES;

    private static ImportType? ImportTypeOf(ImportKeyMaterialRequest request) =>
        ImportTypeWire.TryParse(request.ImportType, out var type) ? type : null;
}
