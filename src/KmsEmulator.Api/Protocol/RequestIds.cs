using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace KmsEmulator.Api.Protocol;

/// <summary>Gives every response, KMS or not, an <c>x-amzn-RequestId</c> header with a fresh UUID.</summary>
public static class RequestIds
{
    private static readonly object Key = new();

    public static IApplicationBuilder UseAwsRequestIds(this IApplicationBuilder app) =>
        app.Use((context, next) =>
        {
            var requestId = UniqueIds.NewVersion4().ToString();
            context.Items[Key] = requestId;
            context.Response.Headers[AwsJsonResponses.RequestIdHeader] = requestId;
            return next(context);
        });

    public static string Of(HttpContext context) => context.Items[Key] as string ?? UniqueIds.NewVersion4().ToString();
}
