using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using KmsEmulator.Api.Audit;
using KmsEmulator.Api.Protocol;

namespace KmsEmulator.Api.Hosting;

/// <summary>One setting the emulator reads: its configuration key, the type of its value and its default.</summary>
public sealed record EmulatorOption(string Key, Type ValueType, string Default, string? Switch = null);

/// <summary>
/// The emulator's command line: <c>--help</c>, and the check that every option given on it is one the emulator reads,
/// with a value of its type, before anything starts (an unknown or misspelt option would otherwise be ignored
/// silently, and a bad value would surface as a stack trace).
/// </summary>
/// <remarks>
/// The options are found by reflection over the classes the configuration is bound to (<see cref="Sections"/>), so a
/// new property is an option at once; their descriptions come from docs/configuration.md, embedded in the assembly, and
/// a test keeps the two in step.
/// </remarks>
public static partial class CommandLine
{
    /// <summary>Where each options class is bound. A class may share a section with another (Kms holds both).</summary>
    public static readonly IReadOnlyList<(string Section, Type Options)> Sections =
    [
        (KmsOptions.Section, typeof(KmsOptions)),
        (KmsOptions.Section, typeof(IdentityOptions)),
        (KmsOptions.Section + ":Auth", typeof(AuthOptions)),
        (AuditOptions.Section, typeof(AuditOptions)),
        (HttpListenerOptions.Section, typeof(HttpListenerOptions)),
        (TlsOptions.Section, typeof(TlsOptions)),
    ];

    /// <summary>Keys read without an options class.</summary>
    private static readonly EmulatorOption[] Extra =
    [
        new("urls", typeof(string), KmsEmulatorApp.DefaultUrl, "--urls"),
        new("Kms:ConfigFile", typeof(string), "none", "--config"),
        new("Kms:Seed", typeof(string), "none", "--seed"),
        new("Kms:LogLevel", typeof(Serilog.Events.LogEventLevel), "Information"),
    ];

    /// <summary>The short switches and the keys they stand for (<c>--data-dir</c> is <c>Kms:DataDir</c>).</summary>
    private static string? SwitchOf(string key) =>
        KmsEmulatorApp.SwitchMappings.FirstOrDefault(m => m.Value == key).Key ?? Extra.FirstOrDefault(e => e.Key == key)?.Switch;

    /// <summary>
    /// Keys that are accepted without being checked: configuration lists that take one entry per index
    /// (<c>Kms:Principals:0:Arn</c>) and the host's own settings.
    /// </summary>
    private static readonly string[] UncheckedPrefixes = ["Kms:Principals:", "Logging:", "Kestrel:", "hostBuilder:"];

    private static readonly string[] HostKeys = ["environment", "contentRoot", "applicationName", "AllowedHosts"];

    private static readonly Lazy<IReadOnlyList<EmulatorOption>> Catalogue = new(Build);

    private static readonly Lazy<IReadOnlyDictionary<string, string>> Descriptions = new(ReadDescriptions);

    /// <summary>Every option, in the order of <see cref="Sections"/> and declaration.</summary>
    public static IReadOnlyList<EmulatorOption> Options => Catalogue.Value;

    public static bool WantsHelp(string[] args) => args is ["--help"] or ["-h"] or ["-?"] or ["help"];

    /// <summary>The help text: usage, the other commands, then every option with its default and what it does.</summary>
    public static string Help()
    {
        var text = new StringBuilder();
        text.AppendLine("KmsEmulator: a self-hosted AWS KMS (AWS JSON 1.1, TrentService.*) with its keys in a PKCS#11 HSM.");
        text.AppendLine();
        text.AppendLine("Usage:");
        text.AppendLine("  KmsEmulator.Api [options]                  run the emulator (from a checkout: tools/run.sh [options])");
        text.AppendLine("  KmsEmulator.Api audit verify [options]     check the audit trail against its signed digests");
        text.AppendLine("  KmsEmulator.Api audit decrypt FILE...      print log files stored encrypted (Kms:Audit:KmsKeyId)");
        text.AppendLine("  KmsEmulator.Api --help                     this text");
        text.AppendLine();
        text.AppendLine("Options are given as --Key value or --Key=value; the same keys work in a --config JSON file and as");
        text.AppendLine("environment variables (':' written as '__', e.g. Kms__Audit__Enabled=false). Durations are [d.]hh:mm:ss.");
        text.AppendLine("Full descriptions: docs/configuration.md.");
        text.AppendLine();
        foreach (var option in Options)
        {
            var name = option.Switch is { } shortName && shortName != "--" + option.Key ? $"{shortName} (--{option.Key})" : option.Switch ?? "--" + option.Key;
            text.Append(CultureInfo.InvariantCulture, $"  {name} <{TypeName(option.ValueType)}>");
            text.AppendLine(CultureInfo.InvariantCulture, $"    default: {option.Default}");
            if (Descriptions.Value.TryGetValue(option.Key, out var description))
            {
                text.AppendLine("      " + description);
            }
        }

        text.AppendLine("  --Kms:Principals:N:Arn, :AccessKeyId, :SecretAccessKey, ...    IAM principals (docs/configuration.md)");
        return text.ToString();
    }

    /// <summary>
    /// The problems of the options given on the command line: unknown options (with the nearest known one) and values
    /// that are not of the option's type. Empty when all is well.
    /// </summary>
    public static IReadOnlyList<string> Check(string[] args)
    {
        var problems = new List<string>();
        foreach (var (key, value) in Parse(args, problems))
        {
            if (Array.Exists(UncheckedPrefixes, p => key.StartsWith(p, StringComparison.OrdinalIgnoreCase))
                || Array.Exists(HostKeys, h => string.Equals(h, key, StringComparison.OrdinalIgnoreCase)))
            {
                continue;
            }

            var (option, element) = Find(key);
            if (option is null)
            {
                var nearest = Nearest(key);
                problems.Add($"Unknown option --{key}." + (nearest is null ? string.Empty : $" Did you mean --{nearest}?") + " Run with --help to list the options.");
                continue;
            }

            var type = element ? ElementType(option.ValueType) : option.ValueType;
            if (value is null)
            {
                problems.Add($"--{key} needs a value ({TypeName(type)}).");
            }
            else if (!Converts(type, value))
            {
                problems.Add($"--{key}: '{value}' is not a valid {TypeName(type)}{Examples(type)}.");
            }
        }

        return problems;
    }

    /// <summary>The key-value pairs of the command line as the configuration's command-line source reads them.</summary>
    private static List<(string Key, string? Value)> Parse(string[] args, List<string> problems)
    {
        var pairs = new List<(string, string?)>();
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            string body;
            if (arg.StartsWith("--", StringComparison.Ordinal))
            {
                body = arg[2..];
            }
            else if (arg.StartsWith('/') || arg.StartsWith('-'))
            {
                body = arg[1..];
            }
            else if (arg.Contains('=', StringComparison.Ordinal))
            {
                body = arg;
            }
            else
            {
                problems.Add($"Unexpected argument '{arg}': options are --Key value or --Key=value. Run with --help to list them.");
                continue;
            }

            var equals = body.IndexOf('=', StringComparison.Ordinal);
            var key = equals >= 0 ? body[..equals] : body;
            string? value = equals >= 0 ? body[(equals + 1)..] : i + 1 < args.Length ? args[++i] : null;
            key = KmsEmulatorApp.SwitchMappings.TryGetValue("--" + key, out var mappedKey) ? mappedKey : key;
            pairs.Add((key, value));
        }

        return pairs;
    }

    private static (EmulatorOption? Option, bool Element) Find(string key)
    {
        if (Options.FirstOrDefault(o => string.Equals(o.Key, key, StringComparison.OrdinalIgnoreCase)) is { } exact)
        {
            return (exact, false);
        }

        // An element of a list option: Kms:Auth:AdditionalRegions:0.
        var colon = key.LastIndexOf(':');
        if (colon > 0 && int.TryParse(key[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out _)
            && Options.FirstOrDefault(o => string.Equals(o.Key, key[..colon], StringComparison.OrdinalIgnoreCase) && o.ValueType.IsArray) is { } list)
        {
            return (list, true);
        }

        return (null, false);
    }

    private static string? Nearest(string key) =>
        Options.Select(o => (o.Key, Distance: Levenshtein(key.ToUpperInvariant(), o.Key.ToUpperInvariant())))
            .Where(c => c.Distance <= Math.Max(2, key.Length / 4))
            .OrderBy(c => c.Distance)
            .Select(c => c.Key)
            .FirstOrDefault();

    private static bool Converts(Type type, string value)
    {
        var target = Nullable.GetUnderlyingType(type) ?? type;
        if (target.IsEnum)
        {
            return Enum.TryParse(target, value, ignoreCase: true, out var parsed) && Enum.IsDefined(target, parsed!) && !int.TryParse(value, out _);
        }

        try
        {
            return TypeDescriptor.GetConverter(target).ConvertFromInvariantString(value) is not null || target == typeof(string);
        }
        catch (Exception e) when (e is FormatException or NotSupportedException or ArgumentException or OverflowException or InvalidCastException)
        {
            return false;
        }
    }

    private static string Examples(Type type)
    {
        var target = Nullable.GetUnderlyingType(type) ?? type;
        return target.IsEnum ? $" (one of {string.Join(", ", Enum.GetNames(target))})"
            : target == typeof(TimeSpan) ? " (e.g. 00:00:05 or 1.00:00:00)"
            : target == typeof(bool) ? " (true or false)"
            : string.Empty;
    }

    private static string TypeName(Type type)
    {
        var target = Nullable.GetUnderlyingType(type) ?? type;
        return target switch
        {
            _ when target == typeof(string) => "text",
            _ when target == typeof(bool) => "true|false",
            _ when target == typeof(int) || target == typeof(long) => "number",
            _ when target == typeof(TimeSpan) => "duration",
            _ when target.IsEnum => string.Join('|', Enum.GetNames(target)),
            _ when target.IsArray => "list: --Key:0 value --Key:1 value",
            _ => target.Name,
        };
    }

    private static Type ElementType(Type type) => type.GetElementType() ?? typeof(string);

    private static List<EmulatorOption> Build()
    {
        var options = new List<EmulatorOption>();
        foreach (var extra in Extra.Where(e => e.Switch is not null))
        {
            options.Add(extra);
        }

        foreach (var (section, type) in Sections)
        {
            Walk(section, type, Activator.CreateInstance(type), options);
        }

        options.AddRange(Extra.Where(e => e.Switch is null));
        return options;
    }

    private static void Walk(string prefix, Type type, object? defaults, List<EmulatorOption> into)
    {
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (!property.CanWrite || property.GetSetMethod() is null)
            {
                continue; // Computed (DatabasePath): not an option.
            }

            var key = $"{prefix}:{property.Name}";
            var value = defaults is null ? null : property.GetValue(defaults);
            var target = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            if (target.IsClass && target != typeof(string) && !target.IsArray)
            {
                Walk(key, target, value, into);
                continue;
            }

            var shown = value switch
            {
                null => "none",
                string { Length: 0 } => "none",
                Array { Length: 0 } => "none",
                TimeSpan span => span.ToString("c", CultureInfo.InvariantCulture),
                bool flag => flag ? "true" : "false",
                IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
                _ => value.ToString() ?? "none",
            };
            if (!into.Exists(o => o.Key == key))
            {
                into.Add(new EmulatorOption(key, property.PropertyType, shown, SwitchOf(key)));
            }
        }
    }

    /// <summary>The first sentence of each option's row in docs/configuration.md (embedded in the assembly).</summary>
    private static Dictionary<string, string> ReadDescriptions()
    {
        var descriptions = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        using var stream = typeof(CommandLine).Assembly.GetManifestResourceStream("KmsEmulator.Api.docs.configuration.md");
        if (stream is null)
        {
            return descriptions;
        }

        using var reader = new StreamReader(stream);
        while (reader.ReadLine() is { } line)
        {
            if (DocumentedOption().Match(line) is not { Success: true } row)
            {
                continue;
            }

            var text = Regex.Replace(row.Groups["text"].Value, @"\[([^\]]+)\]\([^)]+\)", "$1").Replace("`", string.Empty, StringComparison.Ordinal).Replace("**", string.Empty, StringComparison.Ordinal);
            var end = SentenceEnd().Match(text);
            var sentence = end.Success ? text[..(end.Index + 1)] : text;
            foreach (Match name in DocumentedName().Matches(row.Groups["names"].Value))
            {
                descriptions.TryAdd(name.Groups["key"].Value.TrimStart('-'), sentence.Trim());
            }
        }

        return descriptions;
    }

    /// <summary>The option keys docs/configuration.md has a table row for.</summary>
    public static IReadOnlyCollection<string> DocumentedKeys() => [.. Descriptions.Value.Keys];

    private static int Levenshtein(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }

    /// <summary>A full stop that ends a sentence: not that of "e.g." or "i.e.", and followed by a capital.</summary>
    [GeneratedRegex(@"(?<!\b(e\.g|i\.e))\. (?=[A-Z`(])")]
    private static partial Regex SentenceEnd();

    [GeneratedRegex(@"^\| (?<names>`[^|]+) \| [^|]* \| (?<text>.+) \|$")]
    private static partial Regex DocumentedOption();

    [GeneratedRegex(@"`(?<key>--[a-z-]+|[A-Za-z]+(:[A-Za-z]+)*)`")]
    private static partial Regex DocumentedName();
}
