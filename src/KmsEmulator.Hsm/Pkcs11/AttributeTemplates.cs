using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;
using Net.Pkcs11Interop.HighLevelAPI.Factories;
using KmsEmulator.Hsm.Crypto;

namespace KmsEmulator.Hsm.Pkcs11;

/// <summary>Every PKCS#11 attribute template the backend uses: for new keys and for searches.</summary>
internal static class AttributeTemplates
{
    /// <summary>
    /// A 256-bit AES token key that never leaves the HSM. <c>CKA_PRIVATE</c> matters: SoftHSM2 stores the
    /// attributes of non-private token objects, key value included, in plaintext on disk.
    /// </summary>
    public static List<IObjectAttribute> AesKey(IObjectAttributeFactory attributes, string label) =>
    [
        attributes.Create(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY),
        attributes.Create(CKA.CKA_KEY_TYPE, CKK.CKK_AES),
        attributes.Create(CKA.CKA_VALUE_LEN, 32UL),
        attributes.Create(CKA.CKA_TOKEN, true),
        attributes.Create(CKA.CKA_PRIVATE, true),
        attributes.Create(CKA.CKA_SENSITIVE, true),
        attributes.Create(CKA.CKA_EXTRACTABLE, false),
        attributes.Create(CKA.CKA_ENCRYPT, true),
        attributes.Create(CKA.CKA_DECRYPT, true),
        attributes.Create(CKA.CKA_WRAP, false),
        attributes.Create(CKA.CKA_UNWRAP, false),
        attributes.Create(CKA.CKA_LABEL, label),
        attributes.Create(CKA.CKA_ID, System.Text.Encoding.UTF8.GetBytes(label)),
    ];

    /// <summary>
    /// The public half of a token key pair. It is a token object with the pair's label and CKA_ID, and it is private
    /// too, so that SoftHSM2 encrypts its label on disk like the private key's. Only the public counterpart of the
    /// private key's usage is allowed.
    /// </summary>
    public static List<IObjectAttribute> TokenPublicKey(IObjectAttributeFactory attributes, string label, HsmKeySpec spec,
        HsmKeyUsage usage) =>
    [
        .. PublicKeyBase(attributes, spec),
        attributes.Create(CKA.CKA_TOKEN, true),
        attributes.Create(CKA.CKA_PRIVATE, true),
        attributes.Create(CKA.CKA_VERIFY, usage == HsmKeyUsage.SignVerify),
        attributes.Create(CKA.CKA_ENCRYPT, usage == HsmKeyUsage.EncryptDecrypt),
        attributes.Create(CKA.CKA_VERIFY_RECOVER, false),
        attributes.Create(CKA.CKA_WRAP, false),
        attributes.Create(CKA.CKA_LABEL, label),
        attributes.Create(CKA.CKA_ID, System.Text.Encoding.UTF8.GetBytes(label)),
    ];

    /// <summary>
    /// The private half of a token key pair: private, sensitive, never extractable, and allowed only the one
    /// operation <paramref name="usage"/> needs (CKA_SIGN, CKA_DECRYPT or CKA_DERIVE).
    /// </summary>
    public static List<IObjectAttribute> TokenPrivateKey(IObjectAttributeFactory attributes, string label, HsmKeySpec spec,
        HsmKeyUsage usage) =>
    [
        attributes.Create(CKA.CKA_CLASS, CKO.CKO_PRIVATE_KEY),
        attributes.Create(CKA.CKA_KEY_TYPE, KeyTypeOf(spec)),
        attributes.Create(CKA.CKA_TOKEN, true),
        attributes.Create(CKA.CKA_PRIVATE, true),
        attributes.Create(CKA.CKA_SENSITIVE, true),
        attributes.Create(CKA.CKA_EXTRACTABLE, false),
        attributes.Create(CKA.CKA_SIGN, usage == HsmKeyUsage.SignVerify),
        attributes.Create(CKA.CKA_DECRYPT, usage == HsmKeyUsage.EncryptDecrypt),
        attributes.Create(CKA.CKA_DERIVE, usage == HsmKeyUsage.KeyAgreement),
        attributes.Create(CKA.CKA_SIGN_RECOVER, false),
        attributes.Create(CKA.CKA_UNWRAP, false),
        attributes.Create(CKA.CKA_LABEL, label),
        attributes.Create(CKA.CKA_ID, System.Text.Encoding.UTF8.GetBytes(label)),
    ];

    /// <summary>The public half of a data key pair: a session object, destroyed right after export.</summary>
    public static List<IObjectAttribute> SessionPublicKey(IObjectAttributeFactory attributes, HsmKeySpec spec) =>
    [
        .. PublicKeyBase(attributes, spec),
        attributes.Create(CKA.CKA_TOKEN, false),
    ];

    /// <summary>The private half of a data key pair: a session object that can be read out, because it is returned to the caller.</summary>
    public static List<IObjectAttribute> SessionPrivateKey(IObjectAttributeFactory attributes, HsmKeySpec spec) =>
    [
        attributes.Create(CKA.CKA_CLASS, CKO.CKO_PRIVATE_KEY),
        attributes.Create(CKA.CKA_KEY_TYPE, KeyTypeOf(spec)),
        attributes.Create(CKA.CKA_TOKEN, false),
        attributes.Create(CKA.CKA_PRIVATE, true),
        attributes.Create(CKA.CKA_SENSITIVE, false),
        attributes.Create(CKA.CKA_EXTRACTABLE, true),
    ];

    /// <summary>
    /// An HMAC secret (CKK_GENERIC_SECRET) that never leaves the HSM and may only sign and verify MACs. SoftHSM2's
    /// minimum HMAC key is the hash size, which equals each KMS HMAC key size.
    /// </summary>
    public static List<IObjectAttribute> HmacKey(IObjectAttributeFactory attributes, string label, HsmKeySpec spec) =>
    [
        attributes.Create(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY),
        attributes.Create(CKA.CKA_KEY_TYPE, CKK.CKK_GENERIC_SECRET),
        attributes.Create(CKA.CKA_VALUE_LEN, (ulong)KeySpecs.HmacKeyBytes(spec)),
        attributes.Create(CKA.CKA_TOKEN, true),
        attributes.Create(CKA.CKA_PRIVATE, true),
        attributes.Create(CKA.CKA_SENSITIVE, true),
        attributes.Create(CKA.CKA_EXTRACTABLE, false),
        attributes.Create(CKA.CKA_SIGN, true),
        attributes.Create(CKA.CKA_VERIFY, true),
        attributes.Create(CKA.CKA_ENCRYPT, false),
        attributes.Create(CKA.CKA_DECRYPT, false),
        attributes.Create(CKA.CKA_WRAP, false),
        attributes.Create(CKA.CKA_UNWRAP, false),
        attributes.Create(CKA.CKA_DERIVE, false),
        attributes.Create(CKA.CKA_LABEL, label),
        attributes.Create(CKA.CKA_ID, System.Text.Encoding.UTF8.GetBytes(label)),
    ];

    /// <summary>
    /// The session secret an ECDH derivation writes its result into: readable, because the raw shared secret is the
    /// operation's output, and destroyed as soon as it has been read.
    /// </summary>
    public static List<IObjectAttribute> DerivedSecret(IObjectAttributeFactory attributes, int valueBytes) =>
    [
        attributes.Create(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY),
        attributes.Create(CKA.CKA_KEY_TYPE, CKK.CKK_GENERIC_SECRET),
        attributes.Create(CKA.CKA_VALUE_LEN, (ulong)valueBytes),
        attributes.Create(CKA.CKA_TOKEN, false),
        attributes.Create(CKA.CKA_SENSITIVE, false),
        attributes.Create(CKA.CKA_EXTRACTABLE, true),
    ];

    /// <summary>Finds the token object of this class with this label.</summary>
    public static List<IObjectAttribute> TokenObjectLabelled(IObjectAttributeFactory attributes, CKO objectClass, string label) =>
    [
        attributes.Create(CKA.CKA_CLASS, objectClass),
        attributes.Create(CKA.CKA_TOKEN, true),
        attributes.Create(CKA.CKA_LABEL, label),
    ];

    /// <summary>The PKCS#11 key type of a key pair spec.</summary>
    public static CKK KeyTypeOf(HsmKeySpec spec) =>
        KeySpecs.IsRsa(spec) ? CKK.CKK_RSA
        : KeySpecs.IsEc(spec) ? CKK.CKK_EC
        : spec == HsmKeySpec.Ed25519 ? Pkcs11Constants.CkkEcEdwards
        : throw new ArgumentOutOfRangeException(nameof(spec), spec, "Not a key pair spec.");

    private static List<IObjectAttribute> PublicKeyBase(IObjectAttributeFactory attributes, HsmKeySpec spec)
    {
        List<IObjectAttribute> template =
        [
            attributes.Create(CKA.CKA_CLASS, CKO.CKO_PUBLIC_KEY),
            attributes.Create(CKA.CKA_KEY_TYPE, KeyTypeOf(spec)),
        ];
        if (KeySpecs.IsRsa(spec))
        {
            template.Add(attributes.Create(CKA.CKA_MODULUS_BITS, (ulong)KeySpecs.RsaModulusBits(spec)));
            template.Add(attributes.Create(CKA.CKA_PUBLIC_EXPONENT, Pkcs11Constants.RsaPublicExponent));
        }
        else
        {
            template.Add(attributes.Create(CKA.CKA_EC_PARAMS, KeyEncoding.EcParameters(spec)));
        }

        return template;
    }

    /// <summary>Finds the secret-key token object with this label.</summary>
    public static List<IObjectAttribute> SecretKeyLabelled(IObjectAttributeFactory attributes, string label) =>
        TokenObjectLabelled(attributes, CKO.CKO_SECRET_KEY, label);

    /// <summary>Finds every token object with this label, whatever its class.</summary>
    public static List<IObjectAttribute> TokenObjectsLabelled(IObjectAttributeFactory attributes, string label) =>
    [
        attributes.Create(CKA.CKA_TOKEN, true),
        attributes.Create(CKA.CKA_LABEL, label),
    ];

    /// <summary>Finds every object with this label, token objects and session objects alike.</summary>
    public static List<IObjectAttribute> ObjectsLabelled(IObjectAttributeFactory attributes, string label) =>
    [
        attributes.Create(CKA.CKA_LABEL, label),
    ];

    /// <summary>Finds every token object.</summary>
    public static List<IObjectAttribute> TokenObjects(IObjectAttributeFactory attributes) =>
    [
        attributes.Create(CKA.CKA_TOKEN, true),
    ];
}
