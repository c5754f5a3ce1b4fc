namespace KmsEmulator.Api.Keys;

/// <summary>
/// An error that KMS returns to the caller: its code and message, nothing about HTTP. The domain throws it; only the
/// protocol layer (<c>Protocol/AwsJsonResponses</c>) decides the status, the headers and the body's member names.
/// <see cref="Code"/> is the wire <c>__type</c> (an AWS error shape name, verbatim). Build them in <see cref="KmsErrors"/>.
/// </summary>
public sealed class KmsException(string code, string? message) : Exception(message ?? string.Empty)
{
    /// <summary>The AWS error code, e.g. <c>NotFoundException</c>.</summary>
    public string Code { get; } = code;

    /// <summary>The message sent to the caller; null for errors that AWS sends without one.</summary>
    public string? WireMessage { get; } = message;
}
