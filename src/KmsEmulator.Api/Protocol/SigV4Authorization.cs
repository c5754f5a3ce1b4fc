using System.Collections.Immutable;
using KmsEmulator.Api.Keys;

namespace KmsEmulator.Api.Protocol;

/// <summary>
/// The parts of a SigV4 <c>Authorization</c> header:
/// <c>AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/kms/aws4_request, SignedHeaders=a;b, Signature=hex</c>.
/// Parsing is all this type does; verifying the signature is a separate step that consumes it.
/// </summary>
public sealed record SigV4Authorization(
    string AccessKeyId,
    string Date,
    string Region,
    string Service,
    ImmutableArray<string> SignedHeaders,
    string Signature)
{
    public const string Algorithm = "AWS4-HMAC-SHA256";

    /// <summary>The credential scope: <c>date/region/service/aws4_request</c>.</summary>
    public string CredentialScope => $"{Date}/{Region}/{Service}/aws4_request";

    /// <summary>Parses the header; throws IncompleteSignatureException with AWS's wording when it is malformed.</summary>
    public static SigV4Authorization Parse(string header)
    {
        var space = header.IndexOf(' ', StringComparison.Ordinal);
        var algorithm = space < 0 ? header : header[..space];
        if (algorithm != Algorithm)
        {
            throw KmsErrors.UnsupportedSigningAlgorithm(algorithm, Algorithm, header);
        }

        var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var rawPart in header[(space + 1)..].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = rawPart.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw KmsErrors.AuthorizationPairWithoutEquals(rawPart, header);
            }

            parameters[rawPart[..equals]] = rawPart[(equals + 1)..];
        }

        var credential = Require(parameters, "Credential", header);
        var signedHeaders = Require(parameters, "SignedHeaders", header);
        var signature = Require(parameters, "Signature", header);

        var scope = credential.Split('/');
        if (scope.Length != 5 || scope.Any(string.IsNullOrEmpty) || scope[4] != "aws4_request")
        {
            throw KmsErrors.CredentialScopeMalformed(credential, header);
        }

        return new SigV4Authorization(
            scope[0],
            scope[1],
            scope[2],
            scope[3],
            [.. signedHeaders.Split(';', StringSplitOptions.RemoveEmptyEntries)],
            signature);
    }

    private static string Require(Dictionary<string, string> parameters, string name, string header) =>
        parameters.TryGetValue(name, out var value) && value.Length > 0
            ? value
            : throw KmsErrors.AuthorizationParameterMissing(name, header);
}
