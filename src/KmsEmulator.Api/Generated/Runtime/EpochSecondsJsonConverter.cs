using System.Buffers.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace KmsEmulator.Api.Generated.Runtime;

/// <summary>
/// AWS JSON 1.1 timestamps: a JSON number of seconds since the Unix epoch, fraction allowed.
/// Written with millisecond precision, as AWS does.
/// </summary>
public sealed class EpochSecondsJsonConverter : JsonConverter<DateTimeOffset>
{
    public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.Number || !reader.TryGetDouble(out var seconds) || double.IsNaN(seconds) || double.IsInfinity(seconds))
        {
            throw new JsonException("Timestamps must be numbers of seconds since the epoch.");
        }

        var millis = Math.Round(seconds * 1000d);
        if (millis < -62135596800000d || millis > 253402300799999d)
        {
            throw new JsonException("Timestamp out of range.");
        }

        return DateTimeOffset.FromUnixTimeMilliseconds((long)millis);
    }

    public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options)
    {
        var millis = value.ToUnixTimeMilliseconds();
        Span<byte> buffer = stackalloc byte[32];
        var whole = millis / 1000;
        var fraction = millis % 1000;
        if (fraction < 0)
        {
            whole -= 1;
            fraction += 1000;
        }

        if (!Utf8Formatter.TryFormat(whole, buffer, out var written))
        {
            throw new JsonException("Timestamp could not be written.");
        }

        if (fraction != 0)
        {
            buffer[written++] = (byte)'.';
            buffer[written++] = (byte)('0' + (fraction / 100));
            buffer[written++] = (byte)('0' + (fraction / 10 % 10));
            buffer[written++] = (byte)('0' + (fraction % 10));
        }

        writer.WriteRawValue(buffer[..written], skipInputValidation: true);
    }
}
