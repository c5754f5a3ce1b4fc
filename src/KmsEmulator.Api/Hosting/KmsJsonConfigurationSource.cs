using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.Json;

namespace KmsEmulator.Api.Hosting;

/// <summary>
/// A JSON configuration file (appsettings.json, the --config file) read as the standard JSON source reads it, except
/// that a JSON object or array at a document position is kept as one value holding its exact JSON text.
/// </summary>
/// <remarks>
/// Configuration flattens JSON into key paths and splits keys at ':', which takes apart policy documents (condition
/// keys such as <c>kms:EncryptionContext:app</c> or <c>aws:SourceIp</c> contain ':') and loses the difference between
/// strings, numbers and booleans. Document positions are each element of <c>Kms:Principals:N:IdentityPolicies</c> and
/// any member named <c>Policy</c> under <c>Kms</c>. A document written as a JSON string is a string already and is
/// read as it is; so are documents from other sources (environment variables, the command line).
/// </remarks>
public sealed class KmsJsonConfigurationSource : JsonConfigurationSource
{
    public override IConfigurationProvider Build(IConfigurationBuilder builder)
    {
        EnsureDefaults(builder);
        return new KmsJsonConfigurationProvider(this);
    }

    /// <summary>
    /// Puts one of these in the place of each standard JSON file source of <paramref name="builder"/> (such as the
    /// host's appsettings.json), with the same file and options except reloading, so the order of sources stays as it was.
    /// </summary>
    public static void ReplaceStandardSources(IConfigurationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        for (var i = 0; i < builder.Sources.Count; i++)
        {
            if (builder.Sources[i] is JsonConfigurationSource { Path: { } path } standard && standard.GetType() == typeof(JsonConfigurationSource))
            {
                builder.Sources[i] = new KmsJsonConfigurationSource
                {
                    FileProvider = standard.FileProvider,
                    Path = path,
                    Optional = standard.Optional,
                    // Never reloaded: the emulator reads its configuration once, and watching appsettings.json means a
                    // recursive watch of the content root (the working directory), which holds ./data by default: every
                    // audit and SQLite write then woke the watcher (about a tenth of the CPU under load).
                    ReloadOnChange = false,
                    OnLoadException = standard.OnLoadException,
                };
            }
        }
    }
}

/// <summary>Reads a file for <see cref="KmsJsonConfigurationSource"/>.</summary>
public sealed class KmsJsonConfigurationProvider(KmsJsonConfigurationSource source) : JsonConfigurationProvider(source)
{
    /// <summary>The options the standard JSON source reads files with.</summary>
    private static readonly JsonDocumentOptions ReadOptions = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    public override void Load(Stream stream)
    {
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        base.Load(new MemoryStream(KeepDocumentsWhole(buffer.ToArray()), writable: false));
    }

    /// <summary>
    /// Whether a configuration key path is a document position: <c>Kms:Principals:*:IdentityPolicies:*</c>, or a
    /// member named <c>Policy</c> anywhere under <c>Kms</c> (case-insensitively, as configuration keys are).
    /// </summary>
    internal static bool IsDocumentPath(string path)
    {
        var segments = path.Split(ConfigurationPath.KeyDelimiter);
        if (segments.Length < 2 || !Is(segments[0], KmsOptions.Section))
        {
            return false;
        }

        return Is(segments[^1], "Policy")
            || (segments.Length == 5 && Is(segments[1], "Principals") && Is(segments[3], "IdentityPolicies"));

        static bool Is(string segment, string name) => string.Equals(segment, name, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// The same JSON with every object or array at a document position replaced by a string holding its raw text, for
    /// the standard reader to flatten. A file the standard reader rejects is handed to it unchanged, so that it
    /// reports the error as it always does.
    /// </summary>
    internal static byte[] KeepDocumentsWhole(byte[] json)
    {
        JsonDocument document;
        try
        {
            // Parse(Stream) skips a UTF-8 byte order mark, as the standard reader does.
            document = JsonDocument.Parse(new MemoryStream(json, writable: false), ReadOptions);
        }
        catch (JsonException)
        {
            return json;
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return json;
            }

            using var output = new MemoryStream();
            using (var writer = new Utf8JsonWriter(output))
            {
                Write(writer, document.RootElement, string.Empty);
            }

            return output.ToArray();
        }
    }

    private static void Write(Utf8JsonWriter writer, JsonElement element, string path)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object or JsonValueKind.Array when path.Length > 0 && IsDocumentPath(path):
                writer.WriteStringValue(element.GetRawText());
                break;
            case JsonValueKind.Object:
                writer.WriteStartObject();
                foreach (var property in element.EnumerateObject())
                {
                    writer.WritePropertyName(property.Name);
                    Write(writer, property.Value, Child(path, property.Name));
                }

                writer.WriteEndObject();
                break;
            case JsonValueKind.Array:
                writer.WriteStartArray();
                var index = 0;
                foreach (var item in element.EnumerateArray())
                {
                    Write(writer, item, Child(path, index++.ToString(CultureInfo.InvariantCulture)));
                }

                writer.WriteEndArray();
                break;
            default:
                element.WriteTo(writer);
                break;
        }
    }

    private static string Child(string path, string key) => path.Length == 0 ? key : path + ConfigurationPath.KeyDelimiter + key;
}

public static class KmsJsonConfigurationExtensions
{
    /// <summary>Adds a JSON file read by <see cref="KmsJsonConfigurationSource"/> (as <c>AddJsonFile</c> adds one).</summary>
    public static IConfigurationBuilder AddKmsJsonFile(this IConfigurationBuilder builder, string path, bool optional)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(path);
        return builder.Add<KmsJsonConfigurationSource>(source =>
        {
            source.Path = path;
            source.Optional = optional;
            source.ReloadOnChange = false;
            source.ResolveFileProvider();
        });
    }
}
