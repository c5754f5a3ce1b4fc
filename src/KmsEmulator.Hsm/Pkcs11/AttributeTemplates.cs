using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;
using Net.Pkcs11Interop.HighLevelAPI.Factories;

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

    /// <summary>Finds the secret-key token object with this label.</summary>
    public static List<IObjectAttribute> SecretKeyLabelled(IObjectAttributeFactory attributes, string label) =>
    [
        attributes.Create(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY),
        attributes.Create(CKA.CKA_TOKEN, true),
        attributes.Create(CKA.CKA_LABEL, label),
    ];

    /// <summary>Finds every token object with this label, whatever its class.</summary>
    public static List<IObjectAttribute> TokenObjectsLabelled(IObjectAttributeFactory attributes, string label) =>
    [
        attributes.Create(CKA.CKA_TOKEN, true),
        attributes.Create(CKA.CKA_LABEL, label),
    ];

    /// <summary>Finds every token object.</summary>
    public static List<IObjectAttribute> TokenObjects(IObjectAttributeFactory attributes) =>
    [
        attributes.Create(CKA.CKA_TOKEN, true),
    ];
}
