namespace KmsEmulator.Api.Keys;

/// <summary>
/// An error that KMS returns to the caller. The domain throws it; only the protocol layer turns it into HTTP.
/// <see cref="Code"/> is the wire <c>__type</c> (an AWS error shape name, verbatim).
/// </summary>
public sealed class KmsException : Exception
{
    public KmsException(string code, string? message, int httpStatus = 400, bool capitalizedMessageMember = false)
        : base(message ?? string.Empty)
    {
        Code = code;
        WireMessage = message;
        HttpStatus = httpStatus;
        CapitalizedMessageMember = capitalizedMessageMember;
    }

    /// <summary>The AWS error code, e.g. <c>NotFoundException</c>.</summary>
    public string Code { get; }

    /// <summary>The message sent to the caller; null for errors that AWS sends without one.</summary>
    public string? WireMessage { get; }

    public int HttpStatus { get; }

    /// <summary>AWS sends a few errors (AccessDeniedException) with <c>Message</c> instead of <c>message</c>.</summary>
    public bool CapitalizedMessageMember { get; }
}
