using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Hosting;
using KmsEmulator.Api.Keys;

namespace KmsEmulator.Api.Tests;

/// <summary>The seed file parser and its checks of the file on its own (docs/seeding.md).</summary>
public sealed class SeedFileTests
{
    private const string Id = "1234abcd-12ab-34cd-56ef-1234567890ab";

    /// <summary>32 bytes 0x00..0x1f in base64: AES-256 material.</summary>
    private const string Material32 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

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
    [InlineData("""{"Keys":[{"KeyId":"mrk-1234ABCD12ab34cd56ef1234567890ab"}]}""", "field KeyId")]
    [InlineData("""{"Keys":[{"KeyId":"mrk-1234abcd12ab34cd56ef1234567890ab","MultiRegion":false}]}""", "field MultiRegion")]
    [InlineData("""{"Keys":[{"KeyId":"ID","MultiRegion":true}]}""", "field MultiRegion")]
    [InlineData("""{"Keys":[{"KeyId":"ID","ReplicaRegions":["eu-west-1"]}]}""", "field ReplicaRegions: only a multi-Region key")]
    [InlineData("""{"Keys":[{"KeyId":"mrk-1234abcd12ab34cd56ef1234567890ab","ReplicaRegions":["us-east-1"]}]}""", "field ReplicaRegions: us-east-1 is the primary key's own region")]
    [InlineData("""{"Keys":[{"KeyId":"mrk-1234abcd12ab34cd56ef1234567890ab","ReplicaRegions":["cn-north-1"]}]}""", "field ReplicaRegions: cn-north-1 is in another partition")]
    [InlineData("""{"Keys":[{"KeyId":"mrk-1234abcd12ab34cd56ef1234567890ab","ReplicaRegions":["eu-west-1","eu-west-1"]}]}""", "named twice")]
    [InlineData("""{"Keys":[{"KeyId":"mrk-1234abcd12ab34cd56ef1234567890ab","ReplicaRegions":["eu-west-1"],"Aliases":["alias/a"]},{"KeyId":"ID","Region":"eu-west-1","Aliases":["alias/a"]}]}""", "Keys[1] (key id ID), field Aliases: alias/a is declared twice in 111122223333/eu-west-1")]
    [InlineData("""{"Keys":[{"KeyId":"ID","Origin":"EXTERNAL"}]}""", "field KeyMaterial: an EXTERNAL key needs exactly one")]
    [InlineData("""{"Keys":[{"KeyId":"ID","Origin":"EXTERNAL","KeyMaterial":"AAAA","KeyMaterialFile":"m.bin"}]}""", "field KeyMaterial: an EXTERNAL key needs exactly one")]
    [InlineData("""{"Keys":[{"KeyId":"ID","Origin":"EXTERNAL","KeyMaterial":"AAECAwQFBgcICQoLDA0ODw=="}]}""", "field KeyMaterial: a SYMMETRIC_DEFAULT key's material is 32 bytes (256 bits), not 16")]
    [InlineData("""{"Keys":[{"KeyId":"ID","Origin":"EXTERNAL","KeySpec":"HMAC_256","KeyMaterial":"AAECAwQFBgcICQoLDA0ODw=="}]}""", "field KeyMaterial: HMAC_256 key material is 32 to 64 bytes, not 16")]
    [InlineData("""{"Keys":[{"KeyId":"ID","Origin":"EXTERNAL","KeyMaterial":"not base64!"}]}""", "field KeyMaterial: is neither base64 nor a PEM")]
    [InlineData("""{"Keys":[{"KeyId":"ID","Origin":"EXTERNAL","KeySpec":"RSA_2048","KeyUsage":"SIGN_VERIFY","KeyMaterial":"AAECAwQFBgcICQoLDA0ODw=="}]}""", "field KeyMaterial: The key material is not a PKCS#8 Rsa2048 private key")]
    [InlineData("""{"Keys":[{"KeyId":"ID","Origin":"EXTERNAL","KeyMaterialFile":"does-not-exist.bin"}]}""", "field KeyMaterialFile: /seeds/does-not-exist.bin cannot be read")]
    [InlineData("""{"Keys":[{"KeyId":"ID","KeyMaterial":"AAAA"}]}""", "field KeyMaterial: only for keys with Origin EXTERNAL")]
    [InlineData("""{"Keys":[{"KeyId":"ID","Origin":"AWS_CLOUDHSM"}]}""", "field Origin")]
    [InlineData("""{"Keys":[{"KeyId":"ID","Origin":"EXTERNAL","KeyMaterial":"MATERIAL32","Rotation":{"Enabled":true}}]}""", "field Rotation.Enabled: automatic rotation is not available for imported key material")]
    [InlineData("""{"Keys":[{"KeyId":"ID","Origin":"EXTERNAL","KeyMaterial":"MATERIAL32","ExpirationModel":"KEY_MATERIAL_EXPIRES"}]}""", "field ValidTo: required")]
    [InlineData("""{"Keys":[{"KeyId":"ID","Origin":"EXTERNAL","KeyMaterial":"MATERIAL32","ExpirationModel":"KEY_MATERIAL_DOES_NOT_EXPIRE","ValidTo":"2030-01-01T00:00:00Z"}]}""", "field ValidTo: not allowed")]
    [InlineData("""{"Keys":[{"KeyId":"ID","Origin":"EXTERNAL","KeyMaterial":"MATERIAL32","ValidTo":"soon"}]}""", "field ValidTo")]
    [InlineData("""{"Keys":[{"KeyId":"ID","Origin":"EXTERNAL","KeySpec":"ECC_NIST_EDWARDS25519","KeyUsage":"SIGN_VERIFY","KeyMaterial":"MATERIAL32"}]}""", "field Origin: key material cannot be imported into ECC_NIST_EDWARDS25519")]
    [InlineData("""{"Keys":[{"KeyId":"ID","BypassPolicyLockoutSafetyCheck":true}]}""", "field BypassPolicyLockoutSafetyCheck: given without a Policy")]
    [InlineData("""{"Keys":[{"KeyId":"ID","Grants":[{"GranteePrincipal":"arn:aws:iam::111122223333:user/bob","Operations":["Encrypt"]}]}]}""", "field Grants[0].Name: required")]
    [InlineData("""{"Keys":[{"KeyId":"ID","Grants":[{"Name":"g","Operations":["Encrypt"]}]}]}""", "field Grants[0].GranteePrincipal: required")]
    [InlineData("""{"Keys":[{"KeyId":"ID","Grants":[{"Name":"g","GranteePrincipal":"arn:aws:iam::111122223333:user/bob","Operations":["Fly"]}]}]}""", "field Grants[0].Operations: \"Fly\" is not a grant operation")]
    [InlineData("""{"Keys":[{"KeyId":"ID","Grants":[{"Name":"g","GranteePrincipal":"arn:aws:iam::111122223333:user/bob","Operations":[]}]}]}""", "field Grants[0].Operations: required")]
    [InlineData("""{"Keys":[{"KeyId":"ID","Grants":[{"Name":"g","GranteePrincipal":"b","Operations":["Encrypt"]},{"Name":"g","GranteePrincipal":"b","Operations":["Decrypt"]}]}]}""", "field Grants[1].Name: g is declared twice")]
    [InlineData("""{"Keys":[{"KeyId":"ID","Grants":[{"Name":"g","GranteePrincipal":"b","Operations":["Encrypt"],"Constraints":{"EncryptionContextEquals":{"a":"b"},"EncryptionContextSubset":{"a":"b"}}}]}]}""", "field Grants[0].Constraints: must be an object with one of")]
    [InlineData("""{"Keys":[{"KeyId":"ID","Grants":[{"Name":"g","GranteePrincipal":"b","Operations":["Encrypt"],"Colour":"red"}]}]}""", "field Grants[0].Colour: unknown field")]
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
        var message = Fails("/seeds/seed.json", json.Replace("ID", Id, StringComparison.Ordinal).Replace("MATERIAL32", Material32, StringComparison.Ordinal));

        Assert.StartsWith("Seed file /seeds/seed.json: ", message, StringComparison.Ordinal);
        Assert.Contains(expected.Replace("ID", Id, StringComparison.Ordinal), message, StringComparison.Ordinal);
    }

    [Fact]
    public void Yaml_syntax_errors_and_unknown_extensions_are_clear()
    {
        Assert.Contains("not valid YAML at line", Fails("s.yml", "Keys:\n  - KeyId: [unclosed\n"), StringComparison.Ordinal);
        Assert.Contains("must end in .json, .yaml or .yml", Fails("s.txt", "{}"), StringComparison.Ordinal);
    }

    [Fact]
    public void External_entry_reads_base64_material_that_never_shows_in_text_and_ValidTo_implies_expiry()
    {
        var keys = Parse("seed.json", $$"""
            { "Keys": [
                { "KeyId": "{{Id}}", "Origin": "EXTERNAL", "KeyMaterial": "{{Material32}}" },
                { "KeyId": "0000abcd-12ab-34cd-56ef-1234567890ab", "Origin": "EXTERNAL", "KeySpec": "HMAC_256", "KeyMaterial": "{{Material32}}",
                  "ValidTo": "2030-01-31T12:00:00.750+01:00", "Enabled": false } ] }
            """);

        Assert.Equal(OriginType.EXTERNAL, keys[0].Origin);
        Assert.Equal(Enumerable.Range(0, 32).Select(i => (byte)i), keys[0].Material!.Bytes.ToArray());
        Assert.Equal("KeyMaterial", keys[0].Material!.Field);
        Assert.Null(keys[0].ExpirationModel);
        Assert.DoesNotContain(Material32, keys[0].ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("AAECAw", keys[0].ToString(), StringComparison.Ordinal);
        Assert.Equal(ExpirationModelType.KEY_MATERIAL_EXPIRES, keys[1].ExpirationModel);
        Assert.Equal(new DateTimeOffset(2030, 1, 31, 11, 0, 0, TimeSpan.Zero), keys[1].ValidTo);

        keys[0].Material!.Clear();
        Assert.All(keys[0].Material!.Bytes.ToArray(), b => Assert.Equal(0, b));
    }

    [Fact]
    public void KeyMaterialFile_is_read_relative_to_the_seed_file_raw_or_as_PEM()
    {
        var folder = Directory.CreateTempSubdirectory("kmsemu-seedfile-");
        try
        {
            var aes = Enumerable.Range(100, 32).Select(i => (byte)i).ToArray();
            File.WriteAllBytes(Path.Combine(folder.FullName, "aes.bin"), aes);
            using var ec = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
            Directory.CreateDirectory(Path.Combine(folder.FullName, "keys"));
            File.WriteAllText(Path.Combine(folder.FullName, "keys", "ec.pem"), ec.ExportPkcs8PrivateKeyPem());
            var seedPath = Path.Combine(folder.FullName, "seed.yaml");

            var keys = Parse(seedPath, $"""
                Keys:
                  - KeyId: {Id}
                    Origin: EXTERNAL
                    KeyMaterialFile: aes.bin
                  - KeyId: 0000abcd-12ab-34cd-56ef-1234567890ab
                    Origin: EXTERNAL
                    KeySpec: ECC_NIST_P256
                    KeyUsage: SIGN_VERIFY
                    KeyMaterialFile: keys/ec.pem
                    ExpirationModel: KEY_MATERIAL_DOES_NOT_EXPIRE
                """);

            Assert.Equal(aes, keys[0].Material!.Bytes.ToArray());
            Assert.Equal("KeyMaterialFile", keys[0].Material!.Field);
            Assert.Equal(ec.ExportPkcs8PrivateKey(), keys[1].Material!.Bytes.ToArray());
            Assert.Equal(ExpirationModelType.KEY_MATERIAL_DOES_NOT_EXPIRE, keys[1].ExpirationModel);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void Multi_region_entry_and_grants_are_read()
    {
        var keys = Parse("seed.yaml", $$"""
            Keys:
              - KeyId: mrk-1234abcd12ab34cd56ef1234567890ab
                ReplicaRegions: [eu-west-1, ap-southeast-2]
                Grants:
                  - Name: app-encrypt
                    GranteePrincipal: arn:aws:iam::111122223333:role/app
                    RetiringPrincipal: arn:aws:iam::111122223333:role/admin
                    Operations: [Encrypt, Decrypt, Encrypt]
                    Constraints:
                      EncryptionContextSubset:
                        tenant: acme
            """);

        var key = Assert.Single(keys);
        Assert.True(key.MultiRegion);
        Assert.Equal(["eu-west-1", "ap-southeast-2"], key.ReplicaRegions);
        Assert.Equal(["us-east-1", "eu-west-1", "ap-southeast-2"], key.Scopes.Select(s => s.Region));
        var grant = Assert.Single(key.Grants);
        Assert.Equal("app-encrypt", grant.Name);
        Assert.Equal("Grants[0] (app-encrypt)", grant.Field);
        Assert.Equal([GrantOperation.Encrypt, GrantOperation.Decrypt], grant.Operations.ToArray());
        Assert.Equal("arn:aws:iam::111122223333:role/admin", grant.RetiringPrincipal);
        Assert.Equal(GrantConstraintKind.EncryptionContextSubset, grant.Constraint!.Kind);
        Assert.Equal("acme", grant.Constraint.Pairs["tenant"]);
    }

    [Fact]
    public void A_material_error_never_shows_the_material()
    {
        var wrongLength = Convert.ToBase64String(Enumerable.Range(7, 31).Select(i => (byte)i).ToArray());

        var message = Fails("seed.json", $$"""{ "Keys": [ { "KeyId": "{{Id}}", "Origin": "EXTERNAL", "KeyMaterial": "{{wrongLength}}" } ] }""");

        Assert.Contains("field KeyMaterial", message, StringComparison.Ordinal);
        Assert.DoesNotContain(wrongLength, message, StringComparison.Ordinal);
    }
}
