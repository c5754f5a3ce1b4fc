using System.Collections.Frozen;
using System.Collections.Immutable;
using KmsEmulator.Api.Generated;

namespace KmsEmulator.Api.Keys;

/// <summary>
/// AWS's rules for what a grant may contain, as data: the grant operations each type of key takes, and the checks
/// CreateGrant makes on principals and constraints before a grant exists.
/// </summary>
public static class GrantRules
{
    /// <summary>Operations every key's grants may include.</summary>
    private static readonly ImmutableArray<GrantOperation> Common =
        [GrantOperation.DescribeKey, GrantOperation.CreateGrant, GrantOperation.RetireGrant];

    /// <summary>The grant operations of each key type (AWS developer guide, "Grant operations").</summary>
    private static readonly FrozenDictionary<KeyType, FrozenSet<GrantOperation>> ByKeyType = new Dictionary<KeyType, FrozenSet<GrantOperation>>
    {
        [KeyType.SymmetricEncryption] = With(
            GrantOperation.Decrypt, GrantOperation.Encrypt, GrantOperation.GenerateDataKey, GrantOperation.GenerateDataKeyWithoutPlaintext,
            GrantOperation.GenerateDataKeyPair, GrantOperation.GenerateDataKeyPairWithoutPlaintext, GrantOperation.ReEncryptFrom, GrantOperation.ReEncryptTo),
        [KeyType.AsymmetricEncryption] = With(
            GrantOperation.Decrypt, GrantOperation.Encrypt, GrantOperation.ReEncryptFrom, GrantOperation.ReEncryptTo, GrantOperation.GetPublicKey),
        [KeyType.Signing] = With(GrantOperation.Sign, GrantOperation.Verify, GrantOperation.GetPublicKey),
        [KeyType.KeyAgreement] = With(GrantOperation.DeriveSharedSecret, GrantOperation.GetPublicKey),
        [KeyType.Hmac] = With(GrantOperation.GenerateMac, GrantOperation.VerifyMac),
    }.ToFrozenDictionary();

    /// <summary>Operations whose requests carry an encryption context, to which encryption context constraints apply.</summary>
    private static readonly FrozenSet<GrantOperation> WithEncryptionContext = new[]
    {
        GrantOperation.Decrypt, GrantOperation.Encrypt, GrantOperation.GenerateDataKey, GrantOperation.GenerateDataKeyWithoutPlaintext,
        GrantOperation.GenerateDataKeyPair, GrantOperation.GenerateDataKeyPairWithoutPlaintext, GrantOperation.ReEncryptFrom, GrantOperation.ReEncryptTo,
    }.ToFrozenSet();

    private enum KeyType { SymmetricEncryption, AsymmetricEncryption, Signing, KeyAgreement, Hmac }

    /// <summary>The grant operations a grant on <paramref name="key"/> may include.</summary>
    public static FrozenSet<GrantOperation> OperationsFor(KeyRecord key) => ByKeyType[TypeOf(key)];

    /// <summary>Whether the grant's encryption context constraint, if any, applies to <paramref name="operation"/>.</summary>
    public static bool TakesEncryptionContext(GrantOperation operation) => WithEncryptionContext.Contains(operation);

    /// <summary>CreateGrant's semantic checks, in the order the emulator makes them (ValidationException).</summary>
    public static void Check(KeyRecord key, NewGrant grant)
    {
        if (grant.GranteePrincipal is not null && grant.GranteeServicePrincipal is not null)
        {
            throw KmsErrors.GranteePrincipalConflict();
        }

        if (grant.GranteePrincipal is null && grant.GranteeServicePrincipal is null)
        {
            throw KmsErrors.RequiredMemberMissing(nameof(grant.GranteePrincipal));
        }

        if (grant.RetiringPrincipal is not null && grant.RetiringServicePrincipal is not null)
        {
            throw KmsErrors.RetiringPrincipalConflict();
        }

        if (grant.GranteeServicePrincipal is not null)
        {
            if (grant.SourceArn is null)
            {
                throw KmsErrors.ServicePrincipalGrantNeedsSourceArn();
            }

            if (grant.RetiringPrincipal is null && grant.RetiringServicePrincipal is null)
            {
                throw KmsErrors.ServicePrincipalGrantNeedsRetiringPrincipal();
            }
        }
        else if (grant.SourceArn is not null)
        {
            throw KmsErrors.SourceArnNeedsServicePrincipal();
        }

        if (grant.Operations.Length == 1 && grant.Operations[0] == GrantOperation.CreateGrant)
        {
            throw KmsErrors.GrantOnlyCreateGrant();
        }

        var allowed = OperationsFor(key);
        var invalid = grant.Operations.Where(op => !allowed.Contains(op)).Select(op => op.ToWire()).ToList();
        if (invalid.Count > 0)
        {
            throw KmsErrors.GrantOperationsNotValidForKey(invalid, key.KeySpec, key.KeyUsage);
        }

        if (grant.Constraint is { } constraint)
        {
            if (TypeOf(key) != KeyType.SymmetricEncryption)
            {
                throw KmsErrors.GrantConstraintsNeedSymmetricKey(key.KeySpec);
            }

            CheckPairs(constraint);
        }
    }

    private static void CheckPairs(GrantConstraint constraint)
    {
        var member = constraint.Kind.ToString();
        if (constraint.Pairs.Count > GrantConstraint.MaxPairs)
        {
            throw KmsErrors.TooManyGrantConstraintPairs(member, GrantConstraint.MaxPairs);
        }

        if (constraint.Pairs.Values.Any(v => v.Length > GrantConstraint.MaxValueLength))
        {
            throw KmsErrors.GrantConstraintValueTooLong(member, GrantConstraint.MaxValueLength);
        }
    }

    private static KeyType TypeOf(KeyRecord key) => key.KeyUsage switch
    {
        KeyUsageType.ENCRYPT_DECRYPT when key.KeySpec == KeySpec.SYMMETRIC_DEFAULT => KeyType.SymmetricEncryption,
        KeyUsageType.ENCRYPT_DECRYPT => KeyType.AsymmetricEncryption,
        KeyUsageType.SIGN_VERIFY => KeyType.Signing,
        KeyUsageType.KEY_AGREEMENT => KeyType.KeyAgreement,
        KeyUsageType.GENERATE_VERIFY_MAC => KeyType.Hmac,
        _ => throw new InvalidOperationException($"Key usage {key.KeyUsage} has no grant operations."),
    };

    private static FrozenSet<GrantOperation> With(params GrantOperation[] operations) => operations.Concat(Common).ToFrozenSet();
}
