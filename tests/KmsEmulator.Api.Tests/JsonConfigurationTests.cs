using KmsEmulator.Api.Hosting;
using KmsEmulator.Api.Protocol;
using KmsEmulator.Policy;
using Microsoft.Extensions.Configuration;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// JSON configuration files (the --config file, appsettings.json): policy documents written as JSON objects reach
/// the emulator exactly as written, everything else reads as with the standard JSON source.
/// </summary>
public sealed class JsonConfigurationTests : IDisposable
{
    private const string Dave = "arn:aws:iam::111122223333:user/dave";
    private const string KeyArn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    private readonly string _directory = Directory.CreateTempSubdirectory("kmsemu-config-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Identity_policies_written_as_JSON_objects_keep_condition_keys_with_colons()
    {
        var configuration = FromConfigFile(PrincipalFile("""
            { "Version": "2012-10-17", "Statement": [ { "Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*",
                "Condition": {"StringEquals": {"kms:EncryptionContext:app": "billing"}} } ] }
            """));

        var policies = PrincipalDirectory.FromConfiguration(configuration).Find("AKIDDAVE")!.Identity.IdentityPolicies;

        Assert.True(Allows(policies, "kms:Encrypt", ContextKeys.CreateBuilder().Add("kms:EncryptionContext:app", "billing").Build()));
        Assert.False(Allows(policies, "kms:Encrypt", ContextKeys.CreateBuilder().Add("kms:EncryptionContext:app", "other").Build()));
        Assert.False(Allows(policies, "kms:Encrypt", ContextKeys.Empty));
        Assert.False(Allows(policies, "kms:Decrypt", ContextKeys.CreateBuilder().Add("kms:EncryptionContext:app", "billing").Build()));
    }

    [Fact]
    public void Identity_policies_keep_IP_address_conditions_numbers_and_booleans_exactly_as_written()
    {
        const string Policy = """
            {"Version":"2012-10-17","Statement":[
              {"Sid":"FromTheOffice","Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*","Condition":{
                "IpAddress":{"aws:SourceIp":["203.0.113.0/24","2001:db8::/32"]},
                "Bool":{"aws:SecureTransport":true},
                "NumericLessThan":{"aws:EpochTime":1893456000}}},
              {"Sid":"NeverDecryptOnTheOldNetwork","Effect":"Deny","Action":"kms:Decrypt","Resource":"*",
               "Condition":{"IpAddress":{"aws:SourceIp":"203.0.113.128/25"}}}]}
            """;
        var configuration = FromConfigFile(PrincipalFile(Policy));

        Assert.Equal(Policy, configuration["Kms:Principals:0:IdentityPolicies:0"]);
        var policies = PrincipalDirectory.FromConfiguration(configuration).Find("AKIDDAVE")!.Identity.IdentityPolicies;
        Assert.True(Allows(policies, "kms:Encrypt", Keys("203.0.113.7", secure: "true", epoch: "1800000000")));
        Assert.True(Allows(policies, "kms:Encrypt", Keys("2001:db8::1", secure: "true", epoch: "1800000000")));
        Assert.True(Allows(policies, "kms:Decrypt", Keys("203.0.113.7", secure: "true", epoch: "1800000000")));
        Assert.False(Allows(policies, "kms:Decrypt", Keys("203.0.113.200", secure: "true", epoch: "1800000000")));
        Assert.False(Allows(policies, "kms:Encrypt", Keys("198.51.100.7", secure: "true", epoch: "1800000000")));
        Assert.False(Allows(policies, "kms:Encrypt", Keys("203.0.113.7", secure: "false", epoch: "1800000000")));
        Assert.False(Allows(policies, "kms:Encrypt", Keys("203.0.113.7", secure: "true", epoch: "1900000000")));
    }

    [Fact]
    public void Identity_policies_written_as_JSON_strings_still_work()
    {
        var configuration = FromConfigFile(PrincipalFile(
            "\"{\\\"Version\\\":\\\"2012-10-17\\\",\\\"Statement\\\":{\\\"Effect\\\":\\\"Allow\\\",\\\"Action\\\":\\\"kms:Encrypt\\\",\\\"Resource\\\":\\\"*\\\","
            + "\\\"Condition\\\":{\\\"StringEquals\\\":{\\\"kms:EncryptionContext:app\\\":\\\"billing\\\"}}}}\""));

        var policies = PrincipalDirectory.FromConfiguration(configuration).Find("AKIDDAVE")!.Identity.IdentityPolicies;

        Assert.True(Allows(policies, "kms:Encrypt", ContextKeys.CreateBuilder().Add("kms:EncryptionContext:app", "billing").Build()));
        Assert.False(Allows(policies, "kms:Encrypt", ContextKeys.CreateBuilder().Add("kms:EncryptionContext:app", "other").Build()));
    }

    [Fact]
    public void Any_member_named_Policy_under_Kms_is_kept_as_its_exact_JSON()
    {
        const string Policy = """{ "Version": "2012-10-17", "Statement": [ { "Effect": "Allow", "Principal": { "AWS": "*" }, "Action": "kms:*", "Resource": "*" } ] }""";
        var configuration = FromConfigFile(Write($$"""
            {
              "Kms": { "Keys": [ { "Description": "seeded", "Policy": {{Policy}} } ] },
              "Other": { "Policy": { "Version": "2012-10-17" } }
            }
            """));

        Assert.Equal(Policy, configuration["Kms:Keys:0:Policy"]);
        Assert.Empty(configuration.GetSection("Kms:Keys:0:Policy").GetChildren());
        Assert.Equal("seeded", configuration["Kms:Keys:0:Description"]);
        Assert.Null(configuration["Other:Policy"]);
        Assert.Equal("2012-10-17", configuration["Other:Policy:Version"]);
    }

    [Fact]
    public void Outside_policy_documents_a_file_reads_exactly_as_with_the_standard_JSON_source()
    {
        var path = Write("""
            {
              // comments and trailing commas are accepted, as by the standard source
              "urls": "http://127.0.0.1:0",
              "Kms": {
                "DataDir": "/tmp/kms", "LogLevel": "Warning", "Empty": {}, "None": [], "Nothing": null,
                "Hsm": { "SessionPoolSize": 8, "SessionKeyCopies": false, "Ratio": 1.50, "Name": "caf\u00e9 \"x\"" },
                "Auth": { "Mode": "Strict", "AllowedClockSkew": "00:05:00" },
                "Principals": [ { "Arn": "arn:aws:iam::111122223333:user/dave", "AccessKeyId": "AKIDDAVE", "Tags": [ [1, 2], { "a:b": true } ] } ],
                "Colon:Key": "split as always",
              },
              "Matrix": [ [ 1, [ 2, 3 ] ], {} ],
            }
            """);

        var standard = new ConfigurationBuilder().AddJsonFile(path).Build().AsEnumerable().ToDictionary();
        var ours = new ConfigurationBuilder().AddKmsJsonFile(path, optional: false).Build().AsEnumerable().ToDictionary();

        Assert.Equal(standard.OrderBy(p => p.Key, StringComparer.Ordinal), ours.OrderBy(p => p.Key, StringComparer.Ordinal));
        Assert.Equal("1.50", ours["Kms:Hsm:Ratio"]);
        Assert.Equal("split as always", ours["Kms:Colon:Key"]);
    }

    [Fact]
    public void A_malformed_file_fails_as_with_the_standard_JSON_source()
    {
        var path = Write("""{ "Kms": { "Principals": [ { "IdentityPolicies": [ { "Version": } ] } ] } }""");

        var standard = Assert.ThrowsAny<Exception>(() => new ConfigurationBuilder().AddJsonFile(path).Build());
        var ours = Assert.ThrowsAny<Exception>(() => new ConfigurationBuilder().AddKmsJsonFile(path, optional: false).Build());

        Assert.Equal(standard.GetType(), ours.GetType());
        Assert.Equal(standard.Message, ours.Message);
        Assert.Equal(standard.InnerException?.GetType(), ours.InnerException?.GetType());
    }

    [Fact]
    public void The_command_line_still_wins_over_the_config_file()
    {
        var path = Write("""{ "Kms": { "DefaultRegion": "eu-west-1", "DefaultAccountId": "444455556666" } }""");
        var configuration = new ConfigurationManager();

        KmsEmulatorApp.AddConfigurationSources(configuration, ["--config", path, "--Kms:DefaultRegion=us-west-2"]);

        Assert.Equal("us-west-2", configuration["Kms:DefaultRegion"]);
        Assert.Equal("444455556666", configuration["Kms:DefaultAccountId"]);
    }

    [Fact]
    public void Appsettings_json_keeps_policy_documents_too()
    {
        var path = PrincipalFile("""{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"aws:SourceIp":"10.0.0.1"}}}}""");
        var configuration = new ConfigurationManager();
        configuration.AddJsonFile(path, optional: true, reloadOnChange: false);

        KmsEmulatorApp.AddConfigurationSources(configuration, []);

        Assert.Equal(
            """{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"aws:SourceIp":"10.0.0.1"}}}}""",
            configuration["Kms:Principals:0:IdentityPolicies:0"]);
        Assert.IsType<KmsJsonConfigurationSource>(Assert.Single(configuration.Sources, s => s is Microsoft.Extensions.Configuration.Json.JsonConfigurationSource));
    }

    private static bool Allows(IReadOnlyList<PolicyDocument> policies, string action, ContextKeys keys) =>
        KmsAuthorization.EvaluateIdentityPolicies(policies, PolicyRequest.Create(Dave, action, KeyArn, keys)) is { IsAllowed: true, IsExplicitDeny: false };

    private static ContextKeys Keys(string sourceIp, string secure, string epoch) =>
        ContextKeys.CreateBuilder().Add("aws:SourceIp", sourceIp).Add("aws:SecureTransport", secure).Add("aws:EpochTime", epoch).Build();

    /// <summary>The configuration the emulator builds from <c>--config FILE</c>.</summary>
    private static IConfiguration FromConfigFile(string path)
    {
        var configuration = new ConfigurationManager();
        KmsEmulatorApp.AddConfigurationSources(configuration, ["--config", path]);
        return configuration;
    }

    /// <summary>A config file in strict mode with one principal, dave, whose identity policy is <paramref name="policy"/>.</summary>
    private string PrincipalFile(string policy) => Write($$"""
        {
          "Kms": {
            "Auth": { "Mode": "Strict" },
            "Principals": [
              { "Arn": "{{Dave}}", "AccessKeyId": "AKIDDAVE", "SecretAccessKey": "dave-secret",
                "IdentityPolicies": [ {{policy}} ] }
            ]
          }
        }
        """);

    private string Write(string json)
    {
        var path = Path.Combine(_directory, Guid.NewGuid().ToString("N")[..8] + ".json");
        File.WriteAllText(path, json);
        return path;
    }
}
