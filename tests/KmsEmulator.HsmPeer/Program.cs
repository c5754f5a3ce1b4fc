// Another emulator node's HSM backend, in its own process, on a token directory that the test process uses too.
// Usage: dotnet KmsEmulator.HsmPeer.dll TOKEN_DIRECTORY TOKEN_LABEL
// Reads one command a line from standard input and answers one line: "ok [hex]" or "error KIND message".
//   create-aes LABEL | create-ec LABEL (ECC_NIST_P256, sign) | destroy LABEL
//   encrypt LABEL IV AAD PLAINTEXT | decrypt LABEL IV AAD CIPHERTEXT | sign LABEL DIGEST | quit
// (byte strings in hex, "-" for an empty one)
// Prints "ready" once the backend is open. Only test data passes through it: keys stay in the HSM.
using KmsEmulator.Hsm;
using KmsEmulator.Hsm.Pkcs11;

if (args.Length != 2)
{
    Console.Error.WriteLine("usage: KmsEmulator.HsmPeer TOKEN_DIRECTORY TOKEN_LABEL");
    return 2;
}

using var hsm = Pkcs11Backend.Open(new HsmOptions { TokenDirectory = args[0], TokenLabel = args[1] }, line => Console.Error.WriteLine(line));
Console.WriteLine("ready");
while (Console.ReadLine() is { } line)
{
    var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
    if (words is ["quit"])
    {
        break;
    }

    try
    {
        var answer = words switch
        {
            ["create-aes", var label] => await Done(hsm.CreateAesKeyAsync(label)),
            ["create-ec", var label] => Convert.ToHexString(await hsm.CreateKeyPairAsync(label, HsmKeySpec.EcP256, HsmKeyUsage.SignVerify)),
            ["destroy", var label] => await Done(hsm.DestroyAsync(label)),
            ["encrypt", var label, var iv, var aad, var data] =>
                Convert.ToHexString(await hsm.EncryptAesGcmAsync(label, Bytes(iv), Bytes(aad), Bytes(data))),
            ["decrypt", var label, var iv, var aad, var data] =>
                Convert.ToHexString(await hsm.DecryptAesGcmAsync(label, Bytes(iv), Bytes(aad), Bytes(data))),
            ["sign", var label, var digest] =>
                Convert.ToHexString(await hsm.SignAsync(label, SignatureScheme.EcdsaSha256, Bytes(digest), inputIsDigest: true)),
            _ => throw new HsmException(HsmErrorKind.InvalidInput, $"Unknown command: {line}"),
        };
        Console.WriteLine(answer.Length == 0 ? "ok" : "ok " + answer);
    }
    catch (HsmException e)
    {
        Console.WriteLine($"error {e.Kind} {e.Message}");
    }
}

return 0;

static byte[] Bytes(string hex) => hex == "-" ? [] : Convert.FromHexString(hex);

static async Task<string> Done(ValueTask call)
{
    await call;
    return string.Empty;
}
