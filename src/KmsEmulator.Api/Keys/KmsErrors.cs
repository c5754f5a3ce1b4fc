using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Generated.Runtime;

namespace KmsEmulator.Api.Keys;

/// <summary>
/// The one catalogue of errors the emulator returns, with AWS's codes and wording. Every error the caller can see is
/// built here, by a factory named for what went wrong; callers pass only the variable parts, never a text. The generic
/// builders are private so inline texts cannot come back, and a test (<c>ErrorCatalogueTests</c> in
/// KmsEmulator.Api.Tests) fails when code elsewhere constructs a <see cref="KmsException"/> or passes a text to a factory.
/// </summary>
public static class KmsErrors
{
    // Codes the KMS model does not declare: the AWS JSON protocol's own and the SigV4 front end's.
    private const string ValidationException = "ValidationException";
    private const string SerializationException = "SerializationException";
    private const string AccessDeniedException = "AccessDeniedException";
    private const string UnknownOperationException = "UnknownOperationException";
    private const string IncompleteSignatureException = "IncompleteSignatureException";
    private const string InvalidSignatureException = "InvalidSignatureException";
    private const string MissingAuthenticationTokenException = "MissingAuthenticationTokenException";
    private const string ExpiredTokenException = "ExpiredTokenException";
    private const string UnrecognizedClientException = "UnrecognizedClientException";

    private const string TargetHint = "KMS requests name their operation as X-Amz-Target: TrentService.<Operation>.";

    private static KmsException Validation(string message) => new(ValidationException, message);

    private static KmsException Serialization(string message) => new(SerializationException, message);

    private static KmsException InvalidState(string message) => new(KmsErrorCodes.KMSInvalidStateException, message);

    private static KmsException InvalidKeyUsage(string message) => new(KmsErrorCodes.InvalidKeyUsageException, message);

    private static KmsException Unsupported(string? message) => new(KmsErrorCodes.UnsupportedOperationException, message);

    private static KmsException Tag(string message) => new(KmsErrorCodes.TagException, message);

    private static KmsException MalformedPolicy(string message) => new(KmsErrorCodes.MalformedPolicyDocumentException, message);

    private static KmsException LimitExceeded(string message) => new(KmsErrorCodes.LimitExceededException, message);

    private static KmsException InvalidAliasName(string message) => new(KmsErrorCodes.InvalidAliasNameException, message);

    private static KmsException SigV4Incomplete(string message, string? authorization) =>
        new(IncompleteSignatureException, authorization is null ? message : $"{message} Authorization={authorization}");

    private static KmsException SigV4Invalid(string message) => new(InvalidSignatureException, message);

    // ---------------------------------------------------------------- protocol and authentication

    public static KmsException UnknownOperation(string? target) =>
        new(UnknownOperationException, target is null
            ? $"The request has no X-Amz-Target header; {TargetHint}"
            : $"'{target}' is not an operation of this service; {TargetHint}");

    /// <summary>A request with another HTTP method than POST.</summary>
    public static KmsException MethodNotPost(string method) =>
        new(UnknownOperationException, $"KMS takes POST requests to /, not {method}.");

    public static KmsException NotImplemented(string operation) =>
        Unsupported($"{operation} is not implemented by KmsEmulator yet. See docs/compatibility.md for the operations it supports.");

    /// <summary>Kestrel could not read the body (truncated, malformed chunks); <paramref name="reason"/> is its message.</summary>
    public static KmsException RequestBodyUnreadable(string reason) => Serialization($"The request body could not be read: {reason}");

    public static KmsException RequestBodyShorterThanContentLength() => Serialization("The request body is shorter than its Content-Length.");

    public static KmsException RequestBodyEmpty() => Serialization("The request body is empty; KMS requests carry a JSON object, at least {}.");

    public static KmsException RequestBodyTooLarge(int maxBytes) =>
        Serialization($"The request body is larger than the {maxBytes} bytes KmsEmulator accepts.");

    public static KmsException RequestBodyNull() => Serialization("The request body must be a JSON object, not null.");

    /// <summary>A body that is not JSON of the request's shape; <paramref name="description"/> is <c>Pipeline/RequestBodyErrors</c>' account, naming the member.</summary>
    public static KmsException RequestBodyMalformed(string description) => Serialization(description);

    public static KmsException MissingAuthenticationToken() => new(MissingAuthenticationTokenException, "Missing Authentication Token");

    public static KmsException UnsupportedSigningAlgorithm(string algorithm, string accepted, string authorization) =>
        SigV4Incomplete($"Unsupported AWS 'algorithm': '{algorithm}'. Only {accepted} is accepted.", authorization);

    public static KmsException AuthorizationPairWithoutEquals(string part, string authorization) =>
        SigV4Incomplete($"'{part}' not a valid key=value pair (missing equal-sign) in Authorization header: '{authorization}'.", null);

    public static KmsException AuthorizationParameterMissing(string name, string authorization) =>
        SigV4Incomplete($"Authorization header requires '{name}' parameter.", authorization);

    public static KmsException CredentialScopeMalformed(string credential, string authorization) =>
        SigV4Incomplete($"Credential should be scoped to a valid region and service, in the form <AccessKeyId>/<yyyyMMdd>/<region>/kms/aws4_request, not '{credential}'.", authorization);

    public static KmsException CredentialScopeWrongService(string service, string authorization) =>
        SigV4Invalid($"Credential should be scoped to correct service: '{service}'. Authorization={authorization}");

    public static KmsException CredentialScopeInvalidRegion(string region) =>
        SigV4Invalid($"Credential should be scoped to a valid region, not '{region}'.");

    public static KmsException RequestDateMalformed(string amzDate) =>
        SigV4Incomplete($"Date must be in ISO-8601 'basic format'. Got '{amzDate}'. See http://en.wikipedia.org/wiki/ISO_8601", null);

    public static KmsException RequestDateMissing(string authorization) =>
        SigV4Incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.", authorization);

    public static KmsException HeadersNotSigned(IEnumerable<string> missing, IEnumerable<string> signedHeaders) =>
        new(IncompleteSignatureException, $"The request signature does not sign the header(s) {string.Join(", ", missing)}, which must be signed. SignedHeaders={string.Join(';', signedHeaders)}");

    public static KmsException CredentialDateMismatch(string scopeDate, string requestDate, string requestTime) =>
        SigV4Invalid($"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{scopeDate}' != '{requestDate}', from '{requestTime}'.");

    public static KmsException SignatureExpired(string requestTime, string earliest, string now, int minutes) =>
        SigV4Invalid($"Signature expired: {requestTime} is now earlier than {earliest} ({now} - {minutes} min.)");

    public static KmsException SignatureNotYetCurrent(string requestTime, string latest, string now, int minutes) =>
        SigV4Invalid($"Signature not yet current: {requestTime} is still later than {latest} ({now} + {minutes} min.)");

    public static KmsException SignatureDoesNotMatch() =>
        SigV4Invalid("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.");

    public static KmsException SecurityTokenExpired() => new(ExpiredTokenException, "The security token included in the request is expired");

    public static KmsException UnrecognizedClient() => new(UnrecognizedClientException, "The security token included in the request is invalid.");

    /// <summary>A request the policies do not allow; <paramref name="decision"/> is the policy engine's AWS-worded explanation.</summary>
    public static KmsException AccessDenied(string decision) => new(AccessDeniedException, decision);

    public static KmsException CiphertextKeyNotAccessible() =>
        new(AccessDeniedException,
            "The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access.");

    public static KmsException DryRun() => new(KmsErrorCodes.DryRunOperationException, "The request would have succeeded, but the DryRun option is set.");

    public static KmsException Internal(string requestId) =>
        new(KmsErrorCodes.KMSInternalException, $"The request processing has failed because of an unknown error, exception or failure. Request id: {requestId}");

    // ---------------------------------------------------------------- validation

    /// <summary>Constraint violations found by the generated request validators, in AWS's validator wording.</summary>
    public static KmsException ConstraintsViolated(ValidationErrors errors) => Validation(errors.ToMessage());

    /// <summary>A required member that is absent; <paramref name="member"/> is its PascalCase name, the text uses camelCase as AWS does.</summary>
    public static KmsException RequiredMemberMissing(string member) =>
        Validation($"1 validation error detected: Value null at '{char.ToLowerInvariant(member[0])}{member[1..]}' failed to satisfy constraint: Member must not be null");

    public static KmsException IgnoreCiphertextNeedsKey(string member) =>
        Validation($"{member} is required when DryRunModifiers contains IGNORE_CIPHERTEXT.");

    public static KmsException NumberOfBytesRequired() => Validation("NumberOfBytes is required.");

    /// <summary>Both or neither of KeySpec and NumberOfBytes; AWS answers both mistakes with one text.</summary>
    public static KmsException DataKeyLengthAmbiguous() => Validation("Please specify either number of bytes or key spec.");

    public static KmsException PendingWindowOutOfRange() => Validation("PendingWindowInDays must be between 7 and 30");

    public static KmsException KeySpecConflict() =>
        Validation("KeySpec and CustomerMasterKeySpec name different specs; send only KeySpec (CustomerMasterKeySpec is deprecated).");

    public static KmsException UnknownKeySpec(string keySpec) => Validation($"Unknown KeySpec {keySpec}.");

    public static KmsException KeyUsageRequired() =>
        Validation("You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.");

    public static KmsException UnknownKeyUsage(string keyUsage) => Validation($"Unknown KeyUsage {keyUsage}.");

    public static KmsException KeyUsageIncompatibleWithKeySpec(KeyUsageType usage, KeySpec spec) =>
        Validation($"KeyUsage {usage.ToWire()} is not compatible with KeySpec {spec.ToWire()}");

    public static KmsException UnknownKeyPairSpec(string keyPairSpec) => Validation($"Unknown KeyPairSpec {keyPairSpec}.");

    public static KmsException UnknownMessageType(string messageType) => Validation($"Unknown MessageType {messageType}.");

    public static KmsException ExternalMuNeedsMlDsa() =>
        Validation($"MessageType EXTERNAL_MU is valid only with the {SigningAlgorithmSpec.ML_DSA_SHAKE_256.ToWire()} signing algorithm.");

    public static KmsException MessageTypeNotValidForAlgorithm(SigningAlgorithmSpec algorithm, IEnumerable<MessageType> allowed) =>
        Validation($"The {algorithm.ToWire()} signing algorithm requires MessageType {string.Join(" or ", allowed.Select(t => t.ToWire()))}.");

    public static KmsException DigestLengthInvalid(SigningAlgorithmSpec algorithm) =>
        Validation($"Digest is invalid length for algorithm {algorithm.ToWire()}.");

    public static KmsException PlaintextTooLarge(EncryptionAlgorithmSpec algorithm, KeySpec spec, int maximum) =>
        Validation($"Algorithm {algorithm.ToWire()} and key spec {spec.ToWire()} cannot encrypt data larger than {maximum} bytes.");

    public static KmsException EncryptionContextTooLarge(int maxBytes) =>
        Validation($"The encryption context is too large; KmsEmulator accepts at most {maxBytes} bytes of keys and values.");

    public static KmsException EncryptionContextWithAsymmetricKey(KeySpec spec) =>
        Validation($"EncryptionContext is supported only with symmetric encryption KMS keys; a KMS key with key spec {spec.ToWire()} takes none.");

    /// <summary>The HSM rejected the input (InvalidInput); its own message is not passed on.</summary>
    public static KmsException InputNotValidForKey() => Validation("The input is not valid for this key and algorithm.");

    /// <summary>DeriveSharedSecret with a malformed public key or one on another curve; AWS sends it without a message.</summary>
    public static KmsException InvalidPublicKey() => new(ValidationException, null);

    public static KmsException InvalidMarker() =>
        new(KmsErrorCodes.InvalidMarkerException, "The marker is not valid; pass the NextMarker value of the previous response unchanged.");

    // ---------------------------------------------------------------- keys, aliases, tags and state

    public static KmsException InvalidKeyId(string value) => new(KmsErrorCodes.NotFoundException, $"Invalid keyId '{value}'");

    public static KmsException KeyDoesNotExist(string keyArn) => new(KmsErrorCodes.NotFoundException, $"Key '{keyArn}' does not exist");

    public static KmsException InvalidArnRegion(string region) => new(KmsErrorCodes.NotFoundException, $"Invalid arn {region}");

    public static KmsException AliasNotFound(string aliasArn) => new(KmsErrorCodes.NotFoundException, $"Alias {aliasArn} is not found.");

    public static KmsException AliasAlreadyExists(string aliasArn) =>
        new(KmsErrorCodes.AlreadyExistsException, $"An alias with the name {aliasArn} already exists");

    public static KmsException AliasMissingPrefix() =>
        Validation("Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html");

    public static KmsException AliasNameEmpty() => InvalidAliasName("Alias name must have at least one character after \"alias/\".");

    public static KmsException ReservedAlias(string aliasName) =>
        InvalidAliasName($"{aliasName} is reserved for AWS managed keys; aliases that begin with alias/aws/ cannot be created, updated or deleted.");

    public static KmsException AliasTargetInOtherScope(string targetArn, string accountId, string region) =>
        Validation($"An alias and its KMS key must be in the same AWS account and Region; {targetArn} is not in {accountId} {region}.");

    public static KmsException AliasTargetTypeChange(string aliasArn, KeySpec currentSpec, KeyUsageType currentUsage, KeySpec newSpec, KeyUsageType newUsage) =>
        Validation(
            $"Alias {aliasArn} cannot be changed from a key of spec {currentSpec.ToWire()} and usage {currentUsage.ToWire()} " +
            $"to a key of spec {newSpec.ToWire()} and usage {newUsage.ToWire()}; the new key must have the same type and usage.");

    public static KmsException ReservedTagKey() => Tag("Tags beginning with aws: are reserved");

    public static KmsException DuplicateTagKeys() => Tag("Duplicate tag keys");

    public static KmsException TooManyTags() => Tag("Too many tags");

    public static KmsException Disabled(string keyArn) => new(KmsErrorCodes.DisabledException, $"{keyArn} is disabled.");

    public static KmsException KeyPendingDeletion(string keyArn) => InvalidState($"{keyArn} is pending deletion.");

    public static KmsException KeyNotPendingDeletion(string keyArn) => InvalidState($"{keyArn} is not pending deletion.");

    /// <summary>A key without key material (origin EXTERNAL before ImportKeyMaterial).</summary>
    public static KmsException KeyPendingImport(string keyArn) => InvalidState($"{keyArn} is pending import.");

    public static KmsException KeyStateUnavailable(string keyArn) => InvalidState($"{keyArn} is unavailable.");

    public static KmsException KeyCreating(string keyArn) => InvalidState($"{keyArn} is creating.");

    public static KmsException KeyUpdating(string keyArn) => InvalidState($"{keyArn} is updating.");

    public static KmsException KeyUnavailable() =>
        new(KmsErrorCodes.KeyUnavailableException, "The key material is not available in the HSM.");

    public static KmsException UnsupportedKeySpec(KeySpec spec, string? reason) =>
        Unsupported($"KmsEmulator does not support KeySpec {spec.ToWire()}: {reason}");

    public static KmsException XksKeyIdNotSupported() =>
        Unsupported("XksKeyId applies only to keys in an external key store, which KmsEmulator does not have.");

    public static KmsException CustomKeyStoreNotFound() =>
        new(KmsErrorCodes.CustomKeyStoreNotFoundException, "KmsEmulator has no custom key stores; the CustomKeyStoreId names none.");

    // ---------------------------------------------------------------- cryptography

    public static KmsException IncorrectKey() =>
        new(KmsErrorCodes.IncorrectKeyException, "The key ID in the request does not identify a CMK that can perform this operation.");

    public static KmsException InvalidCiphertext() => new(KmsErrorCodes.InvalidCiphertextException, null);

    public static KmsException InvalidKeyUsage(string keyArn, string usage, string operation) =>
        InvalidKeyUsage($"{keyArn} key usage is {usage} which is not valid for {operation}.");

    /// <summary>An encryption, signing, MAC or key agreement algorithm that the key spec does not offer.</summary>
    public static KmsException IncompatibleAlgorithm(string algorithm, KeySpec spec) =>
        InvalidKeyUsage($"Algorithm {algorithm} is incompatible with key spec {spec.ToWire()}.");

    public static KmsException NoPublicKey(string keyArn, KeySpec spec) =>
        Unsupported($"{keyArn} has key spec {spec.ToWire()}, which has no public key; GetPublicKey works only with asymmetric KMS keys.");

    /// <summary>A signing algorithm the emulator's HSM lacks; <paramref name="reason"/> is the capability table's explanation.</summary>
    public static KmsException SigningAlgorithmNotSupported(string? reason) => Unsupported(reason);

    public static KmsException DataKeyPairNotSupported(string keyPairSpec, string? reason) =>
        Unsupported($"KmsEmulator cannot generate {keyPairSpec} data key pairs: {reason}");

    public static KmsException RecipientNotSupported() =>
        Unsupported("KmsEmulator does not support Recipient (AWS Nitro Enclaves attestation).");

    /// <summary>The HSM does not support the mechanism (Unsupported); its own message is not passed on.</summary>
    public static KmsException HsmCannotPerform() => Unsupported("The HSM cannot perform this operation with this key and algorithm.");

    /// <summary>Verify with a signature that does not match; AWS sends it without a message.</summary>
    public static KmsException InvalidSignature() => new(KmsErrorCodes.KMSInvalidSignatureException, null);

    /// <summary>VerifyMac with a MAC that does not match; AWS sends it without a message.</summary>
    public static KmsException InvalidMac() => new(KmsErrorCodes.KMSInvalidMacException, null);

    // ---------------------------------------------------------------- grants

    /// <summary>A grant token the emulator did not issue (or a damaged one).</summary>
    public static KmsException InvalidGrantToken() =>
        new(KmsErrorCodes.InvalidGrantTokenException, "The request was rejected because the specified grant token is not valid.");

    /// <summary>A GrantId that is not a grant id (64 lowercase hex digits).</summary>
    public static KmsException InvalidGrantId(string grantId) =>
        new(KmsErrorCodes.InvalidGrantIdException, $"Invalid grantId '{grantId}'");

    /// <summary>A well-formed grant id (or the grant of a valid token) that names no grant of the key.</summary>
    public static KmsException GrantNotFound(string grantId) => new(KmsErrorCodes.NotFoundException, $"Grant ID {grantId} not found");

    public static KmsException UnknownGrantOperation(string name) => Validation($"'{name}' is not a grant operation.");

    /// <summary>AWS's recorded wording for a grant whose only operation is CreateGrant.</summary>
    public static KmsException GrantOnlyCreateGrant() => Validation("Grants must not contain only the CreateGrant operation.");

    /// <summary>AWS's recorded wording for a request with both EncryptionContextEquals and EncryptionContextSubset.</summary>
    public static KmsException MoreThanOneGrantConstraint() => Validation("More than one constraint supplied");

    public static KmsException GrantOperationsNotValidForKey(IEnumerable<string> operations, KeySpec spec, KeyUsageType usage) =>
        Validation($"Grant operations [{string.Join(", ", operations)}] are not valid for a KMS key with key spec {spec.ToWire()} and key usage {usage.ToWire()}.");

    public static KmsException GrantConstraintsNeedSymmetricKey(KeySpec spec) =>
        Validation($"Encryption context grant constraints are supported only with symmetric encryption KMS keys; a KMS key with key spec {spec.ToWire()} takes none.");

    public static KmsException GranteePrincipalConflict() => Validation("Specify either GranteePrincipal or GranteeServicePrincipal, not both.");

    public static KmsException RetiringPrincipalConflict() => Validation("Specify either RetiringPrincipal or RetiringServicePrincipal, not both.");

    public static KmsException ServicePrincipalGrantNeedsSourceArn() =>
        Validation("A grant to a GranteeServicePrincipal requires a SourceArn grant constraint.");

    public static KmsException ServicePrincipalGrantNeedsRetiringPrincipal() =>
        Validation("A grant to a GranteeServicePrincipal requires a RetiringPrincipal or a RetiringServicePrincipal.");

    public static KmsException SourceArnNeedsServicePrincipal() =>
        Validation("The SourceArn grant constraint is supported only in grants to a GranteeServicePrincipal.");

    public static KmsException TooManyGrantConstraintPairs(string member, int maxPairs) =>
        Validation($"{member} can have at most {maxPairs} encryption context pairs.");

    public static KmsException GrantConstraintValueTooLong(string member, int maxLength) =>
        Validation($"The encryption context values in {member} can have at most {maxLength} characters.");

    public static KmsException RetireGrantNeedsTokenOrIds() =>
        Validation("RetireGrant needs either a GrantToken, or both a KeyId and a GrantId.");

    // ---------------------------------------------------------------- rotation

    /// <summary>Rotation of a key that is not a symmetric encryption key: AWS answers with no message.</summary>
    public static KmsException RotationNeedsSymmetricKey() => Unsupported(string.Empty);

    /// <summary>Rotation (and other operations) on a key with imported material.</summary>
    public static KmsException OriginExternalNotValid(string keyArn) => Unsupported($"{keyArn} origin is EXTERNAL which is not valid for this operation.");

    public static KmsException OnDemandRotationLimit(string keyArn) =>
        LimitExceeded($"The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: {keyArn}");

    public static KmsException GrantLimitExceeded(string keyArn, int limit) =>
        LimitExceeded($"The grant quota for {keyArn} has been reached: a KMS key can have at most {limit} grants.");

    // ---------------------------------------------------------------- multi-Region keys

    /// <summary>ReplicateKey, UpdatePrimaryRegion and the rotation operations on a key that is not a multi-Region primary key (recorded from AWS).</summary>
    public static KmsException NotMultiRegionPrimary(string keyArn) => Unsupported($"{keyArn} is not a multi-region primary key.");

    /// <summary>ReplicateKey into a region that already holds a key of the multi-Region key (replica or primary).</summary>
    public static KmsException ReplicaAlreadyExists(string replicaArn) =>
        new(KmsErrorCodes.AlreadyExistsException, $"Key '{replicaArn}' already exists.");

    public static KmsException ReplicaRegionIsPrimaryRegion(string region) =>
        Validation($"The replica region {region} must be different from the region of the primary key.");

    public static KmsException ReplicaRegionUnknown(string region) =>
        Validation($"{region} is not a region KMS supports.");

    public static KmsException ReplicaRegionOtherPartition(string region, string partition) =>
        Validation($"The replica region {region} must be in the partition of the primary key ({partition}).");

    /// <summary>UpdatePrimaryRegion naming the region the primary key is already in.</summary>
    public static KmsException AlreadyPrimaryRegion(string keyArn, string region) =>
        Unsupported($"{keyArn} is already the primary key in {region}.");

    // ---------------------------------------------------------------- imported key material

    /// <summary>An import operation on a key whose origin is not EXTERNAL (wording as AWS, e.g. for AWS_KMS).</summary>
    public static KmsException OriginNotValidForImport(string keyArn, OriginType origin) =>
        Unsupported($"{keyArn} origin is {origin.ToWire()} which is not valid for this operation.");

    /// <summary>A key spec whose material the emulator cannot import (asymmetric keys: see docs/differences-from-aws.md).</summary>
    public static KmsException ImportNotSupportedForKeySpec(KeySpec spec) =>
        Unsupported($"KmsEmulator imports key material into SYMMETRIC_DEFAULT, HMAC, RSA and ECC (NIST, SECG) keys only, not into {spec.ToWire()} keys. See docs/differences-from-aws.md.");

    /// <summary>A wrapping algorithm AWS no longer accepts (RSAES_PKCS1_V1_5) or only in the China regions (SM2PKE).</summary>
    public static KmsException WrappingAlgorithmNotSupported(string algorithm) =>
        Validation($"The wrapping algorithm {algorithm} is not supported in this region. Use RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, RSA_AES_KEY_WRAP_SHA_1 or RSA_AES_KEY_WRAP_SHA_256.");

    /// <summary>The SM2 wrapping key spec, which AWS offers only in the China regions.</summary>
    public static KmsException WrappingKeySpecNotSupported(string spec) =>
        Validation($"The wrapping key spec {spec} is not supported in this region. Use RSA_2048, RSA_3072 or RSA_4096.");

    public static KmsException ValidToRequired() => Validation("A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES");

    public static KmsException ValidToNotAllowed() => Validation("A validTo date must not be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE");

    public static KmsException ValidToOutOfRange(int maxDays) =>
        Validation($"The validTo date must be in the future and at most {maxDays} days from now.");

    public static KmsException KeyMaterialIdWithNewMaterial() =>
        Validation("KeyMaterialId cannot be specified when ImportType is NEW_KEY_MATERIAL.");

    /// <summary>An import token that is not one this key was issued, or that was altered.</summary>
    public static KmsException InvalidImportToken() =>
        new(KmsErrorCodes.InvalidImportTokenException, "The import token is invalid or is not associated with this KMS key.");

    public static KmsException ExpiredImportToken() =>
        new(KmsErrorCodes.ExpiredImportTokenException, "The import token has expired. Call GetParametersForImport for a new import token and public key.");

    /// <summary>Material that is not the material the key had before (re-import), or is not usable for the key (its length).</summary>
    private static KmsException IncorrectKeyMaterial(string reason) => new(KmsErrorCodes.IncorrectKeyMaterialException, reason);

    public static KmsException KeyMaterialLengthWrong(KeySpec spec) => IncorrectKeyMaterial(spec switch
    {
        KeySpec.SYMMETRIC_DEFAULT => "The key material must be 256 bits (32 bytes) of binary data for a SYMMETRIC_DEFAULT key.",
        KeySpec.RSA_2048 or KeySpec.RSA_3072 or KeySpec.RSA_4096 => $"The key material must be an {spec.ToWire()} private key (PKCS#8) with public exponent 65537.",
        KeySpec.ECC_NIST_P256 or KeySpec.ECC_NIST_P384 or KeySpec.ECC_NIST_P521 or KeySpec.ECC_SECG_P256K1 => $"The key material must be an {spec.ToWire()} private key (PKCS#8).",
        _ => $"The key material is too short for a {spec.ToWire()} key.",
    });

    /// <summary>RSA private keys need an RSA_AES_KEY_WRAP algorithm (AWS's rule; our wording).</summary>
    public static KmsException WrappingAlgorithmCannotWrapKeySpec(string algorithm, KeySpec spec) =>
        Validation($"The wrapping algorithm {algorithm} cannot wrap {spec.ToWire()} key material. Use RSA_AES_KEY_WRAP_SHA_1 or RSA_AES_KEY_WRAP_SHA_256.");

    public static KmsException NotTheImportedMaterial(string keyArn) =>
        IncorrectKeyMaterial($"The key material is not the key material previously imported into {keyArn}; only the same key material can be imported again.");

    public static KmsException MaterialAlreadyImported(string keyArn) =>
        IncorrectKeyMaterial($"ImportType NEW_KEY_MATERIAL was given, but this key material is already associated with {keyArn}.");

    public static KmsException NoMaterialToReimport(string keyArn) =>
        IncorrectKeyMaterial($"ImportType EXISTING_KEY_MATERIAL was given, but no key material was ever imported into {keyArn}.");

    public static KmsException KeyMaterialIdMismatch(string keyMaterialId, string keyArn) =>
        IncorrectKeyMaterial($"The key material does not match key material id {keyMaterialId} of {keyArn}.");

    /// <summary>New (different) material for a key that already has imported material: the newest AWS adds it for rotation.</summary>
    public static KmsException SecondImportedMaterialNotSupported(string keyArn) =>
        Unsupported($"KmsEmulator keeps one imported key material per key; {keyArn} already has one, so only that key material can be imported again. See docs/differences-from-aws.md.");

    public static KmsException KeyMaterialNotFound(string keyMaterialId, string keyArn) =>
        new(KmsErrorCodes.NotFoundException, $"Key material {keyMaterialId} is not associated with {keyArn}.");

    // ---------------------------------------------------------------- policies

    public static KmsException PolicyNotFound() => new(KmsErrorCodes.NotFoundException, "No such policy exists");

    public static KmsException PolicyTooLarge(int maxBytes) =>
        LimitExceeded($"The key policy is larger than the {maxBytes} bytes KMS allows.");

    /// <summary>A policy document the policy checker rejects; <paramref name="problem"/> is its AWS-worded finding.</summary>
    public static KmsException PolicyDocumentMalformed(string problem) => MalformedPolicy(problem);

    public static KmsException PolicyInvalidPrincipals() =>
        MalformedPolicy("Policy contains a statement with one or more invalid principals.");

    public static KmsException PolicyLockout() =>
        MalformedPolicy("The new key policy will not allow you to update the key policy in the future.");

    // ---------------------------------------------------------------- CloudTrail (LookupEvents on the same endpoint)
    // CloudTrail's own error shapes (cloudtrail-2013-11-01 model); the wording is AWS-like, not confirmed verbatim.

    /// <summary>A CloudTrail operation other than LookupEvents: the emulator serves only the event history of its KMS calls.</summary>
    public static KmsException CloudTrailOperationNotSupported(string operation) =>
        new("UnsupportedOperationException",
            $"KmsEmulator implements only LookupEvents of CloudTrail; {operation} is not supported. See docs/audit.md.");

    /// <summary>LookupEvents while the audit trail is off: there is no event history to look up.</summary>
    public static KmsException CloudTrailLookupWithoutAudit() =>
        new("UnsupportedOperationException",
            "LookupEvents needs the audit trail, which is turned off (Kms:Audit:Enabled=false). See docs/audit.md.");

    public static KmsException TooManyLookupAttributes(int count) =>
        new("InvalidLookupAttributesException", $"You can specify at most one lookup attribute; the request has {count}.");

    public static KmsException LookupAttributeKeyInvalid(string? key, IEnumerable<string> allowed) =>
        new("InvalidLookupAttributesException",
            $"Lookup attribute key is not valid: '{key}'. Valid keys are {string.Join(", ", allowed)}.");

    public static KmsException LookupAttributeValueInvalid(string key, int? length, int max) =>
        new("InvalidLookupAttributesException", length is null
            ? $"Lookup attribute value is not valid: {key} needs an AttributeValue."
            : $"Lookup attribute value is not valid: the value of {key} has {length} characters; it must have 1 to {max}.");

    public static KmsException LookupTimeRangeInvalid(DateTimeOffset start, DateTimeOffset end) =>
        new("InvalidTimeRangeException",
            $"The start time {start:yyyy-MM-dd'T'HH:mm:ss'Z'} is after the end time {end:yyyy-MM-dd'T'HH:mm:ss'Z'}. Specify a start time before or equal to the end time.");

    public static KmsException LookupMaxResultsInvalid(int value, int max) =>
        new("InvalidMaxResultsException", $"A max results value of {value} is invalid. Specify max results between 1 and {max}.");

    public static KmsException LookupNextTokenInvalid() =>
        new("InvalidNextTokenException",
            "The NextToken is not valid. Use a token from a previous response with the same lookup attributes, start time and end time.");

    public static KmsException LookupEventCategoryInvalid(string category) =>
        new("InvalidEventCategoryException", $"Event category '{category}' is not valid. The only valid event category is insight.");

    /// <summary>A principal whose identity policies do not allow a CloudTrail action (which has no resource).</summary>
    public static KmsException CloudTrailAccessDenied(string principalArn, string action, bool explicitDeny) =>
        new(AccessDeniedException, explicitDeny
            ? $"User: {principalArn} is not authorized to perform: {action} with an explicit deny in an identity-based policy"
            : $"User: {principalArn} is not authorized to perform: {action} because no identity-based policy allows the {action} action");
}
