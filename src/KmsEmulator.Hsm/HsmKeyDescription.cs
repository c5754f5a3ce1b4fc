namespace KmsEmulator.Hsm;

/// <summary>
/// What one version of a key's material is in the HSM: the label its objects carry, its type and what it may do. The
/// metadata store keeps enough to rebuild it, so that the HSM's objects can be checked against it.
/// </summary>
/// <param name="Label">CKA_LABEL of the key's objects; their CKA_ID is the label followed by when they were made.</param>
/// <param name="Spec">The key type.</param>
/// <param name="Usage">
/// For key pairs, the one usage the private key has; <see cref="HsmKeyUsage.EncryptDecrypt"/> for AES keys and
/// <see cref="HsmKeyUsage.GenerateVerifyMac"/> for HMAC keys.
/// </param>
/// <param name="Imported">
/// True for material that came in wrapped (ImportKeyMaterial) rather than being generated in the HSM: such an object
/// is checked against its import template, and never claims CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE or CKA_LOCAL.
/// </param>
public readonly record struct HsmKeyDescription(string Label, HsmKeySpec Spec, HsmKeyUsage Usage, bool Imported = false)
{
    /// <summary>The description of an AES-256 key.</summary>
    public static HsmKeyDescription Aes(string label) => new(label, HsmKeySpec.Aes256, HsmKeyUsage.EncryptDecrypt);

    /// <summary>The description of an HMAC key.</summary>
    public static HsmKeyDescription Hmac(string label, HsmKeySpec spec) => new(label, spec, HsmKeyUsage.GenerateVerifyMac);
}

/// <summary>What the start-up index of the token found, compared with the key material the store expects.</summary>
/// <param name="KeyObjects">How many token objects with the label prefix were read.</param>
/// <param name="Unexpected">Labels under the prefix that no expected key has (left by an interrupted create).</param>
/// <param name="Missing">Expected labels with no object, or without every object they need.</param>
/// <param name="Defective">Expected keys whose objects differ from what was made; they are never used.</param>
public sealed record HsmInventory(
    int KeyObjects,
    IReadOnlyList<string> Unexpected,
    IReadOnlyList<string> Missing,
    IReadOnlyList<HsmDefect> Defective)
{
    /// <summary>
    /// When the objects of each <see cref="Unexpected"/> label were made, from the time their CKA_ID carries (the later
    /// of a key pair's two); a label is absent when one of its objects carries none (made before ids were dated). With
    /// several emulator nodes on one token, an unexpected label may be a key another node is making right now, whose
    /// row is not committed yet: its age tells it from what an interrupted creation left behind.
    /// </summary>
    public IReadOnlyDictionary<string, DateTimeOffset> CreatedAt { get; init; } = new Dictionary<string, DateTimeOffset>();
}

/// <summary>A key whose HSM objects are not what its description says, and how they differ.</summary>
public sealed record HsmDefect(string Label, IReadOnlyList<string> Differences);
