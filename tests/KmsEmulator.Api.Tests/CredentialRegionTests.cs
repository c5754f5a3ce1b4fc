using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Pipeline;
using KmsEmulator.Api.Protocol;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// The region of the SigV4 credential scope: strict mode accepts the regions of the AWS partitions and those added by
/// <c>Kms:Auth:AdditionalRegions</c>; permissive mode accepts any well-formed region.
/// </summary>
public sealed class CredentialRegionTests
{
    private const string AccessKeyId = "AKIDALICE";
    private const string Secret = "alice-secret";
    private static readonly DateTimeOffset Now = new(2026, 11, 27, 12, 0, 0, TimeSpan.Zero);
    private static readonly byte[] Body = """{"Limit":5}"""u8.ToArray();

    public static TheoryData<string> AwsRegionNames() => [.. AwsRegions.Known.Order(StringComparer.Ordinal)];

    [Theory]
    [MemberData(nameof(AwsRegionNames))]
    public void Strict_mode_accepts_every_region_of_the_AWS_partitions(string region)
    {
        var (_, resolvedRegion, _) = Resolver(AuthMode.Strict).Resolve(Signed(region), Body);

        Assert.Equal(region, resolvedRegion);
    }

    [Theory]
    [InlineData("xx-fake-9")]
    [InlineData("us-east-99")]
    [InlineData("moon-base-1")]
    public void Strict_mode_rejects_a_correctly_signed_request_scoped_to_a_region_AWS_does_not_have(string region)
    {
        var error = Assert.Throws<KmsException>(() => Resolver(AuthMode.Strict).Resolve(Signed(region), Body));

        Assert.Equal("InvalidSignatureException", error.Code);
        Assert.Equal(400, AwsJsonResponses.StatusOf(error.Code));
        Assert.Equal($"Credential should be scoped to a valid region, not '{region}'.", error.Message);
    }

    [Fact]
    public void Strict_mode_accepts_a_region_added_by_configuration()
    {
        var resolver = Resolver(AuthMode.Strict, "xx-fake-9", "eu-future-3");

        Assert.Equal("xx-fake-9", resolver.Resolve(Signed("xx-fake-9"), Body).Region);
        Assert.Equal("eu-future-3", resolver.Resolve(Signed("eu-future-3"), Body).Region);
        Assert.Equal("us-east-1", resolver.Resolve(Signed("us-east-1"), Body).Region);
        Assert.Equal("InvalidSignatureException", Assert.Throws<KmsException>(() => resolver.Resolve(Signed("xx-fake-8"), Body)).Code);
    }

    [Theory]
    [InlineData("xx-fake-9")]
    [InlineData("us-east-1")]
    [InlineData("eusc-de-east-1")]
    public void Permissive_mode_accepts_any_well_formed_region(string region)
    {
        var (_, resolvedRegion, _) = Resolver(AuthMode.Permissive).Resolve(Signed(region), Body);

        Assert.Equal(region, resolvedRegion);
    }

    [Theory]
    [InlineData(AuthMode.Permissive)]
    [InlineData(AuthMode.Strict)]
    public void A_malformed_region_is_rejected_in_both_modes(AuthMode mode)
    {
        var error = Assert.Throws<KmsException>(() => Resolver(mode).Resolve(Signed("US_EAST_1"), Body));

        Assert.Equal("InvalidSignatureException", error.Code);
        Assert.Equal("Credential should be scoped to a valid region, not 'US_EAST_1'.", error.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("Moon")]
    [InlineData("us-east")]
    public void A_configured_region_that_is_no_region_name_stops_start_up_with_a_message_naming_it(string region)
    {
        var error = Assert.Throws<InvalidOperationException>(() => Resolver(AuthMode.Strict, "eu-future-3", region));

        Assert.StartsWith($"Kms:Auth:AdditionalRegions:1: '{region}' is not a region name", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AdditionalRegions_binds_from_the_Kms_Auth_section()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Kms:Auth:Mode"] = "Strict",
            ["Kms:Auth:AdditionalRegions:0"] = "xx-fake-9",
            ["Kms:Auth:AdditionalRegions:1"] = "eu-future-3",
        }).Build();

        var options = configuration.GetSection("Kms:Auth").Get<AuthOptions>()!;

        Assert.Equal(["xx-fake-9", "eu-future-3"], options.AdditionalRegions);
    }

    [Fact]
    public void Every_listed_region_is_a_well_formed_region_name()
    {
        Assert.All(AwsRegions.Known, region => Assert.Matches("^([a-z]+-){2,3}[0-9]+$", region));
    }

    private static IdentityResolver Resolver(AuthMode mode, params string[] additionalRegions)
    {
        var alice = new ConfiguredPrincipal(
            new CallerIdentity("111122223333", "arn:aws:iam::111122223333:user/alice", AccessKeyId, KmsEmulator.Policy.PrincipalType.IAMUser), Secret, null, null);
        return new IdentityResolver(
            Options.Create(new IdentityOptions()),
            Options.Create(new AuthOptions { Mode = mode, AdditionalRegions = additionalRegions }),
            new PrincipalDirectory([alice]),
            new FakeTimeProvider(Now));
    }

    /// <summary>A ListKeys request signed for <paramref name="region"/> with alice's secret, built from the SigV4 definition.</summary>
    private static HttpRequest Signed(string region)
    {
        var amzDate = Now.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var date = amzDate[..8];
        var request = new DefaultHttpContext().Request;
        request.Method = "POST";
        request.Path = "/";
        request.Headers.Host = "127.0.0.1:4599";
        request.Headers["X-Amz-Date"] = amzDate;
        request.Headers["X-Amz-Target"] = "TrentService.ListKeys";
        const string signedHeaders = "host;x-amz-date;x-amz-target";
        var canonical = $"POST\n/\n\nhost:127.0.0.1:4599\nx-amz-date:{amzDate}\nx-amz-target:TrentService.ListKeys\n\n{signedHeaders}\n" +
            Convert.ToHexStringLower(SHA256.HashData(Body));
        var scope = $"{date}/{region}/kms/aws4_request";
        var stringToSign = $"AWS4-HMAC-SHA256\n{amzDate}\n{scope}\n{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)))}";
        var key = Encoding.UTF8.GetBytes("AWS4" + Secret);
        foreach (var part in new[] { date, region, "kms", "aws4_request" })
        {
            key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(part));
        }

        var signature = Convert.ToHexStringLower(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(stringToSign)));
        request.Headers.Authorization = $"AWS4-HMAC-SHA256 Credential={AccessKeyId}/{scope}, SignedHeaders={signedHeaders}, Signature={signature}";
        return request;
    }
}
