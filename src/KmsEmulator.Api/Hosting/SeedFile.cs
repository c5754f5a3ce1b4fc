using System.Collections.Immutable;
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

    /// <summary>AWS_KMS (material made in the HSM) or EXTERNAL (material given in the seed, <see cref="Material"/>).</summary>
    public OriginType Origin { get; init; } = OriginType.AWS_KMS;

    /// <summary>Origin EXTERNAL: the key material to import.</summary>
    public SeedMaterial? Material { get; init; }

    /// <summary>Origin EXTERNAL: the expiration model given (or KEY_MATERIAL_EXPIRES implied by ValidTo); null when neither was given.</summary>
    public ExpirationModelType? ExpirationModel { get; init; }

    /// <summary>Origin EXTERNAL with KEY_MATERIAL_EXPIRES: when the imported material expires (whole seconds).</summary>
    public DateTimeOffset? ValidTo { get; init; }

    /// <summary>True for a multi-Region key (an mrk- key id): the entry's Region holds its primary key.</summary>
    public bool MultiRegion { get; init; }

    /// <summary>Multi-Region keys: the Regions that get a replica of the primary key.</summary>
    public IReadOnlyList<string> ReplicaRegions { get; init; } = [];

    /// <summary>Grants on the key (on the primary key of a multi-Region key).</summary>
    public IReadOnlyList<SeedGrant> Grants { get; init; } = [];

    /// <summary>Skips CreateKey's policy lockout safety check for <see cref="Policy"/> (BypassPolicyLockoutSafetyCheck).</summary>
    public bool BypassPolicyLockoutSafetyCheck { get; init; }

    /// <summary>The scopes of the entry's keys: its own, then one per replica Region.</summary>
    public IEnumerable<KeyScope> Scopes => [Scope, .. ReplicaRegions.Select(r => Scope with { Region = r })];
}

/// <summary>
/// Key material a seed entry gives (Origin EXTERNAL), read from the file. It never appears in text: ToString names only
/// the field it came from, and <see cref="Clear"/> zeroes it once the seed is applied.
/// </summary>
public sealed class SeedMaterial(byte[] bytes, string field)
{
    /// <summary>The field the material came from (KeyMaterial or KeyMaterialFile), for messages.</summary>
    public string Field { get; } = field;

    public ReadOnlyMemory<byte> Bytes => bytes;

    public void Clear() => System.Security.Cryptography.CryptographicOperations.ZeroMemory(bytes);

    public override string ToString() => $"key material from {Field}";
}

/// <summary>A grant a seed entry declares. Its Name identifies it: a grant with the same name and parameters is the same grant.</summary>
public sealed record SeedGrant(int Index, string Name, string GranteePrincipal, string? RetiringPrincipal, ImmutableArray<GrantOperation> Operations, GrantConstraint? Constraint)
{
    /// <summary>How messages name the grant: its field path and name.</summary>
    public string Field => $"Grants[{Index}] ({Name})";

    public NewGrant ToNewGrant() => new()
    {
        Name = Name,
        GranteePrincipal = GranteePrincipal,
        RetiringPrincipal = RetiringPrincipal,
        Operations = Operations,
        Constraint = Constraint,
    };
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
        "KeyId", "AccountId", "Region", "KeySpec", "KeyUsage", "Description", "Aliases", "Tags", "Policy", "BypassPolicyLockoutSafetyCheck",
        "Rotation", "Enabled", "Origin", "KeyMaterial", "KeyMaterialFile", "ExpirationModel", "ValidTo", "MultiRegion", "ReplicaRegions", "Grants",
    };

    private static readonly HashSet<string> KnownGrantFields = new(StringComparer.Ordinal)
    {
        "Name", "GranteePrincipal", "RetiringPrincipal", "Operations", "Constraints",
    };

    /// <summary>The lengths of HMAC key material AWS imports (at least the key size, at most the hash's block size).</summary>
    private static readonly Dictionary<KeySpec, (int Min, int Max)> HmacMaterialBytes = new()
    {
        [KeySpec.HMAC_224] = (28, 64),
        [KeySpec.HMAC_256] = (32, 64),
        [KeySpec.HMAC_384] = (48, 128),
        [KeySpec.HMAC_512] = (64, 128),
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

        var multiRegionId = keyId.StartsWith("mrk-", StringComparison.Ordinal);
        if (multiRegionId && (keyId.Length != 36 || !keyId.Skip(4).All(char.IsAsciiHexDigitLower)))
        {
            throw Error("KeyId", $"\"{keyId}\" is not a multi-Region key id (mrk- and 32 lower-case hex digits).");
        }

        if (!multiRegionId && (!Guid.TryParseExact(keyId, "D", out var guid) || guid.ToString("D") != keyId))
        {
            throw Error("KeyId", $"\"{keyId}\" is not a lower-case UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx) or multi-Region key id (mrk-...).");
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

        var bypass = OptionalBool(entry, "BypassPolicyLockoutSafetyCheck", Error) ?? false;
        if (bypass && policy is null)
        {
            throw Error("BypassPolicyLockoutSafetyCheck", "given without a Policy.");
        }

        var multiRegion = OptionalBool(entry, "MultiRegion", Error) ?? multiRegionId;
        if (multiRegion != multiRegionId)
        {
            throw Error("MultiRegion", multiRegion ? "a multi-Region key needs an mrk- key id." : "an mrk- key id is a multi-Region key.");
        }

        var replicaRegions = new List<string>();
        if (entry.TryGetProperty("ReplicaRegions", out var replicaList))
        {
            if (!multiRegion)
            {
                throw Error("ReplicaRegions", "only a multi-Region key (mrk- key id) has replicas.");
            }

            if (replicaList.ValueKind != JsonValueKind.Array)
            {
                throw Error("ReplicaRegions", "must be a list of regions.");
            }

            foreach (var item in replicaList.EnumerateArray())
            {
                var replicaRegion = item.ValueKind == JsonValueKind.String ? item.GetString()! : throw Error("ReplicaRegions", "must be a list of regions.");
                if (!AwsRegions.Known.Contains(replicaRegion))
                {
                    throw Error("ReplicaRegions", $"\"{replicaRegion}\" is not a known region.");
                }

                if (replicaRegion == region)
                {
                    throw Error("ReplicaRegions", $"{replicaRegion} is the primary key's own region.");
                }

                if (AwsRegions.PartitionOf(replicaRegion) != AwsRegions.PartitionOf(region))
                {
                    throw Error("ReplicaRegions", $"{replicaRegion} is in another partition than {region}.");
                }

                if (replicaRegions.Contains(replicaRegion))
                {
                    throw Error("ReplicaRegions", $"{replicaRegion} is named twice.");
                }

                replicaRegions.Add(replicaRegion);
            }
        }

        var (origin, material, expirationModel, validTo) = ParseOrigin(entry, spec, rotationEnabled, Error, Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".");

        return new SeedKey(index, new KeyScope(account, region), keyId, spec, usage, description, aliases, tags, policy, rotationEnabled, period, state)
        {
            Origin = origin,
            Material = material,
            ExpirationModel = expirationModel,
            ValidTo = validTo,
            MultiRegion = multiRegion,
            ReplicaRegions = replicaRegions,
            Grants = ParseGrants(entry, Error),
            BypassPolicyLockoutSafetyCheck = bypass,
        };
    }

    /// <summary>Origin, and for EXTERNAL keys the material (checked against the spec) and its expiration.</summary>
    private static (OriginType, SeedMaterial?, ExpirationModelType?, DateTimeOffset?) ParseOrigin(
        JsonElement entry, KeySpec spec, bool? rotationEnabled, Func<string, string, SeedException> error, string seedDirectory)
    {
        var originText = OptionalString(entry, "Origin", error);
        var origin = originText switch
        {
            null or "AWS_KMS" => OriginType.AWS_KMS,
            "EXTERNAL" => OriginType.EXTERNAL,
            _ => throw error("Origin", $"\"{originText}\" is not AWS_KMS or EXTERNAL (custom key stores cannot be seeded)."),
        };
        if (origin == OriginType.AWS_KMS)
        {
            foreach (var field in new[] { "KeyMaterial", "KeyMaterialFile", "ExpirationModel", "ValidTo" })
            {
                if (entry.TryGetProperty(field, out _))
                {
                    throw error(field, "only for keys with Origin EXTERNAL.");
                }
            }

            return (origin, null, null, null);
        }

        if (rotationEnabled == true)
        {
            throw error("Rotation.Enabled", "automatic rotation is not available for imported key material (Origin EXTERNAL).");
        }

        var hasInline = entry.TryGetProperty("KeyMaterial", out var inline);
        var hasFile = entry.TryGetProperty("KeyMaterialFile", out var file);
        if (hasInline == hasFile)
        {
            throw error("KeyMaterial", "an EXTERNAL key needs exactly one of KeyMaterial (base64) and KeyMaterialFile.");
        }

        var field2 = hasInline ? "KeyMaterial" : "KeyMaterialFile";
        byte[] bytes;
        if (hasInline)
        {
            var text = inline.ValueKind == JsonValueKind.String ? inline.GetString()! : throw error(field2, "must be a string (base64, or a PEM PRIVATE KEY block).");
            bytes = DecodeMaterial(text) ?? throw error(field2, "is neither base64 nor a PEM PRIVATE KEY block.");
        }
        else
        {
            var relative = file.ValueKind == JsonValueKind.String && file.GetString() is { Length: > 0 } f ? f : throw error(field2, "must be a file path.");
            var materialPath = Path.GetFullPath(relative, seedDirectory);
            byte[] raw;
            try
            {
                raw = File.ReadAllBytes(materialPath);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw error(field2, $"{materialPath} cannot be read ({e.GetType().Name}).");
            }

            // A PEM file holds text; anything else is the material's bytes as they are.
            bytes = raw.AsSpan().StartsWith("-----BEGIN"u8)
                ? DecodeMaterial(System.Text.Encoding.ASCII.GetString(raw)) ?? throw error(field2, $"{materialPath} holds PEM without a PRIVATE KEY block.")
                : raw;
            if (!ReferenceEquals(bytes, raw))
            {
                System.Security.Cryptography.CryptographicOperations.ZeroMemory(raw);
            }
        }

        var material = new SeedMaterial(bytes, field2);
        try
        {
            CheckMaterial(spec, bytes, field2, error);
        }
        catch
        {
            material.Clear();
            throw;
        }

        var modelText = OptionalString(entry, "ExpirationModel", error);
        ExpirationModelType? model = null;
        if (modelText is not null)
        {
            model = ExpirationModelTypeWire.TryParse(modelText, out var m) ? m : throw error("ExpirationModel", $"\"{modelText}\" is not KEY_MATERIAL_EXPIRES or KEY_MATERIAL_DOES_NOT_EXPIRE.");
        }

        DateTimeOffset? validTo = null;
        if (OptionalString(entry, "ValidTo", error) is { } validToText)
        {
            validTo = DateTimeOffset.TryParse(validToText, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var v)
                ? DateTimeOffset.FromUnixTimeSeconds(v.ToUnixTimeSeconds())
                : throw error("ValidTo", $"\"{validToText}\" is not a date and time (ISO 8601, e.g. 2027-01-31T00:00:00Z).");
            model ??= ExpirationModelType.KEY_MATERIAL_EXPIRES;
        }

        if (model == ExpirationModelType.KEY_MATERIAL_EXPIRES && validTo is null)
        {
            throw error("ValidTo", "required with ExpirationModel KEY_MATERIAL_EXPIRES.");
        }

        if (model == ExpirationModelType.KEY_MATERIAL_DOES_NOT_EXPIRE && validTo is not null)
        {
            throw error("ValidTo", "not allowed with ExpirationModel KEY_MATERIAL_DOES_NOT_EXPIRE.");
        }

        return (origin, material, model, validTo);
    }

    /// <summary>Base64, or the DER inside a PEM "PRIVATE KEY" block; null when it is neither.</summary>
    private static byte[]? DecodeMaterial(string text)
    {
        if (text.AsSpan().TrimStart().StartsWith("-----BEGIN", StringComparison.Ordinal))
        {
            return System.Security.Cryptography.PemEncoding.TryFind(text, out var fields) && text.AsSpan()[fields.Label].SequenceEqual("PRIVATE KEY")
                ? Convert.FromBase64String(text[fields.Base64Data])
                : null;
        }

        var buffer = new byte[text.Length];
        if (!Convert.TryFromBase64String(text.Trim(), buffer, out var written) || written == 0)
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(buffer);
            return null;
        }

        var bytes = buffer[..written];
        System.Security.Cryptography.CryptographicOperations.ZeroMemory(buffer);
        return bytes;
    }

    /// <summary>The material fits the spec: 32 bytes for AES, AWS's HMAC lengths, a PKCS#8 key of the spec. Messages never show the material.</summary>
    private static void CheckMaterial(KeySpec spec, byte[] bytes, string field, Func<string, string, SeedException> error)
    {
        if (spec == KeySpec.SYMMETRIC_DEFAULT)
        {
            if (bytes.Length != 32)
            {
                throw error(field, $"a SYMMETRIC_DEFAULT key's material is 32 bytes (256 bits), not {bytes.Length}.");
            }
        }
        else if (HmacMaterialBytes.TryGetValue(spec, out var range))
        {
            if (bytes.Length < range.Min || bytes.Length > range.Max)
            {
                throw error(field, $"{spec.ToWire()} key material is {range.Min} to {range.Max} bytes, not {bytes.Length}.");
            }
        }
        else if (spec is KeySpec.RSA_2048 or KeySpec.RSA_3072 or KeySpec.RSA_4096 or KeySpec.ECC_NIST_P256 or KeySpec.ECC_NIST_P384
                 or KeySpec.ECC_NIST_P521 or KeySpec.ECC_SECG_P256K1 && KeySpecCapabilities.For(spec).Material is { } hsmSpec)
        {
            try
            {
                KmsEmulator.Hsm.Crypto.Pkcs8PublicKey.Of(hsmSpec, bytes);
            }
            catch (KmsEmulator.Hsm.HsmException e)
            {
                throw error(field, e.Message);
            }
        }
        else
        {
            throw error("Origin", $"key material cannot be imported into {spec.ToWire()} keys (SYMMETRIC_DEFAULT, HMAC, RSA and ECC NIST/SECG keys only).");
        }
    }

    private static List<SeedGrant> ParseGrants(JsonElement entry, Func<string, string, SeedException> error)
    {
        var grants = new List<SeedGrant>();
        if (!entry.TryGetProperty("Grants", out var list))
        {
            return grants;
        }

        if (list.ValueKind != JsonValueKind.Array)
        {
            throw error("Grants", "must be a list of grants.");
        }

        var index = 0;
        foreach (var item in list.EnumerateArray())
        {
            var field = $"Grants[{index}]";
            if (item.ValueKind != JsonValueKind.Object)
            {
                throw error(field, "must be an object with Name, GranteePrincipal and Operations.");
            }

            foreach (var property in item.EnumerateObject())
            {
                if (!KnownGrantFields.Contains(property.Name))
                {
                    throw error($"{field}.{property.Name}", $"unknown field (known: {string.Join(", ", KnownGrantFields)}).");
                }
            }

            var name = OptionalString(item, "Name", (f, p) => error($"{field}.{f}", p));
            if (name is null || name.Length is 0 or > 256 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is ':' or '/' or '_' or '-'))
            {
                throw error($"{field}.Name", "required: 1 to 256 letters, digits, :, /, _ and - (a seeded grant is recognised by its name).");
            }

            if (grants.Any(g => g.Name == name))
            {
                throw error($"{field}.Name", $"{name} is declared twice.");
            }

            var grantee = OptionalString(item, "GranteePrincipal", (f, p) => error($"{field}.{f}", p));
            if (grantee is null or { Length: 0 or > 256 })
            {
                throw error($"{field}.GranteePrincipal", "required, a principal ARN of at most 256 characters.");
            }

            var retiring = OptionalString(item, "RetiringPrincipal", (f, p) => error($"{field}.{f}", p));
            if (retiring is { Length: 0 or > 256 })
            {
                throw error($"{field}.RetiringPrincipal", "a principal ARN of at most 256 characters.");
            }

            if (!item.TryGetProperty("Operations", out var operationList) || operationList.ValueKind != JsonValueKind.Array || operationList.GetArrayLength() == 0)
            {
                throw error($"{field}.Operations", "required, a list of grant operations.");
            }

            var operations = new List<GrantOperation>();
            foreach (var operation in operationList.EnumerateArray())
            {
                var text = operation.ValueKind == JsonValueKind.String ? operation.GetString()! : throw error($"{field}.Operations", "must be a list of grant operation names.");
                var op = GrantOperationWire.TryParse(text, out var o) ? o : throw error($"{field}.Operations", $"\"{text}\" is not a grant operation.");
                if (!operations.Contains(op))
                {
                    operations.Add(op);
                }
            }

            grants.Add(new SeedGrant(index, name, grantee, retiring, [.. operations], ParseConstraint(item, field, error)));
            index++;
        }

        return grants;
    }

    private static GrantConstraint? ParseConstraint(JsonElement grant, string field, Func<string, string, SeedException> error)
    {
        if (!grant.TryGetProperty("Constraints", out var constraints))
        {
            return null;
        }

        const string Expected = "must be an object with one of EncryptionContextEquals and EncryptionContextSubset, a map of strings to strings.";
        var properties = constraints.ValueKind == JsonValueKind.Object ? constraints.EnumerateObject().ToList() : null;
        if (properties is not [var only])
        {
            throw error($"{field}.Constraints", Expected);
        }

        var kind = only.Name switch
        {
            "EncryptionContextEquals" => GrantConstraintKind.EncryptionContextEquals,
            "EncryptionContextSubset" => GrantConstraintKind.EncryptionContextSubset,
            _ => throw error($"{field}.Constraints.{only.Name}", Expected),
        };
        if (only.Value.ValueKind != JsonValueKind.Object)
        {
            throw error($"{field}.Constraints.{only.Name}", Expected);
        }

        var pairs = only.Value.EnumerateObject()
            .Select(p => KeyValuePair.Create(p.Name, p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : throw error($"{field}.Constraints.{only.Name}", Expected)))
            .ToList();
        return GrantConstraint.Of(kind, pairs);
    }

    private static bool? OptionalBool(JsonElement entry, string field, Func<string, string, SeedException> error) =>
        !entry.TryGetProperty(field, out var value) ? null
        : value.ValueKind is JsonValueKind.True or JsonValueKind.False ? value.GetBoolean()
        : throw error(field, "must be true or false.");

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

            foreach (var scope in key.Scopes)
            {
                foreach (var alias in key.Aliases)
                {
                    if (!aliases.TryAdd((scope, alias), key))
                    {
                        throw new SeedException($"Seed file {path}: {key.Name}, field Aliases: {alias} is declared twice in {scope.AccountId}/{scope.Region} (also {aliases[(scope, alias)].Name}).");
                    }
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
