using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Operations;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace KmsEmulator.Api.Hosting;

/// <summary>A start-up error of the seed file: its message names the file, the entry and the field; no stack trace.</summary>
public sealed class SeedException(string message) : Exception(message);

/// <summary>One key the seed file declares, after defaults and validation. Null members were not given.</summary>
public sealed record SeedKey(
    int Index,
    KeyScope Scope,
    string KeyId,
    KeySpec KeySpec,
    KeyUsageType KeyUsage,
    string? Description,
    IReadOnlyList<string> Aliases,
    IReadOnlyList<KeyTag>? Tags,
    string? Policy,
    bool? RotationEnabled,
    int? RotationPeriodInDays,
    bool? Enabled)
{
    /// <summary>How messages name the entry: its position and key id.</summary>
    public string Name => $"Keys[{Index}] (key id {KeyId})";
}

/// <summary>
/// Reads a seed file (<c>--seed FILE</c>, JSON or YAML by extension) into <see cref="SeedKey"/>s and checks it on its
/// own: known fields, specs and usages, key ids, alias names, tags, policies, rotation, duplicates. Nothing here looks
/// at the store; <see cref="SeedApplier"/> compares with what exists.
/// </summary>
public static class SeedFile
{
    private static readonly HashSet<string> KnownFields = new(StringComparer.Ordinal)
    {
        "KeyId", "AccountId", "Region", "KeySpec", "KeyUsage", "Description", "Aliases", "Tags", "Policy", "Rotation", "Enabled",
    };

    public static IReadOnlyList<SeedKey> Load(string path, string defaultAccountId, string defaultRegion)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SeedException($"Seed file {path}: cannot be read ({e.Message}).");
        }

        return Parse(path, text, defaultAccountId, defaultRegion);
    }

    public static IReadOnlyList<SeedKey> Parse(string path, string text, string defaultAccountId, string defaultRegion)
    {
        var extension = Path.GetExtension(path).ToLowerInvariant();
        var json = extension switch
        {
            ".json" => text,
            ".yaml" or ".yml" => YamlToJson(path, text),
            _ => throw new SeedException($"Seed file {path}: the name must end in .json, .yaml or .yml."),
        };

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new SeedException($"Seed file {path}: not valid JSON ({e.Message}).");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("Keys", out var keys) || keys.ValueKind != JsonValueKind.Array)
            {
                throw new SeedException($"Seed file {path}: the top level must be an object with a list \"Keys\".");
            }

            foreach (var property in root.EnumerateObject())
            {
                if (property.Name != "Keys")
                {
                    throw new SeedException($"Seed file {path}: unknown top-level field \"{property.Name}\" (only \"Keys\").");
                }
            }

            var result = new List<SeedKey>();
            var index = 0;
            foreach (var entry in keys.EnumerateArray())
            {
                result.Add(ParseEntry(path, index++, entry, defaultAccountId, defaultRegion));
            }

            CheckDuplicates(path, result);
            return result;
        }
    }

    private static SeedKey ParseEntry(string path, int index, JsonElement entry, string defaultAccountId, string defaultRegion)
    {
        if (entry.ValueKind != JsonValueKind.Object)
        {
            throw new SeedException($"Seed file {path}: Keys[{index}] must be an object.");
        }

        var keyId = entry.TryGetProperty("KeyId", out var id) && id.ValueKind == JsonValueKind.String ? id.GetString()! : null;
        var name = keyId is null ? $"Keys[{index}]" : $"Keys[{index}] (key id {keyId})";
        SeedException Error(string field, string problem) => new($"Seed file {path}: {name}, field {field}: {problem}");

        foreach (var property in entry.EnumerateObject())
        {
            if (!KnownFields.Contains(property.Name))
            {
                throw Error(property.Name, $"unknown field (known: {string.Join(", ", KnownFields)}).");
            }
        }

        if (keyId is null)
        {
            throw Error("KeyId", "required, a UUID string.");
        }

        if (keyId.StartsWith("mrk-", StringComparison.Ordinal))
        {
            throw Error("KeyId", "multi-Region keys (mrk- ids) cannot be seeded yet.");
        }

        if (!Guid.TryParseExact(keyId, "D", out var guid) || guid.ToString("D") != keyId)
        {
            throw Error("KeyId", $"\"{keyId}\" is not a lower-case UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx).");
        }

        var account = OptionalString(entry, "AccountId", Error) ?? defaultAccountId;
        if (account.Length != 12 || !account.All(char.IsAsciiDigit))
        {
            throw Error("AccountId", $"\"{account}\" is not a 12-digit account id.");
        }

        var region = OptionalString(entry, "Region", Error) ?? defaultRegion;
        if (!AwsRegions.Known.Contains(region))
        {
            throw Error("Region", $"\"{region}\" is not a known region.");
        }

        var specText = OptionalString(entry, "KeySpec", Error);
        var spec = KeySpec.SYMMETRIC_DEFAULT;
        if (specText is not null && !KeySpecWire.TryParse(specText, out spec))
        {
            throw Error("KeySpec", $"unknown key spec \"{specText}\".");
        }

        var capability = KeySpecCapabilities.For(spec);
        if (!capability.SupportedByEmulator)
        {
            throw Error("KeySpec", $"{specText} is not supported by the emulator ({capability.UnsupportedReason}).");
        }

        var usageText = OptionalString(entry, "KeyUsage", Error);
        KeyUsageType usage;
        if (usageText is null)
        {
            usage = spec == KeySpec.SYMMETRIC_DEFAULT ? KeyUsageType.ENCRYPT_DECRYPT
                : capability.Usages.Length == 1 ? capability.Usages[0]
                : throw Error("KeyUsage", $"required for {specText} (one of {string.Join(", ", capability.Usages.Select(u => u.ToWire()))}).");
        }
        else if (!KeyUsageTypeWire.TryParse(usageText, out usage))
        {
            throw Error("KeyUsage", $"unknown key usage \"{usageText}\".");
        }

        if (!capability.Allows(usage))
        {
            throw Error("KeyUsage", $"{usageText} is not a usage of {spec.ToWire()}.");
        }

        var description = OptionalString(entry, "Description", Error);
        if (description is { Length: > 8192 })
        {
            throw Error("Description", "longer than 8192 characters.");
        }

        var aliases = new List<string>();
        if (entry.TryGetProperty("Aliases", out var aliasList))
        {
            if (aliasList.ValueKind != JsonValueKind.Array)
            {
                throw Error("Aliases", "must be a list of alias names.");
            }

            foreach (var alias in aliasList.EnumerateArray())
            {
                var aliasName = alias.ValueKind == JsonValueKind.String ? alias.GetString()! : throw Error("Aliases", "must be a list of alias names.");
                if (!aliasName.StartsWith("alias/", StringComparison.Ordinal) || aliasName.Length == "alias/".Length)
                {
                    throw Error("Aliases", $"\"{aliasName}\" does not start with alias/.");
                }

                if (aliasName.StartsWith("alias/aws/", StringComparison.Ordinal))
                {
                    throw Error("Aliases", $"\"{aliasName}\": alias/aws/ is reserved for AWS managed keys.");
                }

                if (aliasName.Length > 256 || !aliasName.All(c => char.IsAsciiLetterOrDigit(c) || c is '/' or '_' or '-'))
                {
                    throw Error("Aliases", $"\"{aliasName}\" is not a valid alias name (letters, digits, /, _ and -, at most 256 characters).");
                }

                aliases.Add(aliasName);
            }
        }

        List<KeyTag>? tags = null;
        if (entry.TryGetProperty("Tags", out var tagMap))
        {
            if (tagMap.ValueKind != JsonValueKind.Object)
            {
                throw Error("Tags", "must be a map of tag keys to values.");
            }

            tags = [];
            foreach (var tag in tagMap.EnumerateObject())
            {
                tags.Add(new KeyTag(tag.Name, tag.Value.ValueKind == JsonValueKind.String ? tag.Value.GetString()! : throw Error("Tags", $"the value of \"{tag.Name}\" must be a string.")));
            }

            try
            {
                TagService.ValidateTags(tags, []);
            }
            catch (KmsException e)
            {
                throw Error("Tags", e.Message);
            }
        }

        string? policy = null;
        if (entry.TryGetProperty("Policy", out var policyElement))
        {
            // A JSON object is kept exactly as written (its raw text); a string is the document itself.
            policy = policyElement.ValueKind switch
            {
                JsonValueKind.Object => policyElement.GetRawText(),
                JsonValueKind.String => policyElement.GetString()!,
                _ => throw Error("Policy", "must be a JSON object or a string holding one."),
            };
            try
            {
                PolicyOperations.CheckPolicyDocument(policy);
            }
            catch (KmsException e)
            {
                throw Error("Policy", e.Message);
            }
        }

        bool? rotationEnabled = null;
        int? period = null;
        if (entry.TryGetProperty("Rotation", out var rotation))
        {
            if (rotation.ValueKind != JsonValueKind.Object)
            {
                throw Error("Rotation", "must be an object with Enabled and optionally PeriodInDays.");
            }

            foreach (var property in rotation.EnumerateObject())
            {
                if (property.Name is not ("Enabled" or "PeriodInDays"))
                {
                    throw Error("Rotation." + property.Name, "unknown field (known: Enabled, PeriodInDays).");
                }
            }

            rotationEnabled = rotation.TryGetProperty("Enabled", out var enabled) && enabled.ValueKind is JsonValueKind.True or JsonValueKind.False
                ? enabled.GetBoolean()
                : throw Error("Rotation.Enabled", "required, true or false.");
            if (rotation.TryGetProperty("PeriodInDays", out var days))
            {
                period = days.ValueKind == JsonValueKind.Number && days.TryGetInt32(out var d) && d is >= 90 and <= 2560
                    ? d
                    : throw Error("Rotation.PeriodInDays", "must be a whole number of days from 90 to 2560.");
            }

            if (rotationEnabled == true && spec != KeySpec.SYMMETRIC_DEFAULT)
            {
                throw Error("Rotation.Enabled", "automatic rotation is for SYMMETRIC_DEFAULT keys only.");
            }

            if (rotationEnabled == true)
            {
                period ??= 365;
            }
            else if (period is not null)
            {
                throw Error("Rotation.PeriodInDays", "given while rotation is off.");
            }
        }

        bool? state = null;
        if (entry.TryGetProperty("Enabled", out var enabledElement))
        {
            state = enabledElement.ValueKind is JsonValueKind.True or JsonValueKind.False ? enabledElement.GetBoolean() : throw Error("Enabled", "must be true or false.");
        }

        return new SeedKey(index, new KeyScope(account, region), keyId, spec, usage, description, aliases, tags, policy, rotationEnabled, period, state);
    }

    private static string? OptionalString(JsonElement entry, string field, Func<string, string, SeedException> error) =>
        !entry.TryGetProperty(field, out var value) ? null
        : value.ValueKind == JsonValueKind.String ? value.GetString()
        : value.ValueKind == JsonValueKind.Number ? value.GetRawText()
        : throw error(field, "must be a string.");

    private static void CheckDuplicates(string path, List<SeedKey> keys)
    {
        var ids = new Dictionary<string, SeedKey>(StringComparer.Ordinal);
        var aliases = new Dictionary<(KeyScope, string), SeedKey>();
        foreach (var key in keys)
        {
            if (!ids.TryAdd(key.KeyId, key))
            {
                throw new SeedException($"Seed file {path}: {key.Name}, field KeyId: declared twice (also {ids[key.KeyId].Name}).");
            }

            foreach (var alias in key.Aliases)
            {
                if (!aliases.TryAdd((key.Scope, alias), key))
                {
                    throw new SeedException($"Seed file {path}: {key.Name}, field Aliases: {alias} is declared twice in {key.Scope.AccountId}/{key.Scope.Region} (also {aliases[(key.Scope, alias)].Name}).");
                }
            }
        }
    }

    // ---------------------------------------------------------------- YAML

    /// <summary>
    /// YAML to JSON text: mappings to objects, sequences to arrays, plain scalars true/false/null/numbers to their JSON
    /// values, everything else (quoted scalars, block scalars) to strings. A policy written as a YAML mapping becomes
    /// compact JSON; write it as a block scalar to keep its text exactly.
    /// </summary>
    private static string YamlToJson(string path, string text)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw new SeedException($"Seed file {path}: not valid YAML at line {e.Start.Line}, column {e.Start.Column} ({e.InnerException?.Message ?? e.Message}).");
        }

        if (stream.Documents.Count != 1)
        {
            throw new SeedException($"Seed file {path}: must hold exactly one YAML document.");
        }

        return ToJson(path, stream.Documents[0].RootNode)?.ToJsonString() ?? "null";
    }

    private static JsonNode? ToJson(string path, YamlNode node)
    {
        switch (node)
        {
            case YamlMappingNode mapping:
                var obj = new JsonObject();
                foreach (var (key, child) in mapping.Children)
                {
                    var name = key is YamlScalarNode { Value: { } k } ? k : throw new SeedException($"Seed file {path}: line {key.Start.Line}: mapping keys must be scalars.");
                    if (obj.ContainsKey(name))
                    {
                        throw new SeedException($"Seed file {path}: line {key.Start.Line}: the key \"{name}\" appears twice.");
                    }

                    obj[name] = ToJson(path, child);
                }

                return obj;
            case YamlSequenceNode sequence:
                var array = new JsonArray();
                foreach (var item in sequence.Children)
                {
                    array.Add(ToJson(path, item));
                }

                return array;
            case YamlScalarNode scalar:
                var value = scalar.Value ?? string.Empty;
                if (scalar.Style == ScalarStyle.Plain)
                {
                    if (value is "true" or "True" or "TRUE")
                    {
                        return JsonValue.Create(true);
                    }

                    if (value is "false" or "False" or "FALSE")
                    {
                        return JsonValue.Create(false);
                    }

                    if (value is "" or "~" or "null" or "Null" or "NULL")
                    {
                        return null;
                    }

                    if (long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number))
                    {
                        return JsonValue.Create(number);
                    }
                }

                return JsonValue.Create(value);
            default:
                throw new SeedException($"Seed file {path}: line {node.Start.Line}: aliases and anchors are not supported.");
        }
    }
}
