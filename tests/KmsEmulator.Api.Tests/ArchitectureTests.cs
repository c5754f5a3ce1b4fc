using ArchUnitNET.Domain;
using ArchUnitNET.Loader;
using KmsEmulator.Api.Hosting;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// The folders of KmsEmulator.Api depend one way (docs/architecture.md). Every type reference in the compiled
/// assembly, method bodies included, is mapped to the folders of its two ends; an arrow that is not allowed fails the
/// test with an example of the types on each end.
/// </summary>
public sealed class ArchitectureTests
{
    private const string Root = "KmsEmulator.Api";

    /// <summary>Which folders each folder may use (besides itself). Anything not listed is forbidden.</summary>
    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["Hosting"] = ["Protocol", "Protocol.CloudTrail", "Audit", "Pipeline", "Operations", "Keys", "Storage", "Generated", "Generated.Runtime"],
        ["Protocol"] = ["Audit", "Pipeline", "Keys", "Generated", "Generated.Runtime"],
        // CloudTrail's LookupEvents on the same port: uses the KMS edge (identity, responses, body reading), never the other way.
        ["Protocol.CloudTrail"] = ["Protocol", "Audit", "Pipeline", "Keys", "Generated", "Generated.Runtime"],
        ["Audit"] = ["Pipeline", "Keys", "Generated", "Generated.Runtime"],
        ["Pipeline"] = ["Keys", "Generated", "Generated.Runtime"],
        ["Operations"] = ["Pipeline", "Keys", "Generated", "Generated.Runtime"],
        ["Keys"] = ["Generated", "Generated.Runtime"],
        ["Storage"] = ["Keys", "Audit", "Generated", "Generated.Runtime"],
        ["Generated"] = ["Generated.Runtime"],
        ["Generated.Runtime"] = [],
    };

    private static readonly Lazy<Architecture> Architecture = new(() =>
        new ArchLoader().LoadAssemblies(typeof(KmsEmulatorApp).Assembly).Build());

    [Fact]
    public void Folders_depend_only_in_the_allowed_directions()
    {
        var forbidden = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var type in Architecture.Value.Types)
        {
            var from = FolderOf(type.Namespace.FullName);
            if (from is null || !Allowed.TryGetValue(from, out var allowed))
            {
                continue; // Another assembly's type, or a folder without a rule (the next test fails for that).
            }

            foreach (var dependency in type.Dependencies)
            {
                // A generic parameter is not a dependency. (The System.Text.Json source generator writes the same generic
                // helper into every context class, and the loader attributes one context's type parameter to another's;
                // the compiler's inline-array helpers for params spans have type parameters without a namespace.)
                if (dependency.Target is GenericParameter)
                {
                    continue;
                }

                var to = FolderOf(dependency.Target.Namespace.FullName);
                if (to is null || to == from || allowed.Contains(to))
                {
                    continue;
                }

                forbidden.TryAdd($"{from} -> {to}", $"{type.FullName} uses {dependency.Target.FullName}");
            }
        }

        Assert.True(forbidden.Count == 0, "Forbidden dependencies:\n" + string.Join("\n", forbidden.Select(f => $"  {f.Key}: {f.Value}")));
    }

    [Fact]
    public void Every_folder_of_the_assembly_has_a_rule()
    {
        var folders = Architecture.Value.Types
            .Select(t => t.Namespace.FullName)
            .Where(ns => ns.StartsWith(Root + ".", StringComparison.Ordinal))
            .Select(ns => ns[(Root.Length + 1)..])
            .Distinct()
            .Where(folder => !Allowed.ContainsKey(folder))
            .ToList();
        Assert.Empty(folders);
    }

    [Theory]
    [InlineData(typeof(KmsEmulator.Hsm.IKeyMaterialBackend))]
    [InlineData(typeof(KmsEmulator.Policy.PolicyDocument))]
    public void The_HSM_and_policy_libraries_use_no_other_project(System.Type library)
    {
        var ours = library.Assembly.GetReferencedAssemblies().Where(a => a.Name!.StartsWith("KmsEmulator", StringComparison.Ordinal));
        Assert.Empty(ours);
    }

    [Fact]
    public void The_rule_catches_a_forbidden_arrow()
    {
        // Positive control: the domain may not use the storage adapter, and the storage adapter does use the domain.
        Assert.DoesNotContain("Storage", Allowed["Keys"]);
        var storageUsesKeys = Architecture.Value.Types
            .Where(t => FolderOf(t.Namespace.FullName) == "Storage")
            .SelectMany(t => t.Dependencies)
            .Any(d => FolderOf(d.Target.Namespace.FullName) == "Keys");
        Assert.True(storageUsesKeys, "the dependency scan found no Storage -> Keys arrow, so it would miss forbidden ones too");
    }

    /// <summary>The folder of a namespace of this assembly (the longest rule that matches), or null for other code.</summary>
    private static string? FolderOf(string ns)
    {
        if (!ns.StartsWith(Root + ".", StringComparison.Ordinal))
        {
            return null;
        }

        var rest = ns[(Root.Length + 1)..];
        return Allowed.Keys
            .Where(folder => rest == folder || rest.StartsWith(folder + ".", StringComparison.Ordinal))
            .OrderByDescending(folder => folder.Length)
            .FirstOrDefault() ?? rest;
    }
}
