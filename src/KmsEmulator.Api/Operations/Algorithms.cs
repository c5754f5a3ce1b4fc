using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;

namespace KmsEmulator.Api.Operations;

/// <summary>Checks a requested algorithm against the key's capabilities.</summary>
public static class Algorithms
{
    /// <summary>The encryption algorithm to use: the requested one (which the key spec must offer) or the spec's default.</summary>
    public static EncryptionAlgorithmSpec Encryption(KeyRecord key, string? requested)
    {
        var offered = KeySpecCapabilities.For(key.KeySpec).EncryptionAlgorithmsFor(key.KeyUsage);
        if (requested is null)
        {
            return key.KeySpec == KeySpec.SYMMETRIC_DEFAULT
                ? EncryptionAlgorithmSpec.SYMMETRIC_DEFAULT
                : throw KmsErrors.Validation("EncryptionAlgorithm is required for asymmetric KMS keys.");
        }

        EncryptionAlgorithmSpecWire.TryParse(requested, out var algorithm);
        return offered.Contains(algorithm)
            ? algorithm
            : throw KmsErrors.InvalidKeyUsage($"Algorithm {requested} is incompatible with key spec {key.KeySpec.ToWire()}.");
    }
}
