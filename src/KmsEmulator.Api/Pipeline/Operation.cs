using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Generated.Runtime;
using KmsEmulator.Api.Keys;
using KmsEmulator.Policy;

namespace KmsEmulator.Api.Pipeline;

/// <summary>
/// A typed operation row. <see cref="ExecuteAsync"/> is the fixed pipeline order:
/// deserialize → validate shape and grant tokens → catch up with a shared store → resolve keys → key state → key usage → authorize → checks → DryRun → handler → serialize.
/// Handlers never repeat any of these steps.
/// </summary>
public sealed class Operation<TRequest, TResponse> : OperationDescriptor
    where TRequest : class, IValidatable
    where TResponse : class
{
    private static readonly JsonTypeInfo<TRequest> RequestType = (JsonTypeInfo<TRequest>)KmsJsonContext.Default.GetTypeInfo(typeof(TRequest))!;
    private static readonly JsonTypeInfo<TResponse> ResponseType = (JsonTypeInfo<TResponse>)KmsJsonContext.Default.GetTypeInfo(typeof(TResponse))!;

    private readonly OperationRow<TRequest, TResponse> _row;
    private readonly KeyResolver _resolver;
    private readonly IAuthorizer _authorizer;
    private readonly CatalogSync? _sync;

    /// <summary>Whether a success counts as a use of the bound keys for GetKeyLastUsage (the model's tracked operations).</summary>
    private readonly bool _trackedUse;

    public Operation(KmsOperation operation, OperationRow<TRequest, TResponse> row, PipelineServices services)
        : base(operation)
    {
        _row = row;
        _resolver = services.Resolver;
        _authorizer = services.Authorizer;
        _sync = services.Sync;
        _trackedUse = Enum.TryParse<KeyLastUsageTrackingOperation>(operation.Name(), out _);
    }

    /// <summary>The row this operation runs from.</summary>
    public OperationRow<TRequest, TResponse> Row => _row;

    public override bool Implemented => true;

    public override bool CrossAccount => _row.CrossAccount;

    public override bool TakesGrantTokens { get; } = typeof(IGrantTokenRequest).IsAssignableFrom(typeof(TRequest));

    public override bool TakesDryRun => _row.DryRun is not null;

    public override bool ReadOnly => _row.Audit.ReadOnly;

    public IReadOnlyList<KeyBinding<TRequest>> Keys => _row.Keys;

    public override IReadOnlyDictionary<string, string>? EncryptionContextOf(object request, string action) =>
        _row.EncryptionContext?.Invoke((TRequest)request, action);

    public override void AddConditionKeys(object request, string action, ContextKeys.Builder keys) =>
        _row.ConditionKeys?.Invoke((TRequest)request, action, keys);

    public override async ValueTask<OperationResult> ExecuteAsync(KmsRequestContext context, ReadOnlyMemory<byte> body, AuditFacts audit, CancellationToken cancellationToken)
    {
        var request = Deserialize(body.Span);
        TResponse? response = null;
        try
        {
            // The record keeps the parameters of invalid requests too, so the projection runs before validation; a
            // request too malformed to project (null list elements, ...) is recorded without them and fails validation.
            Exception? projectionFailure = null;
            try
            {
                audit.RequestParameters = _row.Audit.Request(request);
            }
            catch (Exception e) when (e is NullReferenceException or InvalidOperationException or ArgumentException)
            {
                projectionFailure = e;
            }

            var errors = new ValidationErrors();
            request.Validate(errors, string.Empty);
            if (errors.Count > 0)
            {
                throw KmsErrors.ConstraintsViolated(errors);
            }

            if (projectionFailure is not null)
            {
                // A valid request the row cannot project is a bug in the row: answer KMSInternalException, not a record without parameters.
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(projectionFailure);
            }

            if (request is IGrantTokenRequest { GrantTokens: { Count: > 0 } grantTokens })
            {
                GrantToken.ValidateAll(grantTokens);
            }

            // With a store other emulators write to: everything this request reads of keys, aliases, grants and
            // policies below must include every write acknowledged before it arrived (a no-op otherwise).
            if (_sync is not null)
            {
                await _sync.CatchUpAsync(cancellationToken);
            }

            foreach (var binding in Keys)
            {
                if (binding.Identifier(request) is { } named)
                {
                    await _resolver.PrepareAsync(named, context.Scope, binding.Forms, cancellationToken);
                }
            }

            var operationContext = new OperationContext<TRequest>(request, context, cancellationToken);
            var accesses = new List<KeyAccess>(Keys.Count);
            ResolvedKey? first = null;
            foreach (var binding in Keys)
            {
                if (Bind(operationContext, binding, audit) is { } access)
                {
                    first ??= access.Key;
                    if (binding.Authorize)
                    {
                        accesses.Add(access);
                    }
                }
            }

            var alias = _row.Alias?.Invoke(request);
            if (alias is not null)
            {
                audit.AddResource(context.Scope.AccountId, context.Scope.AliasArn(alias));
            }

            var authorized = new OperationRequest(this, request);
            await _authorizer.AuthorizeAsync(context, authorized, Action, accesses, cancellationToken);
            if (alias is not null)
            {
                _authorizer.AuthorizeWithoutKey(context, authorized, Action, context.Scope.AliasArn(alias));
            }

            _row.Check?.Invoke(operationContext);
            if (_row.DryRun?.Invoke(request) == true)
            {
                if (_row.DryRunValidation is { } validate)
                {
                    await validate(operationContext);
                }

                throw KmsErrors.DryRun();
            }

            response = await _row.Handler(operationContext);
            audit.ResponseElements = _row.Audit.Response(response);
            if (_row.Audit.ResponseKeyArn?.Invoke(response) is { } created && Arn.TryParse(created, out var arn))
            {
                audit.AddResource(arn.Account, created);
            }

            if (_trackedUse)
            {
                audit.UsedKeyArns = [.. Keys.Select(b => operationContext.OptionalKey(b.Member)?.Arn).OfType<string>().Distinct()];
            }

            return new OperationResult(JsonSerializer.SerializeToUtf8Bytes(response, ResponseType), first?.Key.KeyId);
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
            return JsonSerializer.Deserialize(body, RequestType) ?? throw KmsErrors.RequestBodyNull();
        }
        catch (JsonException e)
        {
            throw KmsErrors.RequestBodyMalformed(RequestBodyErrors.Describe(e));
        }
    }

    /// <summary>Resolves one binding and checks state and usage; returns what authorization must allow, or null for an absent optional key.</summary>
    private KeyAccess? Bind(OperationContext<TRequest> context, KeyBinding<TRequest> binding, AuditFacts audit)
    {
        var identifier = binding.Identifier(context.Request);
        ResolvedKey? resolved = identifier is null ? null : _resolver.Resolve(identifier, context.Scope, binding.Forms);

        if (binding.Ciphertext is not null && binding.IgnoreCiphertext?.Invoke(context.Request) == true)
        {
            if (resolved is null)
            {
                throw KmsErrors.IgnoreCiphertextNeedsKey(binding.Member);
            }
        }
        else if (binding.Ciphertext is { } readCiphertext)
        {
            var blob = readCiphertext(context.Request) ?? throw KmsErrors.RequiredMemberMissing(nameof(DecryptRequest.CiphertextBlob));
            resolved = BindCiphertext(context, binding.Member, blob, resolved);
        }

        if (resolved is null)
        {
            if (binding.Optional)
            {
                return null;
            }

            throw KmsErrors.RequiredMemberMissing(binding.Member);
        }

        audit.AddResource(resolved.Key.Scope.AccountId, resolved.Key.Arn);
        KeyStateRules.Check(binding.StateRule, resolved.Key);
        if (_row.RequiredUsage is { } usage && resolved.Key.KeyUsage != usage)
        {
            throw KmsErrors.InvalidKeyUsage(resolved.Key.Arn, resolved.Key.KeyUsage.ToWire(), Operation.Name());
        }

        context.Bind(binding.Member, resolved);
        return new KeyAccess(resolved, binding.Action ?? Action, binding.GrantOperation ?? Operation.Name(), FromCiphertext: identifier is null && binding.Ciphertext is not null);
    }

    /// <summary>
    /// Binds the ciphertext of Decrypt or ReEncrypt and returns the key it belongs to. A key whose ciphertexts are raw
    /// RSA output (named by KeyId, which the blob cannot carry) gets the blob as it is; otherwise the blob must be the
    /// symmetric format, whose header names the key: the named key must be that key (IncorrectKeyException), and
    /// without a KeyId the header finds it.
    /// </summary>
    private ResolvedKey BindCiphertext(OperationContext<TRequest> context, string member, byte[] blob, ResolvedKey? named)
    {
        if (named is not null && KeySpecCapabilities.For(named.Key.KeySpec).HasRawCiphertexts)
        {
            context.Bind(member, new KeyCiphertext(blob, null));
            return named;
        }

        if (!SymmetricCiphertext.TryParse(blob, out var ciphertext))
        {
            throw KmsErrors.InvalidCiphertext();
        }

        var resolved = named;
        if (resolved is null)
        {
            var key = _resolver.FindForCiphertext(ciphertext, context.Scope) ?? throw KmsErrors.CiphertextKeyNotAccessible();
            if (KeySpecCapabilities.For(key.KeySpec).HasRawCiphertexts)
            {
                // Only a forged blob names an RSA key: its ciphertexts are never in the symmetric format.
                throw KmsErrors.InvalidCiphertext();
            }

            resolved = new ResolvedKey(key, null);
        }
        else if (resolved.Key.KeyId != ciphertext.KeyId)
        {
            throw KmsErrors.IncorrectKey();
        }

        context.Bind(member, new KeyCiphertext(blob, ciphertext));
        return resolved;
    }
}
