using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace KmsEmulator.Policy.Internal;

internal enum ValueKind : byte { String, StringIgnoreCase, StringLike, Numeric, Date, Bool, Binary, Ip, Arn, Null }

internal enum Comparison : byte { Equal, Less, LessOrEqual, Greater, GreaterOrEqual }

/// <summary>The base operators (without set prefix or IfExists suffix) and what they compare.</summary>
internal static class Operators
{
    public readonly record struct Definition(string Name, ValueKind Kind, Comparison Comparison, bool Negated);

    private static readonly Dictionary<string, Definition> Table = new Definition[]
    {
        new("StringEquals", ValueKind.String, Comparison.Equal, false),
        new("StringNotEquals", ValueKind.String, Comparison.Equal, true),
        new("StringEqualsIgnoreCase", ValueKind.StringIgnoreCase, Comparison.Equal, false),
        new("StringNotEqualsIgnoreCase", ValueKind.StringIgnoreCase, Comparison.Equal, true),
        new("StringLike", ValueKind.StringLike, Comparison.Equal, false),
        new("StringNotLike", ValueKind.StringLike, Comparison.Equal, true),
        new("NumericEquals", ValueKind.Numeric, Comparison.Equal, false),
        new("NumericNotEquals", ValueKind.Numeric, Comparison.Equal, true),
        new("NumericLessThan", ValueKind.Numeric, Comparison.Less, false),
        new("NumericLessThanEquals", ValueKind.Numeric, Comparison.LessOrEqual, false),
        new("NumericGreaterThan", ValueKind.Numeric, Comparison.Greater, false),
        new("NumericGreaterThanEquals", ValueKind.Numeric, Comparison.GreaterOrEqual, false),
        new("DateEquals", ValueKind.Date, Comparison.Equal, false),
        new("DateNotEquals", ValueKind.Date, Comparison.Equal, true),
        new("DateLessThan", ValueKind.Date, Comparison.Less, false),
        new("DateLessThanEquals", ValueKind.Date, Comparison.LessOrEqual, false),
        new("DateGreaterThan", ValueKind.Date, Comparison.Greater, false),
        new("DateGreaterThanEquals", ValueKind.Date, Comparison.GreaterOrEqual, false),
        new("Bool", ValueKind.Bool, Comparison.Equal, false),
        new("BinaryEquals", ValueKind.Binary, Comparison.Equal, false),
        new("IpAddress", ValueKind.Ip, Comparison.Equal, false),
        new("NotIpAddress", ValueKind.Ip, Comparison.Equal, true),
        new("ArnEquals", ValueKind.Arn, Comparison.Equal, false),
        new("ArnLike", ValueKind.Arn, Comparison.Equal, false),
        new("ArnNotEquals", ValueKind.Arn, Comparison.Equal, true),
        new("ArnNotLike", ValueKind.Arn, Comparison.Equal, true),
        new("Null", ValueKind.Null, Comparison.Equal, false),
    }.ToDictionary(d => d.Name, StringComparer.OrdinalIgnoreCase);

    public static bool TryGet(string name, out Definition definition) => Table.TryGetValue(name, out definition);

    public static bool Compare(int order, Comparison comparison) => comparison switch
    {
        Comparison.Equal => order == 0,
        Comparison.Less => order < 0,
        Comparison.LessOrEqual => order <= 0,
        Comparison.Greater => order > 0,
        _ => order >= 0,
    };

    /// <summary>
    /// Epoch seconds (digits), a W3C year-month (YYYY-MM) or an ISO-8601 date/time (UTC assumed when no offset is
    /// given).
    /// </summary>
    public static bool TryParseDate(ReadOnlySpan<char> text, out long utcTicks)
    {
        text = text.Trim();
        if (!text.IsEmpty && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var seconds))
        {
            if (seconds is >= -62_135_596_800 and <= 253_402_300_799)
            {
                utcTicks = DateTimeOffset.FromUnixTimeSeconds(seconds).UtcTicks;
                return true;
            }

            utcTicks = 0;
            return false;
        }

        // W3C's year-month form (YYYY-MM) stands for the first instant of that month, UTC.
        if (text.Length == 7 && text[4] == '-'
            && int.TryParse(text[..4], NumberStyles.None, CultureInfo.InvariantCulture, out var year)
            && int.TryParse(text[5..], NumberStyles.None, CultureInfo.InvariantCulture, out var month)
            && year >= 1 && month is >= 1 and <= 12)
        {
            utcTicks = new DateTimeOffset(year, month, 1, 0, 0, 0, TimeSpan.Zero).UtcTicks;
            return true;
        }

        if (text.Length >= 10 && char.IsAsciiDigit(text[0]) && text[4] == '-'
            && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var parsed))
        {
            utcTicks = parsed.UtcTicks;
            return true;
        }

        utcTicks = 0;
        return false;
    }

    public static bool TryParseNumber(ReadOnlySpan<char> text, out decimal value) =>
        decimal.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out value);
}

/// <summary>The policy-side values of one condition, compiled for their operator.</summary>
internal abstract class ValueTest
{
    /// <summary>True when the request value matches at least one policy value (the positive sense of the operator).</summary>
    public abstract bool AnyMatches(string requestValue, PolicyRequest request);
}

internal sealed class StringValueTest(GlobPattern[] patterns) : ValueTest
{
    public override bool AnyMatches(string requestValue, PolicyRequest request)
    {
        foreach (var pattern in patterns)
        {
            if (pattern.IsMatch(requestValue, request))
            {
                return true;
            }
        }

        return false;
    }
}

internal sealed class NumericValueTest(decimal[] values, Comparison comparison) : ValueTest
{
    public override bool AnyMatches(string requestValue, PolicyRequest request)
    {
        if (!Operators.TryParseNumber(requestValue, out var actual))
        {
            return false;
        }

        foreach (var value in values)
        {
            if (Operators.Compare(actual.CompareTo(value), comparison))
            {
                return true;
            }
        }

        return false;
    }
}

internal sealed class DateValueTest(long[] utcTicks, Comparison comparison) : ValueTest
{
    public override bool AnyMatches(string requestValue, PolicyRequest request)
    {
        if (!Operators.TryParseDate(requestValue, out var actual))
        {
            return false;
        }

        foreach (var value in utcTicks)
        {
            if (Operators.Compare(actual.CompareTo(value), comparison))
            {
                return true;
            }
        }

        return false;
    }
}

internal sealed class BoolValueTest(string[] values) : ValueTest
{
    public override bool AnyMatches(string requestValue, PolicyRequest request)
    {
        foreach (var value in values)
        {
            if (string.Equals(value, requestValue, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}

internal sealed class BinaryValueTest(byte[][] values) : ValueTest
{
    public override bool AnyMatches(string requestValue, PolicyRequest request)
    {
        var max = requestValue.Length / 4 * 3 + 3;
        Span<byte> buffer = max <= 512 ? stackalloc byte[max] : new byte[max];
        if (!Convert.TryFromBase64String(requestValue, buffer, out var written))
        {
            return false;
        }

        foreach (var value in values)
        {
            if (buffer[..written].SequenceEqual(value))
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>An IPv4 or IPv6 network; a bare address is a /32 or /128.</summary>
internal sealed record Cidr(byte[] Network, int PrefixLength)
{
    public static Cidr? Parse(string text)
    {
        var slash = text.IndexOf('/');
        var addressText = slash < 0 ? text.AsSpan() : text.AsSpan(0, slash);
        if (!IPAddress.TryParse(addressText, out var address))
        {
            return null;
        }

        var bytes = address.GetAddressBytes();
        var prefix = bytes.Length * 8;
        if (slash >= 0 && (!int.TryParse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out prefix) || prefix > bytes.Length * 8))
        {
            return null;
        }

        return new Cidr(bytes, prefix);
    }

    public bool Contains(ReadOnlySpan<byte> address)
    {
        if (address.Length != Network.Length)
        {
            return false;
        }

        var full = PrefixLength / 8;
        if (!address[..full].SequenceEqual(Network.AsSpan(0, full)))
        {
            return false;
        }

        var rest = PrefixLength % 8;
        if (rest == 0)
        {
            return true;
        }

        var mask = (byte)(0xFF << (8 - rest));
        return (address[full] & mask) == (Network[full] & mask);
    }
}

internal sealed class IpValueTest(Cidr[] networks) : ValueTest
{
    public override bool AnyMatches(string requestValue, PolicyRequest request)
    {
        if (!IPAddress.TryParse(requestValue, out var address))
        {
            return false;
        }

        if (address.AddressFamily == AddressFamily.InterNetworkV6 && address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        Span<byte> bytes = stackalloc byte[16];
        if (!address.TryWriteBytes(bytes, out var written))
        {
            return false;
        }

        foreach (var network in networks)
        {
            if (network.Contains(bytes[..written]))
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>
/// An ARN pattern for the Arn* operators: the six colon-separated components are matched separately, each with
/// <c>*</c>/<c>?</c> wildcards (case-sensitive), so a wildcard never crosses a colon before the resource part. A value
/// with fewer than six components is matched as a whole string.
/// </summary>
internal sealed class ArnPattern
{
    private readonly GlobPattern[]? _components;
    private readonly GlobPattern? _whole;

    public ArnPattern(string source, bool variables)
    {
        var colons = new List<int>(5);
        var depth = false;
        for (var i = 0; i < source.Length && colons.Count < 5; i++)
        {
            if (variables && source[i] == '$' && i + 1 < source.Length && source[i + 1] == '{')
            {
                depth = true;
            }
            else if (depth && source[i] == '}')
            {
                depth = false;
            }
            else if (!depth && source[i] == ':')
            {
                colons.Add(i);
            }
        }

        if (colons.Count < 5)
        {
            _whole = GlobPattern.Compile(source, wildcards: true, variables, ignoreCase: false);
            return;
        }

        _components = new GlobPattern[6];
        var start = 0;
        for (var c = 0; c < 6; c++)
        {
            var end = c < 5 ? colons[c] : source.Length;
            _components[c] = GlobPattern.Compile(source[start..end], wildcards: true, variables, ignoreCase: false);
            start = end + 1;
        }
    }

    public bool IsMatch(string value, PolicyRequest request)
    {
        if (_whole is not null)
        {
            return _whole.IsMatch(value, request);
        }

        var span = value.AsSpan();
        if (!Arns.TrySplit(span, out var parts))
        {
            return false;
        }

        for (var c = 0; c < 6; c++)
        {
            if (!_components![c].IsMatch(parts.Component(span, c), request))
            {
                return false;
            }
        }

        return true;
    }
}

internal sealed class ArnValueTest(ArnPattern[] patterns) : ValueTest
{
    public override bool AnyMatches(string requestValue, PolicyRequest request)
    {
        foreach (var pattern in patterns)
        {
            if (pattern.IsMatch(requestValue, request))
            {
                return true;
            }
        }

        return false;
    }
}

internal enum SetOperator : byte { None, ForAnyValue, ForAllValues }

/// <summary>One <c>operator: { key: values }</c> pair of a Condition block, compiled.</summary>
internal sealed class ConditionEntry(string key, SetOperator set, bool ifExists, bool negated, ValueTest? test, bool[]? nullValues)
{
    public bool Evaluate(PolicyRequest request)
    {
        var values = request.GetValues(key);
        if (nullValues is not null)
        {
            // Null: "true" asks for an absent key, "false" for a present one; several values are OR-ed.
            var absent = values.Count == 0;
            foreach (var wantAbsent in nullValues)
            {
                if (wantAbsent == absent)
                {
                    return true;
                }
            }

            return false;
        }

        if (values.Count == 0)
        {
            // An absent key matches nothing: a positive operator is false and a negated one (StringNotEquals,
            // NotIpAddress, ArnNotLike, ...) true, as IAM documents; ...IfExists and ForAllValues pass, ForAnyValue fails.
            return ifExists || set == SetOperator.ForAllValues || (set == SetOperator.None && negated);
        }

        var compiled = test!;
        switch (set)
        {
            case SetOperator.ForAnyValue:
                for (var i = 0; i < values.Count; i++)
                {
                    if (compiled.AnyMatches(values[i], request) != negated)
                    {
                        return true;
                    }
                }

                return false;
            case SetOperator.ForAllValues:
                for (var i = 0; i < values.Count; i++)
                {
                    if (compiled.AnyMatches(values[i], request) == negated)
                    {
                        return false;
                    }
                }

                return true;
            default:
                // A plain operator on a multi-valued key: positive operators match when any request value matches
                // any policy value; negated operators are the negation of that (no request value matches).
                var any = false;
                for (var i = 0; i < values.Count && !any; i++)
                {
                    any = compiled.AnyMatches(values[i], request);
                }

                return any != negated;
        }
    }
}
