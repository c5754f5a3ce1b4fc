using KmsEmulator.Hsm.Crypto;
using Net.Pkcs11Interop.Common;

namespace KmsEmulator.Hsm.Pkcs11;

/// <summary>
/// Every PKCS#11 attribute template the backend uses, as managed data: for new keys, for searches, and for checking
/// that an object is what was asked for. <see cref="Pkcs11Template.From"/> turns one into native memory for a call.
/// </summary>
internal static class AttributeTemplates
{
    private static readonly CKO[] SecretKeyClasses = [CKO.CKO_SECRET_KEY];
    private static readonly CKO[] KeyPairClasses = [CKO.CKO_PRIVATE_KEY, CKO.CKO_PUBLIC_KEY];

    /// <summary>
    /// The object classes one key's material consists of: a secret key, or a private and a public key. Shared arrays
    /// (the start-up index asks once per key): never change one.
    /// </summary>
    public static CKO[] ClassesOf(HsmKeySpec spec) =>
        spec == HsmKeySpec.Aes256 || KeySpecs.IsHmac(spec) ? SecretKeyClasses : KeyPairClasses;

    /// <summary>The creation template of one object of a key.</summary>
    public static Pkcs11Attribute[] ForNewKey(HsmKeyDescription key, CKO objectClass) => (key.Spec, objectClass) switch
    {
        (HsmKeySpec.Aes256, CKO.CKO_SECRET_KEY) => AesKey(key.Label),
        (var spec, CKO.CKO_SECRET_KEY) when KeySpecs.IsHmac(spec) => HmacKey(key.Label, spec),
        (var spec, CKO.CKO_PRIVATE_KEY) when KeySpecs.IsKeyPair(spec) => TokenPrivateKey(key.Label, spec, key.Usage),
        (var spec, CKO.CKO_PUBLIC_KEY) when KeySpecs.IsKeyPair(spec) => TokenPublicKey(key.Label, spec, key.Usage),
        _ => throw new HsmException(HsmErrorKind.InvalidInput, $"A {key.Spec} key has no {objectClass} object."),
    };

    /// <summary>
    /// What a generated object of a key must be when read back: its creation template, and for secret and private keys
    /// the proof that they were generated inside the HSM and never readable (CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE).
    /// For a session copy, CKA_TOKEN is false.
    /// </summary>
    public static Pkcs11Attribute[] Expected(HsmKeyDescription key, CKO objectClass, bool sessionCopy = false)
    {
        var expected = (key.Imported ? ForImportedKey(key, objectClass) : ForNewKey(key, objectClass))
            .Select(a => sessionCopy && a.Type == CKA.CKA_TOKEN ? a with { Value = false } : a)
            .ToList();
        if (objectClass != CKO.CKO_PUBLIC_KEY && !key.Imported)
        {
            expected.Add(new(CKA.CKA_ALWAYS_SENSITIVE, true));
            expected.Add(new(CKA.CKA_NEVER_EXTRACTABLE, true));
        }

        return [.. expected];
    }

    /// <summary>
    /// The template an imported secret is unwrapped (or created) with: the generated key's template without
    /// CKA_VALUE_LEN, which C_UnwrapKey and C_CreateObject refuse (the length comes from the material) and which
    /// SoftHSM2 leaves at 0 for unwrapped secrets. Only AES and HMAC material is imported.
    /// </summary>
    /// <remarks>
    /// For an imported RSA key pair, the private key is unwrapped with the generated key's template and the public key
    /// is created from the private key's modulus and exponent, without CKA_MODULUS_BITS (which only key generation
    /// takes); the modulus size is checked by its spec instead.
    /// </remarks>
    public static Pkcs11Attribute[] ForImportedKey(HsmKeyDescription key, CKO objectClass) => (key.Spec, objectClass) switch
    {
        (var spec, CKO.CKO_SECRET_KEY) when ClassesOf(spec) is [CKO.CKO_SECRET_KEY] => [.. ForNewKey(key, objectClass).Where(a => a.Type != CKA.CKA_VALUE_LEN)],
        (var spec, CKO.CKO_PRIVATE_KEY) when KeySpecs.IsRsa(spec) || KeySpecs.IsEc(spec) => ForNewKey(key, objectClass),
        (var spec, CKO.CKO_PUBLIC_KEY) when KeySpecs.IsRsa(spec) || KeySpecs.IsEc(spec) => [.. ForNewKey(key, objectClass).Where(a => a.Type != CKA.CKA_MODULUS_BITS)],
        _ => throw new HsmException(HsmErrorKind.Unsupported, $"Importing {key.Spec} material is not supported; only AES, HMAC, RSA and EC (Weierstrass) keys are."),
    };

    /// <summary>
    /// The ephemeral AES key of an RSA_AES_KEY_WRAP import: a session object that is private, sensitive, not
    /// extractable and may only unwrap; destroyed as soon as the material is unwrapped.
    /// </summary>
    public static Pkcs11Attribute[] EphemeralUnwrapKey() =>
    [
        new(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY),
        new(CKA.CKA_KEY_TYPE, CKK.CKK_AES),
        new(CKA.CKA_TOKEN, false),
        new(CKA.CKA_PRIVATE, true),
        new(CKA.CKA_SENSITIVE, true),
        new(CKA.CKA_EXTRACTABLE, false),
        new(CKA.CKA_ENCRYPT, false),
        new(CKA.CKA_DECRYPT, false),
        new(CKA.CKA_WRAP, false),
        new(CKA.CKA_UNWRAP, true),
    ];

    /// <summary>
    /// A session secret unwrapped from the same material only to learn its length (SoftHSM2 reports CKA_VALUE_LEN 0
    /// for unwrapped secrets): an HMAC key that may only sign, destroyed right after.
    /// </summary>
    public static Pkcs11Attribute[] LengthProbe() =>
    [
        new(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY),
        new(CKA.CKA_KEY_TYPE, CKK.CKK_GENERIC_SECRET),
        new(CKA.CKA_TOKEN, false),
        new(CKA.CKA_PRIVATE, true),
        new(CKA.CKA_SENSITIVE, true),
        new(CKA.CKA_EXTRACTABLE, false),
        new(CKA.CKA_SIGN, true),
        new(CKA.CKA_VERIFY, false),
        new(CKA.CKA_ENCRYPT, false),
        new(CKA.CKA_DECRYPT, false),
        new(CKA.CKA_WRAP, false),
        new(CKA.CKA_UNWRAP, false),
        new(CKA.CKA_DERIVE, false),
    ];

    /// <summary>
    /// A session copy of an imported EC private key (unwrapped from the same blob) that finds its public point: it derives
    /// (ECDH with the curve's generator gives the point's x) and signs (which of the two y fits). Destroyed right after.
    /// </summary>
    public static Pkcs11Attribute[] EcPublicPointProbe() =>
    [
        new(CKA.CKA_CLASS, CKO.CKO_PRIVATE_KEY),
        new(CKA.CKA_KEY_TYPE, CKK.CKK_EC),
        new(CKA.CKA_TOKEN, false),
        new(CKA.CKA_PRIVATE, true),
        new(CKA.CKA_SENSITIVE, true),
        new(CKA.CKA_EXTRACTABLE, false),
        new(CKA.CKA_SIGN, true),
        new(CKA.CKA_DERIVE, true),
        new(CKA.CKA_DECRYPT, false),
        new(CKA.CKA_UNWRAP, false),
    ];

    /// <summary>
    /// What any secret or private key object this backend uses must be, whatever made it: private, sensitive and not
    /// extractable. Applied to objects found by label that the start-up index did not check.
    /// </summary>
    public static Pkcs11Attribute[] Baseline(CKO objectClass) => objectClass == CKO.CKO_PUBLIC_KEY
        ? [new(CKA.CKA_CLASS, objectClass), new(CKA.CKA_PRIVATE, true)]
        : [new(CKA.CKA_CLASS, objectClass), new(CKA.CKA_PRIVATE, true), new(CKA.CKA_SENSITIVE, true), new(CKA.CKA_EXTRACTABLE, false)];

    /// <summary>
    /// A 256-bit AES token key that never leaves the HSM. <c>CKA_PRIVATE</c> matters: SoftHSM2 stores the
    /// attributes of non-private token objects, key value included, in plaintext on disk.
    /// </summary>
    public static Pkcs11Attribute[] AesKey(string label) =>
    [
        new(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY),
        new(CKA.CKA_KEY_TYPE, CKK.CKK_AES),
        new(CKA.CKA_VALUE_LEN, 32UL),
        new(CKA.CKA_TOKEN, true),
        new(CKA.CKA_PRIVATE, true),
        new(CKA.CKA_SENSITIVE, true),
        new(CKA.CKA_EXTRACTABLE, false),
        new(CKA.CKA_ENCRYPT, true),
        new(CKA.CKA_DECRYPT, true),
        new(CKA.CKA_WRAP, false),
        new(CKA.CKA_UNWRAP, false),
        new(CKA.CKA_LABEL, label),
        new(CKA.CKA_ID, System.Text.Encoding.UTF8.GetBytes(label)),
    ];

    /// <summary>
    /// The public half of a token key pair. It is a token object with the pair's label and CKA_ID, and it is private
    /// too, so that SoftHSM2 encrypts its label on disk like the private key's. Only the public counterpart of the
    /// private key's usage is allowed.
    /// </summary>
    public static Pkcs11Attribute[] TokenPublicKey(string label, HsmKeySpec spec, HsmKeyUsage usage) =>
    [
        .. PublicKeyBase(spec),
        new(CKA.CKA_TOKEN, true),
        new(CKA.CKA_PRIVATE, true),
        new(CKA.CKA_VERIFY, usage == HsmKeyUsage.SignVerify),
        new(CKA.CKA_ENCRYPT, usage == HsmKeyUsage.EncryptDecrypt),
        new(CKA.CKA_VERIFY_RECOVER, false),
        new(CKA.CKA_WRAP, false),
        new(CKA.CKA_LABEL, label),
        new(CKA.CKA_ID, System.Text.Encoding.UTF8.GetBytes(label)),
    ];

    /// <summary>
    /// The private half of a token key pair: private, sensitive, never extractable, and allowed only the one
    /// operation <paramref name="usage"/> needs (CKA_SIGN, CKA_DECRYPT or CKA_DERIVE).
    /// </summary>
    public static Pkcs11Attribute[] TokenPrivateKey(string label, HsmKeySpec spec, HsmKeyUsage usage) =>
    [
        new(CKA.CKA_CLASS, CKO.CKO_PRIVATE_KEY),
        new(CKA.CKA_KEY_TYPE, KeyTypeOf(spec)),
        new(CKA.CKA_TOKEN, true),
        new(CKA.CKA_PRIVATE, true),
        new(CKA.CKA_SENSITIVE, true),
        new(CKA.CKA_EXTRACTABLE, false),
        new(CKA.CKA_SIGN, usage == HsmKeyUsage.SignVerify),
        new(CKA.CKA_DECRYPT, usage is HsmKeyUsage.EncryptDecrypt or HsmKeyUsage.ImportWrapping),
        new(CKA.CKA_DERIVE, usage == HsmKeyUsage.KeyAgreement),
        new(CKA.CKA_SIGN_RECOVER, false),
        new(CKA.CKA_UNWRAP, usage == HsmKeyUsage.ImportWrapping),
        new(CKA.CKA_LABEL, label),
        new(CKA.CKA_ID, System.Text.Encoding.UTF8.GetBytes(label)),
    ];

    /// <summary>The public half of a data key pair: a session object, destroyed right after export.</summary>
    public static Pkcs11Attribute[] SessionPublicKey(HsmKeySpec spec) =>
    [
        .. PublicKeyBase(spec),
        new(CKA.CKA_TOKEN, false),
    ];

    /// <summary>The private half of a data key pair: a session object that can be read out, because it is returned to the caller.</summary>
    public static Pkcs11Attribute[] SessionPrivateKey(HsmKeySpec spec) =>
    [
        new(CKA.CKA_CLASS, CKO.CKO_PRIVATE_KEY),
        new(CKA.CKA_KEY_TYPE, KeyTypeOf(spec)),
        new(CKA.CKA_TOKEN, false),
        new(CKA.CKA_PRIVATE, true),
        new(CKA.CKA_SENSITIVE, false),
        new(CKA.CKA_EXTRACTABLE, true),
    ];

    /// <summary>
    /// An HMAC secret (CKK_GENERIC_SECRET) that never leaves the HSM and may only sign and verify MACs. SoftHSM2's
    /// minimum HMAC key is the hash size, which equals each KMS HMAC key size.
    /// </summary>
    public static Pkcs11Attribute[] HmacKey(string label, HsmKeySpec spec) =>
    [
        new(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY),
        new(CKA.CKA_KEY_TYPE, CKK.CKK_GENERIC_SECRET),
        new(CKA.CKA_VALUE_LEN, (ulong)KeySpecs.HmacKeyBytes(spec)),
        new(CKA.CKA_TOKEN, true),
        new(CKA.CKA_PRIVATE, true),
        new(CKA.CKA_SENSITIVE, true),
        new(CKA.CKA_EXTRACTABLE, false),
        new(CKA.CKA_SIGN, true),
        new(CKA.CKA_VERIFY, true),
        new(CKA.CKA_ENCRYPT, false),
        new(CKA.CKA_DECRYPT, false),
        new(CKA.CKA_WRAP, false),
        new(CKA.CKA_UNWRAP, false),
        new(CKA.CKA_DERIVE, false),
        new(CKA.CKA_LABEL, label),
        new(CKA.CKA_ID, System.Text.Encoding.UTF8.GetBytes(label)),
    ];

    /// <summary>
    /// The session secret an ECDH derivation writes its result into: readable, because the raw shared secret is the
    /// operation's output, and destroyed as soon as it has been read.
    /// </summary>
    public static Pkcs11Attribute[] DerivedSecret(int valueBytes) =>
    [
        new(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY),
        new(CKA.CKA_KEY_TYPE, CKK.CKK_GENERIC_SECRET),
        new(CKA.CKA_VALUE_LEN, (ulong)valueBytes),
        new(CKA.CKA_TOKEN, false),
        new(CKA.CKA_SENSITIVE, false),
        new(CKA.CKA_EXTRACTABLE, true),
    ];

    /// <summary>
    /// A creation template with the moment the object is made added to its CKA_ID: the id (the label's bytes) followed
    /// by "@" and the Unix time in milliseconds (UTC), e.g. <c>kmsemu/store/key/1@1767225600000</c>. PKCS#11 keeps no
    /// creation time, and the start-up reconciliation of a token shared by several emulator nodes needs one, to leave
    /// alone the objects another node is making (<see cref="CreatedAt"/>). CKA_ID rather than CKA_START_DATE: SoftHSM2
    /// 2.6.1 stores a private object's CKA_START_DATE unencrypted but decrypts it when read, so the object's attributes
    /// can no longer be read (CKR_GENERAL_ERROR). <see cref="Expected"/> keeps the plain id; <see cref="IsIdOf"/> accepts both.
    /// </summary>
    public static Pkcs11Attribute[] Dated(IEnumerable<Pkcs11Attribute> template, DateTimeOffset madeAt) =>
    [
        .. template.Select(a => a.Type == CKA.CKA_ID && a.Value is byte[] id
            ? a with { Value = (byte[])[.. id, .. System.Text.Encoding.ASCII.GetBytes("@" + madeAt.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture))] }
            : a),
    ];

    /// <summary>True when <paramref name="actual"/> is the id <paramref name="expected"/>, plain or dated (<see cref="Dated"/>).</summary>
    public static bool IsIdOf(byte[] actual, byte[] expected) =>
        actual.AsSpan().StartsWith(expected) && (actual.Length == expected.Length || MadeAtSuffix(actual.AsSpan(expected.Length)) is not null);

    /// <summary>When an object was made, from its dated CKA_ID; null for an object made before ids were dated, or by someone else.</summary>
    public static DateTimeOffset? CreatedAt(ObjectSnapshot snapshot) =>
        snapshot.Label is { } label && snapshot.Bytes(CKA.CKA_ID) is { } id && System.Text.Encoding.UTF8.GetBytes(label) is var plain
        && id.AsSpan().StartsWith(plain) && MadeAtSuffix(id.AsSpan(plain.Length)) is { } milliseconds
            ? DateTimeOffset.FromUnixTimeMilliseconds(milliseconds)
            : null;

    /// <summary>The milliseconds of a "@digits" suffix, or null.</summary>
    private static long? MadeAtSuffix(ReadOnlySpan<byte> suffix)
    {
        if (suffix.Length is < 2 or > 17 || suffix[0] != (byte)'@')
        {
            return null;
        }

        long value = 0;
        foreach (var digit in suffix[1..])
        {
            if (digit is < (byte)'0' or > (byte)'9')
            {
                return null;
            }

            value = (value * 10) + (digit - '0');
        }

        return value;
    }

    /// <summary>Makes a session object out of a token object with C_CopyObject.</summary>
    public static Pkcs11Attribute[] SessionCopy() => [new(CKA.CKA_TOKEN, false)];

    /// <summary>
    /// The template of a C_CopyObject that makes a token copy of a key under a new label: it names only the label and
    /// CKA_ID (which PKCS#11 lets a copy change) and that the copy is a private token object, so every other attribute,
    /// sensitivity and extractability included, comes from the original. Its id is dated with the copy's own
    /// creation (<see cref="Dated"/>).
    /// </summary>
    public static Pkcs11Attribute[] CopyRenamed(string label, DateTimeOffset madeAt) => Dated(
    [
        new(CKA.CKA_TOKEN, true),
        new(CKA.CKA_PRIVATE, true),
        new(CKA.CKA_LABEL, label),
        new(CKA.CKA_ID, System.Text.Encoding.UTF8.GetBytes(label)),
    ], madeAt);

    /// <summary>Finds the token object of this class with this label.</summary>
    public static Pkcs11Attribute[] TokenObjectLabelled(CKO objectClass, string label) =>
    [
        new(CKA.CKA_CLASS, objectClass),
        new(CKA.CKA_TOKEN, true),
        new(CKA.CKA_LABEL, label),
    ];

    /// <summary>Finds every token object with this label, whatever its class.</summary>
    public static Pkcs11Attribute[] TokenObjectsLabelled(string label) =>
    [
        new(CKA.CKA_TOKEN, true),
        new(CKA.CKA_LABEL, label),
    ];

    /// <summary>Finds every object with this label, token objects and session objects alike.</summary>
    public static Pkcs11Attribute[] ObjectsLabelled(string label) => [new(CKA.CKA_LABEL, label)];

    /// <summary>Matches no object this backend makes: a search for it only makes the module look at the token.</summary>
    public static Pkcs11Attribute[] NoObject() =>
    [
        new(CKA.CKA_CLASS, CKO.CKO_DATA),
        new(CKA.CKA_TOKEN, true),
        new(CKA.CKA_LABEL, "kmsemu-no-such-object"),
    ];

    /// <summary>Finds every token object.</summary>
    public static Pkcs11Attribute[] TokenObjects() => [new(CKA.CKA_TOKEN, true)];

    /// <summary>Finds every session object this application can see (the in-HSM session copies of keys).</summary>
    public static Pkcs11Attribute[] SessionObjects() => [new(CKA.CKA_TOKEN, false)];

    /// <summary>The PKCS#11 key type of a key pair spec.</summary>
    public static CKK KeyTypeOf(HsmKeySpec spec) =>
        KeySpecs.IsRsa(spec) ? CKK.CKK_RSA
        : KeySpecs.IsEc(spec) ? CKK.CKK_EC
        : spec == HsmKeySpec.Ed25519 ? Pkcs11Constants.CkkEcEdwards
        : throw new ArgumentOutOfRangeException(nameof(spec), spec, "Not a key pair spec.");

    private static Pkcs11Attribute[] PublicKeyBase(HsmKeySpec spec) => KeySpecs.IsRsa(spec)
        ?
        [
            new(CKA.CKA_CLASS, CKO.CKO_PUBLIC_KEY),
            new(CKA.CKA_KEY_TYPE, KeyTypeOf(spec)),
            new(CKA.CKA_MODULUS_BITS, (ulong)KeySpecs.RsaModulusBits(spec)),
            new(CKA.CKA_PUBLIC_EXPONENT, Pkcs11Constants.RsaPublicExponent),
        ]
        :
        [
            new(CKA.CKA_CLASS, CKO.CKO_PUBLIC_KEY),
            new(CKA.CKA_KEY_TYPE, KeyTypeOf(spec)),
            new(CKA.CKA_EC_PARAMS, KeyEncoding.EcParameters(spec)),
        ];
}
