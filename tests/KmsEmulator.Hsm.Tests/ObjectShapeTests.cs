using KmsEmulator.Hsm.Pkcs11;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace KmsEmulator.Hsm.Tests;

/// <summary>
/// The start-up index's quick check of an object against its kind (<see cref="ObjectShape"/>) says yes exactly when
/// the full comparison with the key's own template finds no difference, for every kind of key object.
/// </summary>
public sealed class ObjectShapeTests
{
    private static readonly IObjectHandle Handle = new Pkcs11InteropFactories().ObjectHandleFactory.Create(1);

    /// <summary>Every key object the backend makes or imports: spec, usage, origin and class.</summary>
    public static TheoryData<HsmKeySpec, HsmKeyUsage, bool, CKO> Kinds()
    {
        var kinds = new TheoryData<HsmKeySpec, HsmKeyUsage, bool, CKO>();
        foreach (var spec in Enum.GetValues<HsmKeySpec>())
        {
            foreach (var usage in Enum.GetValues<HsmKeyUsage>())
            {
                foreach (var imported in new[] { false, true })
                {
                    foreach (var objectClass in AttributeTemplates.ClassesOf(spec))
                    {
                        try
                        {
                            AttributeTemplates.Expected(new HsmKeyDescription("probe", spec, usage, imported), objectClass);
                            kinds.Add(spec, usage, imported, objectClass);
                        }
                        catch (HsmException)
                        {
                            // Not a kind the backend makes (a usage the spec cannot have, or material it cannot import).
                        }
                    }
                }
            }
        }

        return kinds;
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void An_object_fits_its_kind_exactly_when_it_matches_its_template(HsmKeySpec spec, HsmKeyUsage usage, bool imported, CKO objectClass)
    {
        var key = new HsmKeyDescription("kmsemu-1/key-a", spec, usage, imported);
        var shape = ObjectShape.Of(new HsmKeyDescription("kmsemu-1/other", spec, usage, imported), objectClass);
        var expected = AttributeTemplates.Expected(key, objectClass);

        // As made: with the plain id, and with the id dated at creation.
        Assert.True(shape.Fits(Snapshot(expected), key.Label));
        var dated = AttributeTemplates.Dated(expected, DateTimeOffset.FromUnixTimeMilliseconds(1_780_000_000_000));
        Assert.Empty(Snapshot(dated).Differences(expected));
        Assert.True(shape.Fits(Snapshot(dated), key.Label));

        // Another key's object of the same kind does not fit this key.
        Assert.False(shape.Fits(Snapshot(AttributeTemplates.Expected(key with { Label = "kmsemu-1/key-b" }, objectClass)), key.Label));

        // Any one attribute changed or unreadable: the full comparison reports it, and the quick check says no.
        foreach (var attribute in expected)
        {
            var changed = expected.Select(a => a.Type == attribute.Type ? a with { Value = (byte[])[.. a.Encoded, 1] } : a).ToArray();
            Assert.NotEmpty(Snapshot(changed).Differences(expected));
            Assert.False(shape.Fits(Snapshot(changed), key.Label), $"{attribute.Type} changed");

            var unreadable = Snapshot(expected, without: attribute.Type);
            Assert.NotEmpty(unreadable.Differences(expected));
            Assert.False(shape.Fits(unreadable, key.Label), $"{attribute.Type} unreadable");
        }
    }

    private static ObjectSnapshot Snapshot(IEnumerable<Pkcs11Attribute> attributes, CKA? without = null)
    {
        var values = ObjectSnapshot.KeyAttributes.ToDictionary(type => type, _ => (byte[]?)null);
        foreach (var attribute in attributes.Where(a => a.Type != without))
        {
            values[attribute.Type] = attribute.Encoded;
        }

        return new ObjectSnapshot(Handle, values);
    }
}
