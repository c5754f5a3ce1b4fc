using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace KmsEmulator.Hsm.Pkcs11;

/// <summary>Copies of key material under a new label, made inside the HSM (multi-Region replica keys).</summary>
public sealed partial class Pkcs11Backend
{
    /// <summary>
    /// One copy at a time. SoftHSM2's C_CopyObject first stores the new object with every attribute of the original,
    /// its label included, and renames it afterwards, so a search by label that runs meanwhile (another copy looking
    /// for its source, say) would find two objects. Copies are rare (a replica, a rotation of a multi-Region key).
    /// </summary>
    private readonly SemaphoreSlim _copyGate = new(1, 1);

    /// <inheritdoc />
    public async ValueTask CopyKeyAsync(string sourceLabel, HsmKeyDescription target, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(sourceLabel);
        ArgumentException.ThrowIfNullOrEmpty(target.Label);
        if (string.Equals(sourceLabel, target.Label, StringComparison.Ordinal))
        {
            throw new HsmException(HsmErrorKind.InvalidInput, "A key cannot be copied onto its own label.");
        }

        if (_defects.TryGetValue(sourceLabel, out var defects))
        {
            throw Defective(sourceLabel, defects);
        }

        _defects.TryRemove(target.Label, out _);
        List<(CKO Class, KeyObject Key)> objects;
        await _copyGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            objects = await RunAsync("copy a key", session => CopyObjects(session, sourceLabel, target), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _copyGate.Release();
        }

        foreach (var (objectClass, keyObject) in objects)
        {
            Remember(target.Label, objectClass, keyObject);
        }
    }

    /// <summary>
    /// On one session: finds the source's token objects and checks them against <paramref name="target"/> (with the
    /// source's label), copies each with a template that only renames it, reads every copy back and checks it against
    /// <paramref name="target"/>. Any failure destroys the copies made so far.
    /// </summary>
    private List<(CKO Class, KeyObject Key)> CopyObjects(ISession session, string sourceLabel, HsmKeyDescription target)
    {
        using (var existing = Pkcs11Template.From(session, AttributeTemplates.TokenObjectsLabelled(target.Label)))
        {
            if (FindFirst(session, existing) is not null)
            {
                throw new HsmException(HsmErrorKind.InvalidInput, $"The token already holds objects labelled '{target.Label}'.");
            }
        }

        var source = target with { Label = sourceLabel };
        var classes = AttributeTemplates.ClassesOf(target.Spec);
        var originals = new List<(CKO Class, IObjectHandle Handle)>(classes.Length);
        foreach (var objectClass in classes)
        {
            using var find = Pkcs11Template.From(session, AttributeTemplates.TokenObjectLabelled(objectClass, sourceLabel));
            var handles = FindAll(session, find);
            if (handles.Count != 1)
            {
                throw handles.Count == 0
                    ? KeyNotFound(sourceLabel, objectClass)
                    : new HsmException(HsmErrorKind.Defective, $"{handles.Count} {objectClass} objects carry the label '{sourceLabel}'; none is copied.");
            }

            var differences = ObjectSnapshot.Read(session, handles[0], ObjectSnapshot.KeyAttributes)
                .Differences(AttributeTemplates.Expected(source, objectClass));
            if (differences.Count > 0)
            {
                throw new HsmException(HsmErrorKind.Defective,
                    $"The key labelled '{sourceLabel}' is not the key to copy ({objectClass}: {string.Join("; ", differences)}).");
            }

            originals.Add((objectClass, handles[0]));
        }

        var copies = new List<(CKO Class, IObjectHandle Handle)>(originals.Count);
        try
        {
            foreach (var (objectClass, handle) in originals)
            {
                // The template lives until C_CopyObject has returned (Pkcs11Template): only the label and id change.
                using var rename = Pkcs11Template.From(session, AttributeTemplates.CopyRenamed(target.Label, _time.GetUtcNow()));
                copies.Add((objectClass, _tokenObjects.Creating(() => session.CopyObject(handle, rename.Attributes))));
            }

            var made = new List<(CKO Class, KeyObject Key)>(copies.Count);
            var problems = new List<string>();
            foreach (var (objectClass, handle) in copies)
            {
                var snapshot = ObjectSnapshot.Read(session, handle, ObjectSnapshot.KeyAttributes);
                problems.AddRange(snapshot.Differences(AttributeTemplates.Expected(target, objectClass)).Select(d => $"{objectClass}: {d}"));
                made.Add((objectClass, KeyObject.From(snapshot)));
            }

            if (problems.Count > 0)
            {
                throw new HsmException(HsmErrorKind.Internal,
                    $"The HSM made a copy labelled '{target.Label}' that is not what was asked ({string.Join("; ", problems)}); it was destroyed.");
            }

            return made;
        }
        catch
        {
            foreach (var (_, handle) in copies)
            {
                DestroyQuietly(session, handle);
            }

            throw;
        }
    }
}
