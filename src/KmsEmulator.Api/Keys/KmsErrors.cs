using KmsEmulator.Api.Generated;

namespace KmsEmulator.Api.Keys;

/// <summary>
/// The one catalogue of errors the emulator returns, with AWS's codes and wording.
/// Every error the caller can see is built here, so the texts stay consistent and reviewable.
/// </summary>
public static class KmsErrors
{
    public static KmsException Validation(string message) => new("ValidationException", message);

    public static KmsException Serialization(string message) => new("SerializationException", message);

    public static KmsException UnknownOperation(string? target) =>
        new("UnknownOperationException", target is null
            ? "The request has no X-Amz-Target header; KMS requests name their operation as X-Amz-Target: TrentService.<Operation>."
            : $"'{target}' is not an operation of this service; KMS requests name their operation as X-Amz-Target: TrentService.<Operation>.");

    public static KmsException NotImplemented(string operation) =>
        new("UnsupportedOperationException", $"{operation} is not implemented by KmsEmulator yet. See docs/compatibility.md for the operations it supports.");

    public static KmsException InvalidKeyId(string value) => new("NotFoundException", $"Invalid keyId '{value}'");

    public static KmsException KeyDoesNotExist(string keyArn) => new("NotFoundException", $"Key '{keyArn}' does not exist");

    public static KmsException AliasNotFound(string aliasArn) => new("NotFoundException", $"Alias {aliasArn} is not found.");

    public static KmsException InvalidArnRegion(string region) => new("NotFoundException", $"Invalid arn {region}");

    public static KmsException AliasAlreadyExists(string aliasArn) =>
        new("AlreadyExistsException", $"An alias with the name {aliasArn} already exists");

    public static KmsException AliasMissingPrefix() =>
        Validation("Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html");

    public static KmsException ReservedAlias(string aliasName) =>
        new("InvalidAliasNameException", $"{aliasName} is reserved for AWS managed keys; aliases that begin with alias/aws/ cannot be created, updated or deleted.");

    public static KmsException InvalidAliasName(string message) => new("InvalidAliasNameException", message);

    public static KmsException Disabled(string keyArn) => new("DisabledException", $"{keyArn} is disabled.");

    public static KmsException InvalidState(string message) => new("KMSInvalidStateException", message);

    public static KmsException IncorrectKey() =>
        new("IncorrectKeyException", "The key ID in the request does not identify a CMK that can perform this operation.");

    public static KmsException InvalidCiphertext() => new("InvalidCiphertextException", null);

    public static KmsException CiphertextKeyNotAccessible() =>
        new("AccessDeniedException",
            "The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access.");

    public static KmsException InvalidKeyUsage(string keyArn, string usage, string operation) =>
        new("InvalidKeyUsageException", $"{keyArn} key usage is {usage} which is not valid for {operation}.");

    public static KmsException InvalidKeyUsage(string message) => new("InvalidKeyUsageException", message);

    /// <summary>An encryption, signing, MAC or key agreement algorithm that the key spec does not offer.</summary>
    public static KmsException IncompatibleAlgorithm(string algorithm, KeySpec spec) =>
        InvalidKeyUsage($"Algorithm {algorithm} is incompatible with key spec {spec.ToWire()}.");

    public static KmsException EncryptionContextWithAsymmetricKey(KeySpec spec) =>
        Validation($"EncryptionContext is supported only with symmetric encryption KMS keys; a KMS key with key spec {spec.ToWire()} takes none.");

    public static KmsException NoPublicKey(string keyArn, KeySpec spec) =>
        Unsupported($"{keyArn} has key spec {spec.ToWire()}, which has no public key; GetPublicKey works only with asymmetric KMS keys.");

    public static KmsException UnsupportedKeySpec(KeySpec spec, string? reason) =>
        Unsupported($"KmsEmulator does not support KeySpec {spec.ToWire()}: {reason}");

    /// <summary>Verify with a signature that does not match; AWS sends it without a message.</summary>
    public static KmsException InvalidSignature() => new("KMSInvalidSignatureException", null);

    /// <summary>VerifyMac with a MAC that does not match; AWS sends it without a message.</summary>
    public static KmsException InvalidMac() => new("KMSInvalidMacException", null);

    /// <summary>DeriveSharedSecret with a malformed public key or one on another curve; AWS sends it without a message.</summary>
    public static KmsException InvalidPublicKey() => new("ValidationException", null);

    public static KmsException Unsupported(string? message) => new("UnsupportedOperationException", message);

    public static KmsException Tag(string message) => new("TagException", message);

    public static KmsException MalformedPolicy(string message) => new("MalformedPolicyDocumentException", message);

    public static KmsException InvalidMarker() => new("InvalidMarkerException", "The marker is not valid; pass the NextMarker value of the previous response unchanged.");

    public static KmsException DryRun() => new("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.");

    public static KmsException CustomKeyStoreNotFound() =>
        new("CustomKeyStoreNotFoundException", "KmsEmulator has no custom key stores; the CustomKeyStoreId names none.");

    public static KmsException PolicyNotFound() => new("NotFoundException", "No such policy exists");

    public static KmsException LimitExceeded(string message) => new("LimitExceededException", message);

    // ---------------------------------------------------------------- grants

    /// <summary>A grant token the emulator did not issue (or a damaged one).</summary>
    public static KmsException InvalidGrantToken() =>
        new("InvalidGrantTokenException", "The request was rejected because the specified grant token is not valid.");

    /// <summary>A GrantId that is not a grant id (64 lowercase hex digits).</summary>
    public static KmsException InvalidGrantId(string grantId) =>
        new("InvalidGrantIdException", $"Invalid grantId '{grantId}'");

    /// <summary>A well-formed grant id (or the grant of a valid token) that names no grant of the key.</summary>
    public static KmsException GrantNotFound(string grantId) => new("NotFoundException", $"Grant ID {grantId} not found");

    /// <summary>AWS's recorded wording for a grant whose only operation is CreateGrant.</summary>
    public static KmsException GrantOnlyCreateGrant() => Validation("Grants must not contain only the CreateGrant operation.");

    /// <summary>AWS's recorded wording for a request with both EncryptionContextEquals and EncryptionContextSubset.</summary>
    public static KmsException MoreThanOneGrantConstraint() => Validation("More than one constraint supplied");

    public static KmsException GrantOperationsNotValidForKey(IEnumerable<string> operations, KeySpec spec, KeyUsageType usage) =>
        Validation($"Grant operations [{string.Join(", ", operations)}] are not valid for a KMS key with key spec {spec.ToWire()} and key usage {usage.ToWire()}.");

    public static KmsException GrantConstraintsNeedSymmetricKey(KeySpec spec) =>
        Validation($"Encryption context grant constraints are supported only with symmetric encryption KMS keys; a KMS key with key spec {spec.ToWire()} takes none.");

    public static KmsException GrantLimitExceeded(string keyArn, int limit) =>
        LimitExceeded($"The grant quota for {keyArn} has been reached: a KMS key can have at most {limit} grants.");

    public static KmsException KeyUnavailable() =>
        new("KeyUnavailableException", "The key material is not available in the HSM.");

    public static KmsException Internal(string requestId) =>
        new("KMSInternalException", $"The request processing has failed because of an unknown error, exception or failure. Request id: {requestId}");
}
