using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Hosting;
using KmsEmulator.Api.Keys;

namespace KmsEmulator.Api.Tests;

/// <summary>The seed file parser and its checks of the file on its own (docs/seeding.md).</summary>
public sealed class SeedFileTests
{
    private const string Id = "1234abcd-12ab-34cd-56ef-1234567890ab";

    private static IReadOnlyList<SeedKey> Parse(string path, string text) => SeedFile.Parse(path, text, "111122223333", "us-east-1");

    private static string Fails(string path, string text) => Assert.Throws<SeedException>(() => Parse(path, text)).Message;

    [Fact]
    public void Json_entry_gets_defaults_and_keeps_an_object_policy_exactly()
    {
        var policy = """{ "Version":"2012-10-17",  "Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}] }""";
        var keys = Parse("seed.json", $$"""
            { "Keys": [ { "KeyId": "{{Id}}", "Description": "d", "Aliases": ["alias/app"], "Tags": {"team": "a", "env": "ci"},
                          "Policy": {{policy}}, "Rotation": { "Enabled": true, "PeriodInDays": 180 }, "Enabled": false } ] }
            """);

        var key = Assert.Single(keys);
        Assert.Equal(new KeyScope("111122223333", "us-east-1"), key.Scope);
        Assert.Equal(KeySpec.SYMMETRIC_DEFAULT, key.KeySpec);
        Assert.Equal(KeyUsageType.ENCRYPT_DECRYPT, key.KeyUsage);
        Assert.Equal(["alias/app"], key.Aliases);
        Assert.Equal([new KeyTag("team", "a"), new KeyTag("env", "ci")], key.Tags);
        Assert.Equal(policy, key.Policy);
        Assert.True(key.RotationEnabled);
        Assert.Equal(180, key.RotationPeriodInDays);
        Assert.False(key.Enabled);
    }

    [Fact]
    public void Yaml_entry_reads_like_json_and_keeps_a_block_policy_exactly()
    {
        var keys = Parse("seed.yaml", $$"""
            Keys:
              - KeyId: {{Id}}
                AccountId: 444455556666
                Region: eu-west-1
                KeySpec: HMAC_256
                Tags:
                  team: a
                Rotation:
                  Enabled: false
                Policy: |
                  {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"kms:*","Resource":"*"}]}
              - KeyId: 0000abcd-12ab-34cd-56ef-1234567890ab
                KeySpec: RSA_2048
                KeyUsage: SIGN_VERIFY
            """);

        Assert.Equal(2, keys.Count);
        Assert.Equal(new KeyScope("444455556666", "eu-west-1"), keys[0].Scope);
        Assert.Equal(KeyUsageType.GENERATE_VERIFY_MAC, keys[0].KeyUsage);
        Assert.StartsWith("{\"Version\":\"2012-10-17\"", keys[0].Policy, StringComparison.Ordinal);
        Assert.False(keys[0].RotationEnabled);
        Assert.Equal(KeyUsageType.SIGN_VERIFY, keys[1].KeyUsage);
        Assert.Null(keys[1].Policy);
        Assert.Null(keys[1].Tags);
    }

    [Theory]
    [InlineData("""{"Keys":[{"KeyId":"ID","KeySpec":"AES_512"}]}""", "field KeySpec")]
    [InlineData("""{"Keys":[{"KeyId":"ID","KeySpec":"RSA_2048"}]}""", "field KeyUsage")]
    [InlineData("""{"Keys":[{"KeyId":"ID","KeyUsage":"SIGN_VERIFY"}]}""", "field KeyUsage")]
    [InlineData("""{"Keys":[{"KeyId":"not-a-uuid"}]}""", "field KeyId")]
    [InlineData("""{"Keys":[{"KeyId":"mrk-1234abcd12ab34cd56ef1234567890ab"}]}""", "field KeyId")]
    [InlineData("""{"Keys":[{"Description":"no id"}]}""", "field KeyId")]
    [InlineData("""{"Keys":[{"KeyId":"ID","Aliases":["app"]}]}""", "does not start with alias/")]
    [InlineData("""{"Keys":[{"KeyId":"ID","Aliases":["alias/aws/s3"]}]}""", "reserved")]
    [InlineData("""{"Keys":[{"KeyId":"ID","Aliases":["alias/a"]},{"KeyId":"0000abcd-12ab-34cd-56ef-1234567890ab","Aliases":["alias/a"]}]}""", "Keys[1] (key id 0000abcd-12ab-34cd-56ef-1234567890ab), field Aliases")]
    [InlineData("""{"Keys":[{"KeyId":"ID"},{"KeyId":"ID"}]}""", "Keys[1] (key id ID), field KeyId: declared twice")]
    [InlineData("""{"Keys":[{"KeyId":"ID","Rotation":{"Enabled":true,"PeriodInDays":30}}]}""", "field Rotation.PeriodInDays")]
    [InlineData("""{"Keys":[{"KeyId":"ID","KeySpec":"HMAC_256","Rotation":{"Enabled":true}}]}""", "field Rotation.Enabled")]
    [InlineData("""{"Keys":[{"KeyId":"ID","Policy":{"Statement":"nope"}}]}""", "field Policy")]
    [InlineData("""{"Keys":[{"KeyId":"ID","Tags":{"aws:x":"y"}}]}""", "field Tags")]
    [InlineData("""{"Keys":[{"KeyId":"ID","Colour":"red"}]}""", "field Colour: unknown field")]
    [InlineData("""{"Keys":[{"KeyId":"ID","Region":"mars-1"}]}""", "field Region")]
    [InlineData("""{"Keys":[{"KeyId":"ID",}""", "not valid JSON")]
    [InlineData("""{"Kees":[]}""", "top level")]
    public void Json_errors_name_the_file_entry_and_field(string json, string expected)
    {
        var message = Fails("/seeds/seed.json", json.Replace("ID", Id, StringComparison.Ordinal));

        Assert.StartsWith("Seed file /seeds/seed.json: ", message, StringComparison.Ordinal);
        Assert.Contains(expected.Replace("ID", Id, StringComparison.Ordinal), message, StringComparison.Ordinal);
    }

    [Fact]
    public void Yaml_syntax_errors_and_unknown_extensions_are_clear()
    {
        Assert.Contains("not valid YAML at line", Fails("s.yml", "Keys:\n  - KeyId: [unclosed\n"), StringComparison.Ordinal);
        Assert.Contains("must end in .json, .yaml or .yml", Fails("s.txt", "{}"), StringComparison.Ordinal);
    }
}
