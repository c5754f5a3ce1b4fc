using System.Text.Json;

namespace KmsEmulator.Policy;

/// <summary>
/// The structural checks a key policy must pass before it is stored: JSON object, a Statement element, and
/// Effect values KMS knows. Evaluation of policies is a separate concern (not implemented yet).
/// </summary>
public static class PolicyDocumentCheck
{
    /// <summary>Maximum key policy size in bytes, as KMS documents it.</summary>
    public const int MaxBytes = 32 * 1024;

    /// <summary>Returns null when the document is acceptable, otherwise the reason it is malformed.</summary>
    public static string? FindProblem(string policy)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(policy, new JsonDocumentOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow });
        }
        catch (JsonException)
        {
            return "The policy document is not valid JSON.";
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return "The policy document must be a JSON object.";
            }

            if (!root.TryGetProperty("Statement", out var statement))
            {
                return "The policy document has no Statement element.";
            }

            var statements = statement.ValueKind switch
            {
                JsonValueKind.Array => statement.EnumerateArray().ToList(),
                JsonValueKind.Object => [statement],
                _ => null,
            };
            if (statements is null)
            {
                return "The Statement element must be an object or an array of objects.";
            }

            foreach (var item in statements)
            {
                if (item.ValueKind != JsonValueKind.Object)
                {
                    return "Each statement must be a JSON object.";
                }

                if (!item.TryGetProperty("Effect", out var effect) || effect.ValueKind != JsonValueKind.String
                    || effect.GetString() is not ("Allow" or "Deny"))
                {
                    return "Each statement must have an Effect of Allow or Deny.";
                }
            }
        }

        return null;
    }
}
