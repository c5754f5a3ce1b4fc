using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Protocol;

namespace KmsEmulator.Api.Pipeline;

/// <summary>
/// A typed operation row. <see cref="ExecuteAsync"/> is the fixed pipeline order:
/// deserialize → validate shape → resolve keys → key state → key usage → authorize → DryRun → handler → serialize.
/// Handlers never repeat any of these steps.
/// </summary>
public sealed class Operation<TRequest, TResponse> : OperationDescriptor
    where TRequest : class, IValidatable
    where TResponse : class
{
    private static readonly JsonTypeInfo<TRequest> RequestType = (JsonTypeInfo<TRequest>)KmsJsonContext.Default.GetTypeInfo(typeof(TRequest))!;
    private static readonly JsonTypeInfo<TResponse> ResponseType = (JsonTypeInfo<TResponse>)KmsJsonContext.Default.GetTypeInfo(typeof(TResponse))!;

    private readonly Func<OperationContext<TRequest>, ValueTask<TResponse>> _handler;
    private readonly KeyResolver _resolver;
    private readonly IAuthorizer _authorizer;

    public Operation(KmsOperation operation, Func<OperationContext<TRequest>, ValueTask<TResponse>> handler, PipelineServices services)
        : base(operation)
    {
        _handler = handler;
        _resolver = services.Resolver;
        _authorizer = services.Authorizer;
    }

    public override bool Implemented => true;

    public IReadOnlyList<KeyBinding<TRequest>> Keys { get; init; } = [];

    /// <summary>The key usage every bound key must have (ENCRYPT_DECRYPT for Encrypt, ...), or null.</summary>
    public KeyUsageType? RequiredUsage { get; init; }

    /// <summary>Reads the request's DryRun flag, for the operations that take one.</summary>
    public Func<TRequest, bool?>? DryRun { get; init; }

    public override async ValueTask<OperationResult> ExecuteAsync(KmsRequestContext context, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        var request = Deserialize(body.Span);
        TResponse? response = null;
        try
        {
            var errors = new ValidationErrors();
            request.Validate(errors, string.Empty);
            if (errors.Count > 0)
            {
                throw KmsErrors.Validation(errors.ToMessage());
            }

            var operationContext = new OperationContext<TRequest>(request, context, cancellationToken);
            foreach (var binding in Keys)
            {
                Bind(operationContext, binding);
            }

            var bound = operationContext.BoundKeys.ToList();
            await _authorizer.AuthorizeAsync(context, bound, cancellationToken);
            if (DryRun?.Invoke(request) == true)
            {
                throw KmsErrors.DryRun();
            }

            response = await _handler(operationContext);
            var keyId = bound.Count > 0 ? bound[0].Key.KeyId : null;
            return new OperationResult(JsonSerializer.SerializeToUtf8Bytes(response, ResponseType), keyId);
        }
        finally
        {
            (request as ISensitiveShape)?.ClearSensitive();
            (response as ISensitiveShape)?.ClearSensitive();
        }
    }

    private static TRequest Deserialize(ReadOnlySpan<byte> body)
    {
        try
        {
            return JsonSerializer.Deserialize(body, RequestType) ?? throw KmsErrors.Serialization("The request body must be a JSON object, not null.");
        }
        catch (JsonException e)
        {
            throw KmsErrors.Serialization(RequestBodyErrors.Describe(e));
        }
    }

    private void Bind(OperationContext<TRequest> context, KeyBinding<TRequest> binding)
    {
        var identifier = binding.Identifier(context.Request);
        ResolvedKey? resolved = identifier is null ? null : _resolver.Resolve(identifier, context.Scope, binding.Forms);

        if (binding.Ciphertext is { } readCiphertext)
        {
            var blob = readCiphertext(context.Request) ?? throw KmsErrors.Validation("1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null");
            if (!SymmetricCiphertext.TryParse(blob, out var ciphertext))
            {
                throw KmsErrors.InvalidCiphertext();
            }

            if (resolved is null)
            {
                var key = _resolver.FindForCiphertext(ciphertext, context.Scope) ?? throw KmsErrors.CiphertextKeyNotAccessible();
                resolved = new ResolvedKey(key, null);
            }
            else if (resolved.Key.KeyId != ciphertext.KeyId)
            {
                throw KmsErrors.IncorrectKey();
            }

            context.Bind(binding.Member, ciphertext);
        }

        if (resolved is null)
        {
            if (binding.Optional)
            {
                return;
            }

            throw KmsErrors.Validation($"1 validation error detected: Value null at '{char.ToLowerInvariant(binding.Member[0])}{binding.Member[1..]}' failed to satisfy constraint: Member must not be null");
        }

        KeyStateRules.Check(binding.StateRule, resolved.Key);
        if (RequiredUsage is { } usage && resolved.Key.KeyUsage != usage)
        {
            throw KmsErrors.InvalidKeyUsage(resolved.Key.Arn, resolved.Key.KeyUsage.ToWire(), Operation.Name());
        }

        context.Bind(binding.Member, resolved);
    }
}
