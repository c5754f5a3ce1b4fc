using System.Text.Json;

namespace KmsEmulator.Policy.Internal;

/// <summary>Turns policy JSON into a <see cref="PolicyDocument"/>, or a reason it is malformed.</summary>
internal static class PolicyParser
{
    public const string InvalidPrincipals = "Policy contains a statement with one or more invalid principals.";

    private static readonly JsonDocumentOptions Options = new()
    {
        AllowTrailingCommas = false,
        CommentHandling = JsonCommentHandling.Disallow,
        MaxDepth = 32,
    };

    private sealed class Failure(string reason) : Exception(reason);

    public static PolicyDocument? Parse(string json, out string? error)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, Options);
        }
        catch (JsonException)
        {
            error = "The policy document is not valid JSON.";
            return null;
        }

        using (document)
        {
            try
            {
                error = null;
                return ParseDocument(document.RootElement);
            }
            catch (Failure failure)
            {
                error = failure.Message;
                return null;
            }
        }
    }

    private static PolicyDocument ParseDocument(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new Failure("The policy document must be a JSON object.");
        }

        string? version = null;
        string? id = null;
        JsonElement? statement = null;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in root.EnumerateObject())
        {
            if (!seen.Add(property.Name))
            {
                throw new Failure($"The policy document contains the element \"{property.Name}\" more than once.");
            }

            switch (property.Name)
            {
                case "Version":
                    version = property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString() : null;
                    if (version is not (PolicyDocument.Version20121017 or PolicyDocument.Version20081017))
                    {
                        throw new Failure($"The policy document has an unsupported Version {Show(property.Value)}; use \"2012-10-17\" or \"2008-10-17\".");
                    }

                    break;
                case "Id":
                    id = property.Value.ValueKind == JsonValueKind.String
                        ? property.Value.GetString()
                        : throw new Failure("The Id element must be a string.");
                    break;
                case "Statement":
                    statement = property.Value;
                    break;
                default:
                    throw new Failure($"The policy document contains an unsupported element \"{property.Name}\".");
            }
        }

        if (statement is not { } statementElement)
        {
            throw new Failure("The policy document has no Statement element.");
        }

        List<JsonElement>? items = statementElement.ValueKind switch
        {
            JsonValueKind.Array => [.. statementElement.EnumerateArray()],
            JsonValueKind.Object => [statementElement],
            _ => null,
        };
        if (items is null)
        {
            throw new Failure("The Statement element must be an object or an array of objects.");
        }

        var variables = version == PolicyDocument.Version20121017;
        var statements = new PolicyStatement[items.Count];
        for (var i = 0; i < items.Count; i++)
        {
            if (items[i].ValueKind != JsonValueKind.Object)
            {
                throw new Failure("Each statement must be a JSON object.");
            }

            statements[i] = ParseStatement(items[i], i, variables);
        }

        return new PolicyDocument(version, id, statements);
    }

    private static PolicyStatement ParseStatement(JsonElement element, int index, bool variables)
    {
        var properties = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var property in element.EnumerateObject())
        {
            if (!properties.TryAdd(property.Name, property.Value))
            {
                throw new Failure($"Statement {index + 1} contains the element \"{property.Name}\" more than once.");
            }
        }

        string? sid = null;
        if (properties.TryGetValue("Sid", out var sidElement))
        {
            sid = sidElement.ValueKind == JsonValueKind.String
                ? sidElement.GetString()
                : throw new Failure($"Statement {index + 1}: the Sid element must be a string.");
        }

        var label = sid is null ? $"Statement {index + 1}" : $"Statement {index + 1} (Sid \"{sid}\")";
        foreach (var name in properties.Keys)
        {
            if (name is not ("Sid" or "Effect" or "Principal" or "NotPrincipal" or "Action" or "NotAction" or "Resource" or "NotResource" or "Condition"))
            {
                throw new Failure($"{label} contains an unsupported element \"{name}\".");
            }
        }

        if (!properties.TryGetValue("Effect", out var effectElement) || effectElement.ValueKind != JsonValueKind.String
            || effectElement.GetString() is not ({ } effectText and ("Allow" or "Deny")))
        {
            throw new Failure("Each statement must have an Effect of Allow or Deny.");
        }

        var effect = effectText == "Allow" ? PolicyEffect.Allow : PolicyEffect.Deny;
        var (principalElement, isNotPrincipal) = Either(properties, "Principal", "NotPrincipal", label);
        var (actionElement, isNotAction) = Either(properties, "Action", "NotAction", label);
        var (resourceElement, isNotResource) = Either(properties, "Resource", "NotResource", label);

        IReadOnlyList<PolicyPrincipal>? principals = null;
        PrincipalMatcher? matcher = null;
        if (principalElement is { } p)
        {
            (principals, var entries) = ParsePrincipal(p);
            matcher = new PrincipalMatcher(entries, isNotPrincipal);
        }

        IReadOnlyList<string>? actions = null;
        if (actionElement is { } a)
        {
            var elementName = isNotAction ? "NotAction" : "Action";
            actions = Strings(a, $"{label}: {elementName} must be a string or an array of strings.");
            foreach (var action in actions)
            {
                var colon = action.IndexOf(':');
                if (action != "*" && (colon <= 0 || colon == action.Length - 1))
                {
                    throw new Failure($"{label}: \"{action}\" is not a valid action; use \"*\" or \"<service>:<action>\", e.g. \"kms:Encrypt\".");
                }
            }
        }

        IReadOnlyList<string>? resources = null;
        if (resourceElement is { } r)
        {
            var elementName = isNotResource ? "NotResource" : "Resource";
            resources = Strings(r, $"{label}: {elementName} must be a string or an array of strings.");
            if (resources.Any(resource => resource.Length == 0))
            {
                throw new Failure($"{label}: {elementName} values must not be empty.");
            }
        }

        var conditions = new List<PolicyCondition>();
        var compiled = new List<ConditionEntry>();
        if (properties.TryGetValue("Condition", out var conditionElement))
        {
            ParseConditions(conditionElement, label, variables, conditions, compiled);
        }

        return new PolicyStatement(
            index, sid, effect, principals, isNotPrincipal, matcher, actions, isNotAction, resources, isNotResource, variables,
            conditions, [.. compiled]);
    }

    private static (JsonElement? Element, bool Negated) Either(Dictionary<string, JsonElement> properties, string positive, string negative, string label)
    {
        var hasPositive = properties.TryGetValue(positive, out var p);
        var hasNegative = properties.TryGetValue(negative, out var n);
        if (hasPositive && hasNegative)
        {
            throw new Failure($"{label} contains both {positive} and {negative}; use one of them.");
        }

        return hasPositive ? (p, false) : hasNegative ? (n, true) : (null, false);
    }

    private static (IReadOnlyList<PolicyPrincipal> Principals, PrincipalEntry[] Entries) ParsePrincipal(JsonElement element)
    {
        if (element.ValueKind == JsonValueKind.String)
        {
            return element.GetString() == "*"
                ? ([new PolicyPrincipal("*", "*")], [new PrincipalEntry(EntryKind.Any, "*")])
                : throw new Failure(InvalidPrincipals);
        }

        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new Failure(InvalidPrincipals);
        }

        var principals = new List<PolicyPrincipal>();
        var entries = new List<PrincipalEntry>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in element.EnumerateObject())
        {
            if (!seen.Add(property.Name))
            {
                throw new Failure(InvalidPrincipals);
            }

            foreach (var value in Strings(property.Value, InvalidPrincipals))
            {
                var entry = property.Name switch
                {
                    "AWS" => PrincipalEntry.ParseAws(value),
                    "Service" => value.Length > 0 && value.AsSpan().IndexOfAny('*', '?') < 0 ? new PrincipalEntry(EntryKind.Service, value) : null,
                    "Federated" or "CanonicalUser" => value.Length > 0 && value.AsSpan().IndexOfAny('*', '?') < 0 ? new PrincipalEntry(EntryKind.Exact, value) : null,
                    _ => null,
                };
                principals.Add(new PolicyPrincipal(property.Name, value));
                entries.Add(entry ?? throw new Failure(InvalidPrincipals));
            }
        }

        if (seen.Count == 0)
        {
            throw new Failure(InvalidPrincipals);
        }

        return (principals, [.. entries]);
    }

    private static void ParseConditions(JsonElement element, string label, bool variables, List<PolicyCondition> conditions, List<ConditionEntry> compiled)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new Failure($"{label}: Condition must be an object of the form {{\"<operator>\": {{\"<key>\": <values>}}}}.");
        }

        var seenOperators = new HashSet<string>(StringComparer.Ordinal);
        foreach (var block in element.EnumerateObject())
        {
            var name = block.Name;
            if (!seenOperators.Add(name))
            {
                throw new Failure($"{label}: the condition operator \"{name}\" appears more than once.");
            }

            var set = SetOperator.None;
            var baseName = name;
            if (baseName.StartsWith("ForAnyValue:", StringComparison.OrdinalIgnoreCase))
            {
                set = SetOperator.ForAnyValue;
                baseName = baseName["ForAnyValue:".Length..];
            }
            else if (baseName.StartsWith("ForAllValues:", StringComparison.OrdinalIgnoreCase))
            {
                set = SetOperator.ForAllValues;
                baseName = baseName["ForAllValues:".Length..];
            }

            var ifExists = baseName.Length > "IfExists".Length && baseName.EndsWith("IfExists", StringComparison.OrdinalIgnoreCase);
            if (ifExists)
            {
                baseName = baseName[..^"IfExists".Length];
            }

            if (!Operators.TryGet(baseName, out var definition) || (definition.Kind == ValueKind.Null && (ifExists || set != SetOperator.None)))
            {
                throw new Failure($"{label}: \"{name}\" is not a condition operator.");
            }

            if (block.Value.ValueKind != JsonValueKind.Object)
            {
                throw new Failure($"{label}: the {name} condition must map condition keys to values.");
            }

            var seenKeys = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (var entry in block.Value.EnumerateObject())
            {
                var key = entry.Name;
                var colon = key.IndexOf(':');
                if (colon <= 0 || colon == key.Length - 1)
                {
                    throw new Failure($"{label}: the condition key \"{key}\" needs a service prefix such as \"kms:\" or \"aws:\".");
                }

                if (!seenKeys.Add(key))
                {
                    throw new Failure($"{label}: the condition key \"{key}\" appears more than once under {name}.");
                }

                if (set == SetOperator.ForAllValues
                    && (key.StartsWith("kms:EncryptionContext:", StringComparison.OrdinalIgnoreCase) || key.StartsWith("aws:RequestTag/", StringComparison.OrdinalIgnoreCase)))
                {
                    // KMS's documented wording; the tag variant follows the same pattern.
                    var (kind, noun) = key.StartsWith("aws:RequestTag/", StringComparison.OrdinalIgnoreCase)
                        ? ("RequestTag", "tag")
                        : ("EncryptionContext", "encryption context");
                    throw new Failure(
                        $"OverlyPermissiveCondition:{kind}: Using the ForAllValues set operator with a single-valued condition key " +
                        $"matches requests without the specified {noun} or with an unspecified {noun}. To fix, remove ForAllValues.");
                }

                var values = ConditionValues(entry.Value, label, name);
                conditions.Add(new PolicyCondition(name, key, values));
                compiled.Add(Compile(definition, set, ifExists, key, values, variables, label, name));
            }
        }
    }

    private static ConditionEntry Compile(Operators.Definition definition, SetOperator set, bool ifExists, string key, string[] values, bool variables, string label, string name)
    {
        T[] Each<T>(Func<string, T?> parse, string expected)
        {
            var result = new T[values.Length];
            for (var i = 0; i < values.Length; i++)
            {
                result[i] = parse(values[i]) ?? throw new Failure($"{label}: \"{values[i]}\" is not a valid value for {name}; expected {expected}.");
            }

            return result;
        }

        if (definition.Kind == ValueKind.Null)
        {
            var wanted = Each<bool?>(
                v => v.Equals("true", StringComparison.OrdinalIgnoreCase) ? true : v.Equals("false", StringComparison.OrdinalIgnoreCase) ? false : null,
                "true or false");
            return new ConditionEntry(key, set, ifExists, negated: false, test: null, nullValues: [.. wanted.Select(w => w!.Value)]);
        }

        ValueTest test = definition.Kind switch
        {
            ValueKind.String => new StringValueTest([.. values.Select(v => GlobPattern.Compile(v, wildcards: false, variables, ignoreCase: false))]),
            ValueKind.StringIgnoreCase => new StringValueTest([.. values.Select(v => GlobPattern.Compile(v, wildcards: false, variables, ignoreCase: true))]),
            ValueKind.StringLike => new StringValueTest([.. values.Select(v => GlobPattern.Compile(v, wildcards: true, variables, ignoreCase: false))]),
            ValueKind.Numeric => new NumericValueTest(
                [.. Each<decimal?>(v => Operators.TryParseNumber(v, out var n) ? n : null, "a number").Select(n => n!.Value)], definition.Comparison),
            ValueKind.Date => new DateValueTest(
                [.. Each<long?>(v => Operators.TryParseDate(v, out var t) ? t : null, "an ISO-8601 date or epoch seconds").Select(t => t!.Value)], definition.Comparison),
            ValueKind.Bool => new BoolValueTest(values),
            ValueKind.Binary => new BinaryValueTest(Each(DecodeBase64, "base64 text")),
            ValueKind.Ip => new IpValueTest(Each(Cidr.Parse, "an IPv4 or IPv6 address or CIDR block")),
            _ => new ArnValueTest([.. values.Select(v => new ArnPattern(v, variables))]),
        };
        return new ConditionEntry(key, set, ifExists, definition.Negated, test, nullValues: null);
    }

    private static byte[]? DecodeBase64(string text)
    {
        var buffer = new byte[(text.Length / 4 * 3) + 3];
        return Convert.TryFromBase64String(text, buffer, out var written) ? buffer[..written] : null;
    }

    private static string[] ConditionValues(JsonElement element, string label, string name)
    {
        static string? Scalar(JsonElement value) => value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Number => value.GetRawText(),
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            _ => null,
        };

        var message = $"{label}: the values of a {name} condition must be strings, numbers, booleans or an array of them.";
        if (element.ValueKind != JsonValueKind.Array)
        {
            return [Scalar(element) ?? throw new Failure(message)];
        }

        return [.. element.EnumerateArray().Select(v => Scalar(v) ?? throw new Failure(message))];
    }

    private static string[] Strings(JsonElement element, string message)
    {
        if (element.ValueKind == JsonValueKind.String)
        {
            return [element.GetString()!];
        }

        if (element.ValueKind != JsonValueKind.Array)
        {
            throw new Failure(message);
        }

        return [.. element.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new Failure(message))];
    }

    private static string Show(JsonElement element) => element.ValueKind == JsonValueKind.String ? $"\"{element.GetString()}\"" : element.GetRawText();
}
