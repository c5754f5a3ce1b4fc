using System.Collections.Concurrent;
using System.Security.Cryptography;
using KmsEmulator.Hsm.Pkcs11;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace KmsEmulator.Hsm.Tests;

/// <summary>
/// Key pairs and HMAC keys made once per test class and reused by its tests (RSA generation takes a while). Keys stay on
/// the class's token, so later tests may use them through their own backend instance.
/// </summary>
internal sealed class SharedKeys
{
    private readonly ConcurrentDictionary<(HsmKeySpec, HsmKeyUsage), Lazy<Task<(string Label, byte[] Spki)>>> _keys = new();

    public Task<(string Label, byte[] Spki)> GetAsync(Pkcs11Backend backend, HsmKeySpec spec, HsmKeyUsage usage) =>
        _keys.GetOrAdd((spec, usage), _ => new Lazy<Task<(string, byte[])>>(async () =>
        {
            var label = TestData.KeyLabel($"{spec}-{usage}");
            if (usage == HsmKeyUsage.GenerateVerifyMac)
            {
                await backend.CreateHmacKeyAsync(label, spec);
                return (label, Array.Empty<byte>());
            }

            return (label, await backend.CreateKeyPairAsync(label, spec, usage));
        })).Value;
}

internal static class HsmObjects
{
    /// <summary>Reads attributes of the token object with this label and class.</summary>
    public static Task<List<IObjectAttribute>> ReadAsync(Pkcs11Backend backend, string label, CKO objectClass, params CKA[] types) =>
        backend.RunAsync("read attributes", session =>
        {
            using var template = Pkcs11Template.From(session, AttributeTemplates.TokenObjectLabelled(objectClass, label));
            var handle = session.FindAllObjects(template.Attributes).Single();
            return session.GetAttributeValue(handle, [.. types]);
        }, default).AsTask();

    public static async Task<Dictionary<CKA, bool>> ReadFlagsAsync(Pkcs11Backend backend, string label, CKO objectClass, params CKA[] types) =>
        (await ReadAsync(backend, label, objectClass, types)).ToDictionary(a => (CKA)a.Type, a => a.GetValueAsBool());

    /// <summary>Number of objects with this label on the token, whatever their class.</summary>
    public static Task<int> CountLabelledAsync(Pkcs11Backend backend, string label) =>
        backend.RunAsync("count objects", session =>
        {
            using var template = Pkcs11Template.From(session, AttributeTemplates.TokenObjectsLabelled(label));
            return session.FindAllObjects(template.Attributes).Count;
        }, default).AsTask();

    /// <summary>
    /// Number of unlabelled session (non-token) objects visible to the process: the temporaries an operation makes
    /// (data key pairs, derived secrets). The backend's session copies of keys carry their key's label.
    /// </summary>
    public static Task<int> CountSessionObjectsAsync(Pkcs11Backend backend) =>
        backend.RunAsync("count session objects", session =>
        {
            using var template = Pkcs11Template.From(session, [new(CKA.CKA_TOKEN, false)]);
            return session.FindAllObjects(template.Attributes)
                .Count(handle => Pkcs11Attributes.ReadBytes(session, handle, CKA.CKA_LABEL)[0] is not { Length: > 0 });
        }, default).AsTask();

    /// <summary>Session (non-token) objects carrying this label: the backend's in-memory copies of that key.</summary>
    public static Task<List<IObjectAttribute>> ReadSessionCopiesAsync(Pkcs11Backend backend, string label, params CKA[] types) =>
        backend.RunAsync("read session copies", session =>
        {
            using var template = Pkcs11Template.From(session, [new(CKA.CKA_TOKEN, false), new(CKA.CKA_LABEL, label)]);
            return session.FindAllObjects(template.Attributes).SelectMany(handle => session.GetAttributeValue(handle, [.. types])).ToList();
        }, default).AsTask();

    /// <summary>Creates an object from a template (e.g. a key with a known value), keeping the template alive across the call.</summary>
    public static Task<IObjectHandle> CreateAsync(Pkcs11Backend backend, params Pkcs11Attribute[] attributes) =>
        backend.RunAsync("create an object", session =>
        {
            using var template = Pkcs11Template.From(session, attributes);
            return session.CreateObject(template.Attributes);
        }, default).AsTask();
}

internal static class Hashes
{
    public static HashAlgorithmName Of(SignatureScheme scheme) => scheme switch
    {
        SignatureScheme.RsaPssSha256 or SignatureScheme.RsaPkcs1Sha256 or SignatureScheme.EcdsaSha256 => HashAlgorithmName.SHA256,
        SignatureScheme.RsaPssSha384 or SignatureScheme.RsaPkcs1Sha384 or SignatureScheme.EcdsaSha384 => HashAlgorithmName.SHA384,
        _ => HashAlgorithmName.SHA512,
    };

    public static ECCurve CurveOf(HsmKeySpec spec) => spec switch
    {
        HsmKeySpec.EcP256 => ECCurve.NamedCurves.nistP256,
        HsmKeySpec.EcP384 => ECCurve.NamedCurves.nistP384,
        HsmKeySpec.EcP521 => ECCurve.NamedCurves.nistP521,
        HsmKeySpec.EcSecp256k1 => ECCurve.CreateFromValue("1.3.132.0.10"),
        _ => throw new ArgumentOutOfRangeException(nameof(spec)),
    };
}
