using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace KmsEmulator.Hsm.Pkcs11;

/// <summary>Finds the token by its label and, on SoftHSM2, creates it in the free slot when it does not exist yet.</summary>
internal static class TokenProvisioner
{
    /// <summary>Returns the slot holding the token labelled <see cref="HsmOptions.TokenLabel"/>.</summary>
    public static ISlot FindOrInitialize(Pkcs11Module module, HsmOptions options, Action<string> log)
    {
        var label = options.TokenLabel.Trim();
        lock (module.TokenLock)
        {
            if (Find(module.Library, label) is { } slot)
            {
                return slot;
            }

            if (!options.InitializeToken)
            {
                throw new HsmException(HsmErrorKind.Unavailable,
                    $"No token labelled '{label}' in '{module.Path}', and Kms:Hsm:InitializeToken is false.");
            }

            Initialize(module, label, options);
            log($"Initialised new token '{label}'.");

            // SoftHSM2 offers a fresh free slot after each initialisation and may renumber slots, so look again by label.
            return Find(module.Library, label)
                ?? throw new HsmException(HsmErrorKind.Unavailable, $"The token '{label}' was initialised but then not found.");
        }
    }

    private static ISlot? Find(IPkcs11Library library, string label) =>
        library.GetSlotList(SlotsType.WithTokenPresent).FirstOrDefault(slot =>
        {
            var token = slot.GetTokenInfo();
            return token.TokenFlags.TokenInitialized && token.Label.Trim() == label;
        });

    private static void Initialize(Pkcs11Module module, string label, HsmOptions options)
    {
        if (!module.Library.GetInfo().ManufacturerId.StartsWith("SoftHSM", StringComparison.Ordinal))
        {
            throw new HsmException(HsmErrorKind.Unavailable,
                $"No token labelled '{label}' in '{module.Path}'. Tokens are created automatically only on SoftHSM2; " +
                "create it with your HSM's own tools.");
        }

        var free = module.Library.GetSlotList(SlotsType.WithTokenPresent)
            .FirstOrDefault(slot => !slot.GetTokenInfo().TokenFlags.TokenInitialized)
            ?? throw new HsmException(HsmErrorKind.Unavailable, $"SoftHSM2 offers no free slot to create the token '{label}' in.");

        free.InitToken(options.SoPin, label);
        using var session = free.OpenSession(SessionType.ReadWrite);
        session.Login(CKU.CKU_SO, options.SoPin);
        session.InitPin(options.UserPin);
        session.Logout();
    }
}
