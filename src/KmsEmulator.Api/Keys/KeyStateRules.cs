using System.Collections.Frozen;
using KmsEmulator.Api.Generated;

namespace KmsEmulator.Api.Keys;

/// <summary>Which key states an operation accepts; each operation names one rule in its table row.</summary>
public enum KeyStateRule
{
    /// <summary>Any state (DescribeKey, GetKeyPolicy, ListResourceTags, DeleteAlias, ...).</summary>
    Any,
    /// <summary>
    /// Encrypt, Decrypt, ReEncrypt, GenerateDataKey*, GenerateDataKeyPair*, Sign, Verify, GenerateMac, VerifyMac,
    /// GetPublicKey, DeriveSharedSecret, RotateKeyOnDemand: the key must be enabled and have material.
    /// </summary>
    Cryptographic,
    /// <summary>CreateGrant: as <see cref="Cryptographic"/>, except that a key whose custom key store is unavailable takes grants.</summary>
    CreateGrant,
    /// <summary>TagResource, UntagResource, UpdateKeyDescription, CreateAlias, UpdateAlias (new target): not while pending deletion.</summary>
    Management,
    /// <summary>EnableKey, DisableKey.</summary>
    EnableDisable,
    /// <summary>ScheduleKeyDeletion.</summary>
    ScheduleDeletion,
    /// <summary>CancelKeyDeletion: only while pending deletion.</summary>
    CancelDeletion,
    /// <summary>EnableKeyRotation, DisableKeyRotation: enabled keys only (a key with imported material is refused by the row's check).</summary>
    RotationSettings,
    /// <summary>GetParametersForImport, ImportKeyMaterial: not while pending deletion, creating or updating (origin is the row's check).</summary>
    Import,
    /// <summary>DeleteImportedKeyMaterial: any state but creating and updating (origin is the row's check).</summary>
    DeleteImportedMaterial,
    /// <summary>ReplicateKey: the primary must be enabled (not creating or updating either).</summary>
    Replicate,
    /// <summary>UpdatePrimaryRegion: as <see cref="Replicate"/>, but a key that is updating may be updated again.</summary>
    UpdatePrimaryRegion,
}

/// <summary>
/// The key-state matrix of AWS KMS as one table: (rule, state) → the error to return, or none.
/// The pipeline checks it before any handler runs.
/// </summary>
public static class KeyStateRules
{
    private enum Outcome { Allowed, IsDisabled, IsPendingDeletion, IsNotPendingDeletion, IsPendingImport, IsUnavailable, IsCreating, IsUpdating }

    private static readonly FrozenDictionary<(KeyStateRule, KeyState), Outcome> Table = Build();

    /// <summary>Throws the KMS error for using <paramref name="key"/> under <paramref name="rule"/> in its current state.</summary>
    public static void Check(KeyStateRule rule, KeyRecord key)
    {
        if (ErrorFor(rule, key) is { } error)
        {
            throw error;
        }
    }

    /// <summary>The KMS error for using <paramref name="key"/> under <paramref name="rule"/>, or null when the state allows it.</summary>
    public static KmsException? ErrorFor(KeyStateRule rule, KeyRecord key)
    {
        var arn = key.Arn;
        return Table.GetValueOrDefault((rule, key.KeyState), Outcome.Allowed) switch
        {
            Outcome.IsDisabled => KmsErrors.Disabled(arn),
            Outcome.IsPendingDeletion => KmsErrors.KeyPendingDeletion(arn),
            Outcome.IsNotPendingDeletion => KmsErrors.KeyNotPendingDeletion(arn),
            Outcome.IsPendingImport => KmsErrors.KeyPendingImport(arn),
            Outcome.IsUnavailable => KmsErrors.KeyStateUnavailable(arn),
            Outcome.IsCreating => KmsErrors.KeyCreating(arn),
            Outcome.IsUpdating => KmsErrors.KeyUpdating(arn),
            _ => null,
        };
    }

    private static FrozenDictionary<(KeyStateRule, KeyState), Outcome> Build()
    {
        var table = new Dictionary<(KeyStateRule, KeyState), Outcome>();

        void Row(KeyStateRule rule, params (KeyState State, Outcome Outcome)[] cells)
        {
            foreach (var (state, outcome) in cells)
            {
                table[(rule, state)] = outcome;
            }
        }

        Row(
            KeyStateRule.Cryptographic,
            (KeyState.Disabled, Outcome.IsDisabled),
            (KeyState.PendingDeletion, Outcome.IsPendingDeletion),
            (KeyState.PendingReplicaDeletion, Outcome.IsPendingDeletion),
            (KeyState.PendingImport, Outcome.IsPendingImport),
            (KeyState.Unavailable, Outcome.IsUnavailable),
            (KeyState.Creating, Outcome.IsCreating));
        Row(
            KeyStateRule.CreateGrant,
            (KeyState.Disabled, Outcome.IsDisabled),
            (KeyState.PendingDeletion, Outcome.IsPendingDeletion),
            (KeyState.PendingReplicaDeletion, Outcome.IsPendingDeletion),
            (KeyState.PendingImport, Outcome.IsPendingImport),
            (KeyState.Creating, Outcome.IsCreating));
        Row(
            KeyStateRule.Management,
            (KeyState.PendingDeletion, Outcome.IsPendingDeletion),
            (KeyState.PendingReplicaDeletion, Outcome.IsPendingDeletion));
        Row(
            KeyStateRule.EnableDisable,
            (KeyState.PendingDeletion, Outcome.IsPendingDeletion),
            (KeyState.PendingReplicaDeletion, Outcome.IsPendingDeletion),
            (KeyState.PendingImport, Outcome.IsPendingImport),
            (KeyState.Creating, Outcome.IsCreating),
            (KeyState.Updating, Outcome.IsUpdating));
        Row(
            KeyStateRule.ScheduleDeletion,
            (KeyState.PendingDeletion, Outcome.IsPendingDeletion),
            (KeyState.PendingReplicaDeletion, Outcome.IsPendingDeletion),
            (KeyState.Updating, Outcome.IsUpdating));
        Row(
            KeyStateRule.CancelDeletion,
            (KeyState.Enabled, Outcome.IsNotPendingDeletion),
            (KeyState.Disabled, Outcome.IsNotPendingDeletion),
            (KeyState.PendingImport, Outcome.IsNotPendingDeletion),
            (KeyState.Unavailable, Outcome.IsNotPendingDeletion),
            (KeyState.Creating, Outcome.IsNotPendingDeletion),
            (KeyState.Updating, Outcome.IsNotPendingDeletion));
        Row(
            KeyStateRule.RotationSettings,
            (KeyState.Disabled, Outcome.IsDisabled),
            (KeyState.PendingDeletion, Outcome.IsPendingDeletion),
            (KeyState.PendingReplicaDeletion, Outcome.IsPendingDeletion),
            (KeyState.Creating, Outcome.IsCreating));
        Row(
            KeyStateRule.Import,
            (KeyState.PendingDeletion, Outcome.IsPendingDeletion),
            (KeyState.PendingReplicaDeletion, Outcome.IsPendingDeletion),
            (KeyState.Creating, Outcome.IsCreating),
            (KeyState.Updating, Outcome.IsUpdating));
        Row(
            KeyStateRule.DeleteImportedMaterial,
            (KeyState.Creating, Outcome.IsCreating),
            (KeyState.Updating, Outcome.IsUpdating));
        Row(
            KeyStateRule.Replicate,
            (KeyState.Disabled, Outcome.IsDisabled),
            (KeyState.PendingDeletion, Outcome.IsPendingDeletion),
            (KeyState.PendingReplicaDeletion, Outcome.IsPendingDeletion),
            (KeyState.PendingImport, Outcome.IsPendingImport),
            (KeyState.Unavailable, Outcome.IsUnavailable),
            (KeyState.Creating, Outcome.IsCreating),
            (KeyState.Updating, Outcome.IsUpdating));
        Row(
            KeyStateRule.UpdatePrimaryRegion,
            (KeyState.Disabled, Outcome.IsDisabled),
            (KeyState.PendingDeletion, Outcome.IsPendingDeletion),
            (KeyState.PendingReplicaDeletion, Outcome.IsPendingDeletion),
            (KeyState.PendingImport, Outcome.IsPendingImport),
            (KeyState.Unavailable, Outcome.IsUnavailable),
            (KeyState.Creating, Outcome.IsCreating));
        return table.ToFrozenDictionary();
    }
}
