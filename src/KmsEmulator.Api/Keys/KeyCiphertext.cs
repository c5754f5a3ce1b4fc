namespace KmsEmulator.Api.Keys;

/// <summary>
/// A ciphertext as Decrypt or ReEncrypt received it. For symmetric keys it is the emulator's format, parsed
/// (<see cref="Symmetric"/>); for RSA keys it is the raw RSAES-OAEP output, which names no key and is not parsed.
/// </summary>
public readonly record struct KeyCiphertext(ReadOnlyMemory<byte> Blob, SymmetricCiphertext? Symmetric);
