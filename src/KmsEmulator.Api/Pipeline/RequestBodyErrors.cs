using System.Text.Json;

namespace KmsEmulator.Api.Pipeline;

/// <summary>Turns a System.Text.Json failure into a SerializationException message that names the member, not .NET types.</summary>
public static class RequestBodyErrors
{
    public static string Describe(JsonException exception)
    {
        var path = exception.Path;
        if (string.IsNullOrEmpty(path) || path == "$")
        {
            return "The request body is not a valid JSON object.";
        }

        var member = path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path;
        return $"The value of '{member}' has the wrong JSON type or format " +
               "(strings for text and enums, numbers for integers and epoch-second timestamps, booleans for flags, base64 strings for binary data).";
    }
}
