using KmsEmulator.Hsm.Pkcs11;

namespace KmsEmulator.Hsm.Tests;

/// <summary>Module look-up only; these tests never load a module.</summary>
public sealed class ModuleLocatorTests
{
    [Fact]
    public void A_missing_configured_module_is_Unavailable_with_advice()
    {
        var options = new HsmOptions { ModulePath = "/nonexistent/libpkcs11-module.so" };

        var exception = Assert.Throws<HsmException>(() => Pkcs11Backend.Open(options));

        Assert.Equal(HsmErrorKind.Unavailable, exception.Kind);
        Assert.Contains("/nonexistent/libpkcs11-module.so", exception.Message);
        Assert.Contains("apt-get install softhsm2", exception.Message);
        Assert.Contains("Kms:Hsm:ModulePath", exception.Message);
    }

    [Fact]
    public void Without_any_SoftHSM2_module_the_error_names_every_place_tried()
    {
        string[] candidates = ["/nonexistent/a/libsofthsm2.so", "/nonexistent/b/libsofthsm2.so"];

        var exception = Assert.Throws<HsmException>(() => ModuleLocator.Resolve(null, candidates));

        Assert.Equal(HsmErrorKind.Unavailable, exception.Kind);
        Assert.All(candidates, candidate => Assert.Contains(candidate, exception.Message));
        Assert.Contains("apt-get install softhsm2", exception.Message);
    }

    [Fact]
    public void The_first_existing_SoftHSM2_location_is_used()
    {
        var present = Path.GetTempFileName();
        try
        {
            Assert.Equal(present, ModuleLocator.Resolve("", ["/nonexistent/libsofthsm2.so", present]));
        }
        finally
        {
            File.Delete(present);
        }
    }

    [Fact]
    public void The_usual_SoftHSM2_location_exists_on_this_machine()
    {
        Assert.Contains(ModuleLocator.Resolve(null), ModuleLocator.SoftHsmLocations);
    }
}
