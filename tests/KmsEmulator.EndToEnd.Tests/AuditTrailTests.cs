using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using Microsoft.Extensions.DependencyInjection;
using static KmsEmulator.EndToEnd.Tests.StrictPrincipals;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>
/// The CloudTrail audit trail through the official SDK: one record per request, successful or not, field by field, in
/// gzip log files laid out as CloudTrail delivers them; nothing secret in it; nothing lost on a graceful stop.
/// </summary>
public sealed partial class AuditTrailTests : IAsyncLifetime
{
    private const string Account = "111122223333";

    /// <summary>Over GenerateDataKey's limit of 1024 (not a constant, so the SDK's analyzer lets the test send it).</summary>
    private static readonly int TooManyBytes = 4096;
    private EmulatorHost _host = null!;
    private AmazonKeyManagementServiceClient _kms = null!;

    public async Task InitializeAsync()
    {
        _host = await EmulatorHost.StartNewAsync();
        _kms = _host.CreateClient();
    }

    public async Task DisposeAsync()
    {
        _kms.Dispose();
        await _host.DisposeAsync();
    }

    [Fact]
    public async Task A_successful_Encrypt_is_one_record_with_every_CloudTrail_field()
    {
        var keyArn = (await _kms.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata.Arn;
        var encrypt = await _kms.EncryptAsync(new EncryptRequest
        {
            KeyId = keyArn,
            Plaintext = new MemoryStream("audit me"u8.ToArray()),
            EncryptionContext = new Dictionary<string, string> { ["app"] = "billing" },
        });

        var record = (await _host.FlushAndReadAsync()).ByRequestId(encrypt.ResponseMetadata.RequestId);

        Assert.Equal("1.11", (string?)record["eventVersion"]);
        var identity = record["userIdentity"]!.AsObject();
        Assert.Equal("Root", (string?)identity["type"]);
        Assert.Equal(Account, (string?)identity["principalId"]);
        Assert.Equal($"arn:aws:iam::{Account}:root", (string?)identity["arn"]);
        Assert.Equal(Account, (string?)identity["accountId"]);
        Assert.Equal("AKIAIOSFODNN7EXAMPLE", (string?)identity["accessKeyId"]);
        Assert.Matches(EventTimePattern(), (string?)record["eventTime"]);
        Assert.Equal("kms.amazonaws.com", (string?)record["eventSource"]);
        Assert.Equal("Encrypt", (string?)record["eventName"]);
        Assert.Equal("us-east-1", (string?)record["awsRegion"]);
        Assert.Equal("127.0.0.1", (string?)record["sourceIPAddress"]);
        Assert.Contains("aws-sdk-dotnet", (string?)record["userAgent"], StringComparison.Ordinal);
        Assert.False(record.ContainsKey("errorCode"));
        Assert.False(record.ContainsKey("errorMessage"));
        var parameters = record["requestParameters"]!.AsObject();
        Assert.Equal(keyArn, (string?)parameters["keyId"]);
        Assert.Equal("billing", (string?)parameters["encryptionContext"]!["app"]);
        Assert.False(parameters.ContainsKey("plaintext"));
        Assert.Null(record["responseElements"]);
        Assert.True(Guid.TryParse((string?)record["eventID"], out _));
        Assert.True((bool)record["readOnly"]!);
        var resource = Assert.Single(record["resources"]!.AsArray())!.AsObject();
        Assert.Equal(Account, (string?)resource["accountId"]);
        Assert.Equal("AWS::KMS::Key", (string?)resource["type"]);
        Assert.Equal(keyArn, (string?)resource["ARN"]);
        Assert.Equal("AwsApiCall", (string?)record["eventType"]);
        Assert.True((bool)record["managementEvent"]!);
        Assert.Equal(Account, (string?)record["recipientAccountId"]);
        Assert.Equal("Management", (string?)record["eventCategory"]);
        Assert.False(record.ContainsKey("tlsDetails"));
    }

    [Fact]
    public async Task CreateKey_logs_the_new_key_metadata_with_dates_as_KMS_writes_them()
    {
        var created = await _kms.CreateKeyAsync(new CreateKeyRequest { Description = "audited", Tags = [new Tag { TagKey = "team", TagValue = "red" }] });

        var record = (await _host.FlushAndReadAsync()).ByRequestId(created.ResponseMetadata.RequestId);

        Assert.False((bool)record["readOnly"]!);
        Assert.Equal("audited", (string?)record["requestParameters"]!["description"]);
        var metadata = record["responseElements"]!["keyMetadata"]!.AsObject();
        Assert.Equal(created.KeyMetadata.KeyId, (string?)metadata["keyId"]);
        Assert.Equal(created.KeyMetadata.Arn, (string?)metadata["arn"]);
        Assert.Equal("Enabled", (string?)metadata["keyState"]);
        var creationDate = created.KeyMetadata.CreationDate!.Value.ToUniversalTime();
        Assert.Equal(creationDate.ToString("MMM d, yyyy, h:mm:ss tt", CultureInfo.InvariantCulture), (string?)metadata["creationDate"]);
        Assert.Equal(created.KeyMetadata.Arn, (string?)Assert.Single(record["resources"]!.AsArray())!["ARN"]);
    }

    [Fact]
    public async Task Failed_calls_are_recorded_with_the_error_returned()
    {
        var key = (await _kms.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata;
        var validation = await KmsAssert.ErrorAsync(
            () => _kms.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = key.KeyId, NumberOfBytes = TooManyBytes }), "ValidationException");
        var notFound = await KmsAssert.ErrorAsync(
            () => _kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = "alias/nothing-here" }), "NotFoundException");
        await _kms.DisableKeyAsync(new DisableKeyRequest { KeyId = key.KeyId });
        var disabled = await KmsAssert.ErrorAsync(
            () => _kms.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = new MemoryStream([1]) }), "DisabledException");

        var records = await _host.FlushAndReadAsync();

        foreach (var (error, operation) in new[] { (validation, "GenerateDataKey"), (notFound, "DescribeKey"), (disabled, "Encrypt") })
        {
            var record = records.ByRequestId(error.RequestId);
            Assert.Equal(operation, (string?)record["eventName"]);
            Assert.Equal(error.ErrorCode, (string?)record["errorCode"]);
            Assert.Equal(error.Message, (string?)record["errorMessage"]);
            Assert.Null(record["responseElements"]);
        }

        // The request's parameters are logged even when it failed validation or named nothing.
        Assert.Equal(4096, (int)records.ByRequestId(validation.RequestId)["requestParameters"]!["numberOfBytes"]!);
        Assert.Empty(records.ByRequestId(notFound.RequestId)["resources"]!.AsArray());
        Assert.Equal(key.Arn, (string?)records.ByRequestId(disabled.RequestId)["resources"]![0]!["ARN"]);
    }

    [Fact]
    public async Task A_denied_call_is_recorded_as_AccessDenied()
    {
        const string denyEncrypt = """
            {"Version":"2012-10-17","Statement":[
              {"Sid":"Admin","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
              {"Sid":"NoEncrypt","Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*"}]}
            """;
        var key = (await _kms.CreateKeyAsync(new CreateKeyRequest { Policy = denyEncrypt })).KeyMetadata;
        var denied = await KmsAssert.ErrorAsync(
            () => _kms.EncryptAsync(new EncryptRequest { KeyId = key.KeyId, Plaintext = new MemoryStream([1]) }), "AccessDeniedException");

        var record = (await _host.FlushAndReadAsync()).ByRequestId(denied.RequestId);

        Assert.Equal("AccessDenied", (string?)record["errorCode"]);
        Assert.Equal(denied.Message, (string?)record["errorMessage"]);
        Assert.Equal(key.Arn, (string?)record["resources"]![0]!["ARN"]);
    }

    [Fact]
    public async Task The_trail_never_holds_plaintext_data_keys_or_ciphertext()
    {
        var keyId = (await _kms.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata.KeyId;
        var plaintext = Encoding.UTF8.GetBytes("the-secret-payload-" + Guid.NewGuid());
        var encrypt = await _kms.EncryptAsync(new EncryptRequest { KeyId = keyId, Plaintext = new MemoryStream(plaintext) });
        var decrypt = await _kms.DecryptAsync(new DecryptRequest { CiphertextBlob = encrypt.CiphertextBlob });
        var dataKey = await _kms.GenerateDataKeyAsync(new GenerateDataKeyRequest { KeyId = keyId, KeySpec = DataKeySpec.AES_256 });
        var random = await _kms.GenerateRandomAsync(new GenerateRandomRequest { NumberOfBytes = 32 });

        await _host.FlushAndReadAsync();
        await _host.StopAsync(); // and the files written at shutdown

        var secrets = new[] { plaintext, decrypt.Plaintext.ToArray(), encrypt.CiphertextBlob.ToArray(), dataKey.Plaintext.ToArray(), dataKey.CiphertextBlob.ToArray(), random.Plaintext.ToArray() };
        var trail = AllTrailBytes(AuditTrailReader.AuditRoot(_host));
        Assert.NotEmpty(trail);
        foreach (var secret in secrets)
        {
            foreach (var form in new[] { secret, Encoding.UTF8.GetBytes(Convert.ToBase64String(secret)), Encoding.UTF8.GetBytes(Convert.ToHexString(secret)), Encoding.UTF8.GetBytes(Convert.ToHexString(secret).ToLowerInvariant()) })
            {
                Assert.False(trail.Any(content => content.AsSpan().IndexOf(form) >= 0), $"a secret ({form.Length} bytes) appears in the audit folder");
            }
        }

        // Positive control: the search does find what is there.
        Assert.Contains(trail, content => content.AsSpan().IndexOf(Encoding.UTF8.GetBytes(keyId)) >= 0);
    }

    [Fact]
    public async Task A_graceful_stop_delivers_every_record()
    {
        var keyId = (await _kms.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata.KeyId;
        var requestIds = new List<string>();
        for (var i = 0; i < 25; i++)
        {
            requestIds.Add((await _kms.EncryptAsync(new EncryptRequest { KeyId = keyId, Plaintext = new MemoryStream([(byte)i]) })).ResponseMetadata.RequestId);
        }

        await _host.StopAsync();

        var records = AuditTrailReader.Read(AuditTrailReader.AuditRoot(_host));
        foreach (var requestId in requestIds)
        {
            records.ByRequestId(requestId);
        }

        var partial = Path.Combine(AuditTrailReader.AuditRoot(_host), ".partial");
        Assert.True(!Directory.Exists(partial) || Directory.GetFiles(partial).Length == 0);
    }

    [Fact]
    public async Task Log_files_are_laid_out_and_named_as_CloudTrail_delivers_them()
    {
        await _kms.ListKeysAsync(new ListKeysRequest());
        await _host.FlushAndReadAsync();

        var root = AuditTrailReader.AuditRoot(_host);
        var files = Directory.GetFiles(Path.Combine(root, "AWSLogs"), "*.json.gz", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(root, f).Replace(Path.DirectorySeparatorChar, '/'))
            .Where(f => f.Contains("/CloudTrail/", StringComparison.Ordinal))
            .ToList();
        Assert.NotEmpty(files);
        foreach (var file in files)
        {
            Assert.Matches(LogObjectKeyPattern(), file);
            using var gzip = new GZipStream(File.OpenRead(Path.Combine(root, file)), CompressionMode.Decompress);
            Assert.NotNull(JsonNode.Parse(gzip)!["Records"]!.AsArray());
        }
    }

    [Fact]
    public async Task GetKeyLastUsage_reports_the_last_successful_cryptographic_use()
    {
        var key = (await _kms.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata;

        var fresh = await _kms.GetKeyLastUsageAsync(new GetKeyLastUsageRequest { KeyId = key.KeyId });
        Assert.Equal(key.KeyId, fresh.KeyId);
        Assert.Equal(key.CreationDate, fresh.KeyCreationDate);
        Assert.True(fresh.TrackingStartDate <= fresh.KeyCreationDate);
        Assert.True(fresh.KeyLastUsage is null || fresh.KeyLastUsage.Operation is null);

        var encrypt = await _kms.EncryptAsync(new EncryptRequest
        {
            KeyId = key.KeyId,
            Plaintext = new MemoryStream([1, 2, 3]),
            EncryptionContext = new Dictionary<string, string> { ["purpose"] = "test" },
        });
        var afterEncrypt = await _kms.GetKeyLastUsageAsync(new GetKeyLastUsageRequest { KeyId = key.Arn });
        Assert.Equal("Encrypt", afterEncrypt.KeyLastUsage.Operation?.Value);
        Assert.Equal(encrypt.ResponseMetadata.RequestId, afterEncrypt.KeyLastUsage.KmsRequestId);
        var record = (await _host.FlushAndReadAsync()).ByRequestId(encrypt.ResponseMetadata.RequestId);
        Assert.Equal((string?)record["eventID"], afterEncrypt.KeyLastUsage.CloudTrailEventId);

        // A Decrypt that fails (wrong encryption context) is no use of the key; a DescribeKey is not cryptographic.
        await KmsAssert.ErrorAsync(() => _kms.DecryptAsync(new DecryptRequest { CiphertextBlob = encrypt.CiphertextBlob }), "InvalidCiphertextException");
        await _kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = key.KeyId });
        var unchanged = await _kms.GetKeyLastUsageAsync(new GetKeyLastUsageRequest { KeyId = key.KeyId });
        Assert.Equal(encrypt.ResponseMetadata.RequestId, unchanged.KeyLastUsage.KmsRequestId);

        // ReEncrypt is a use of both keys.
        var destination = (await _kms.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata;
        var reEncrypt = await _kms.ReEncryptAsync(new ReEncryptRequest
        {
            CiphertextBlob = encrypt.CiphertextBlob,
            SourceEncryptionContext = new Dictionary<string, string> { ["purpose"] = "test" },
            DestinationKeyId = destination.KeyId,
        });
        foreach (var used in new[] { key.KeyId, destination.KeyId })
        {
            var usage = await _kms.GetKeyLastUsageAsync(new GetKeyLastUsageRequest { KeyId = used });
            Assert.Equal("ReEncrypt", usage.KeyLastUsage.Operation?.Value);
            Assert.Equal(reEncrypt.ResponseMetadata.RequestId, usage.KeyLastUsage.KmsRequestId);
        }
    }

    [Fact]
    public async Task GetKeyLastUsage_takes_no_alias()
    {
        await _kms.CreateAliasAsync(new CreateAliasRequest { AliasName = "alias/last-usage", TargetKeyId = (await _kms.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata.KeyId });

        await KmsAssert.ErrorAsync(() => _kms.GetKeyLastUsageAsync(new GetKeyLastUsageRequest { KeyId = "alias/last-usage" }), "NotFoundException");
    }

    private static List<byte[]> AllTrailBytes(string root)
    {
        var contents = new List<byte[]>();
        foreach (var file in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories))
        {
            var raw = File.ReadAllBytes(file);
            contents.Add(raw);
            if (file.EndsWith(".gz", StringComparison.Ordinal))
            {
                using var gzip = new GZipStream(new MemoryStream(raw), CompressionMode.Decompress);
                using var plain = new MemoryStream();
                gzip.CopyTo(plain);
                contents.Add(plain.ToArray());
            }
        }

        return contents;
    }

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")]
    private static partial Regex EventTimePattern();

    [GeneratedRegex(@"^AWSLogs/111122223333/CloudTrail/us-east-1/\d{4}/\d{2}/\d{2}/111122223333_CloudTrail_us-east-1_\d{8}T\d{4}Z_[A-Za-z0-9]{16}\.json\.gz$")]
    private static partial Regex LogObjectKeyPattern();
}

/// <summary>Strict mode: requests whose signature fails are recorded too, under the principal they claimed to be.</summary>
public sealed class StrictAuditTrailTests : IAsyncLifetime
{
    private EmulatorHost _host = null!;

    public async Task InitializeAsync() => _host = await EmulatorHost.StartWithConfigAsync(Configuration());

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task A_bad_signature_is_recorded_with_the_claimed_principal()
    {
        using var forged = _host.CreateClient(Alice.AccessKeyId, secretAccessKey: "not-alices-secret");
        var error = await KmsAssert.ErrorAsync(() => forged.ListKeysAsync(new ListKeysRequest()), "InvalidSignatureException");

        var record = (await _host.FlushAndReadAsync()).ByRequestId(error.RequestId);

        Assert.Equal("ListKeys", (string?)record["eventName"]);
        Assert.Equal("InvalidSignatureException", (string?)record["errorCode"]);
        Assert.Equal(error.Message, (string?)record["errorMessage"]);
        var identity = record["userIdentity"]!.AsObject();
        Assert.Equal("IAMUser", (string?)identity["type"]);
        Assert.Equal(Alice.Arn, (string?)identity["arn"]);
        Assert.Equal("alice", (string?)identity["userName"]);
        Assert.StartsWith("AIDA", (string?)identity["principalId"], StringComparison.Ordinal);
        Assert.Equal(Alice.AccessKeyId, (string?)identity["accessKeyId"]);
    }

    [Fact]
    public async Task Role_sessions_and_service_callers_get_their_identity_shapes()
    {
        using var worker = _host.Client(Worker);
        var workerCall = await worker.ListKeysAsync(new ListKeysRequest());
        using var dave = _host.Client(Ebs);
        var daveCall = await dave.ListKeysAsync(new ListKeysRequest());

        var records = await _host.FlushAndReadAsync();

        var session = records.ByRequestId(workerCall.ResponseMetadata.RequestId)["userIdentity"]!.AsObject();
        Assert.Equal("AssumedRole", (string?)session["type"]);
        Assert.Equal(Worker.Arn, (string?)session["arn"]);
        Assert.EndsWith(":worker", (string?)session["principalId"], StringComparison.Ordinal);
        var issuer = session["sessionContext"]!["sessionIssuer"]!.AsObject();
        Assert.Equal("Role", (string?)issuer["type"]);
        Assert.Equal("arn:aws:iam::111122223333:role/App", (string?)issuer["arn"]);
        Assert.Equal("App", (string?)issuer["userName"]);

        var viaService = records.ByRequestId(daveCall.ResponseMetadata.RequestId);
        Assert.Equal("ec2.amazonaws.com", (string?)viaService["userIdentity"]!["invokedBy"]);
        Assert.Equal("ec2.amazonaws.com", (string?)viaService["sourceIPAddress"]);
        Assert.Equal("ec2.amazonaws.com", (string?)viaService["userAgent"]);
    }
}

/// <summary>A call on another account's key is in both accounts' trails when it succeeds, and only in the caller's when denied.</summary>
public sealed class CrossAccountAuditTrailTests : IAsyncLifetime
{
    private EmulatorHost _host = null!;

    public async Task InitializeAsync() => _host = await EmulatorHost.StartWithConfigAsync(Configuration());

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task Both_accounts_get_a_copy_that_shares_an_event_id()
    {
        using var admin = _host.Client(Admin);
        const string sharedWithOther = """
            {"Version":"2012-10-17","Statement":[
              {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
              {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"kms:Encrypt","Resource":"*"}]}
            """;
        var shared = (await admin.CreateKeyAsync(new CreateKeyRequest { Policy = sharedWithOther })).KeyMetadata;
        var mine = (await admin.CreateKeyAsync(new CreateKeyRequest())).KeyMetadata;
        using var carol = _host.Client(Carol);
        var allowed = await carol.EncryptAsync(new EncryptRequest { KeyId = shared.Arn, Plaintext = new MemoryStream([1]) });
        var denied = await KmsAssert.ErrorAsync(() => carol.EncryptAsync(new EncryptRequest { KeyId = mine.Arn, Plaintext = new MemoryStream([1]) }), "AccessDeniedException");

        var records = await _host.FlushAndReadAsync();

        var copies = records.Where(r => (string?)r["requestID"] == allowed.ResponseMetadata.RequestId).ToList();
        Assert.Equal(2, copies.Count);
        Assert.Equal(["111122223333", Other], copies.Select(r => (string?)r["recipientAccountId"]).Order(StringComparer.Ordinal));
        Assert.Single(copies.Select(r => (string?)r["sharedEventID"]).Distinct());
        Assert.NotNull(copies[0]["sharedEventID"]);
        Assert.NotEqual((string?)copies[0]["eventID"], (string?)copies[1]["eventID"]);

        var denial = records.ByRequestId(denied.RequestId);
        Assert.Equal(Other, (string?)denial["recipientAccountId"]);
        Assert.False(denial.ContainsKey("sharedEventID"));

        var root = AuditTrailReader.AuditRoot(_host);
        Assert.True(Directory.Exists(Path.Combine(root, "AWSLogs", Other, "CloudTrail", "us-east-1")));
    }
}

/// <summary>
/// Encryption at rest of the trail (Kms:Audit:KmsKeyId): log files are stored as envelopes under a KMS key of the
/// emulator, and only a caller the key policy allows to Decrypt can open them.
/// </summary>
public sealed class EncryptedAuditTrailTests
{
    [Fact]
    public async Task Log_files_are_stored_encrypted_and_open_with_KMS_Decrypt()
    {
        var first = await EmulatorHost.StartWithConfigAsync(Configuration());
        string keyArn;
        using (var admin = first.Client(Admin))
        {
            keyArn = (await admin.CreateKeyAsync(new CreateKeyRequest { Description = "trail key" })).KeyMetadata.Arn;
        }

        await first.StopAsync();
        var plainBefore = LogFiles(AuditTrailReader.AuditRoot(first)).ToHashSet();
        await using var host = await EmulatorHost.StartAsync(first.DataDir, first.TokenLabel, first.Clock, [.. first.ExtraArgs, "--Kms:Audit:KmsKeyId=" + keyArn]);
        using var alice = host.Client(Alice);
        var marker = "marker-" + Guid.NewGuid().ToString("N");
        var call = await alice.CreateKeyAsync(new CreateKeyRequest { Description = marker });
        await host.Services.GetRequiredService<KmsEmulator.Api.Audit.AuditTrail>().FlushAsync();

        var root = AuditTrailReader.AuditRoot(host);
        // Every log file delivered since the key was named is an envelope; the marker is in none of them.
        var sealedFiles = LogFiles(root).Where(f => !plainBefore.Contains(f)).ToList();
        Assert.NotEmpty(sealedFiles);
        Assert.All(sealedFiles, f => Assert.True(KmsEmulator.Api.Audit.TrailEncryption.IsEnvelope(File.ReadAllBytes(f)), $"{f} is stored unencrypted"));
        Assert.All(sealedFiles, f => Assert.True(File.ReadAllBytes(f).AsSpan().IndexOf(Encoding.UTF8.GetBytes(marker)) < 0));

        // Bob's identity policy allows nothing: the trail stays closed to him.
        using var refused = new MemoryStream();
        var bobExit = await KmsEmulator.Api.Hosting.AuditDecryptCommand.RunAsync([sealedFiles[0], "--endpoint-url", host.Url], refused, TextWriter.Null,
            new KmsEmulator.Api.Hosting.AuditDecryptCommand.Credentials(Bob.AccessKeyId, Bob.Secret, null));
        Assert.Equal(1, bobExit);
        Assert.Equal(0, refused.Length);

        // The key's administrator (the account root, through the default key policy) opens every file.
        var records = new List<JsonObject>();
        foreach (var file in sealedFiles)
        {
            using var opened = new MemoryStream();
            var exit = await KmsEmulator.Api.Hosting.AuditDecryptCommand.RunAsync([file, "--endpoint-url", host.Url], opened, TextWriter.Null,
                new KmsEmulator.Api.Hosting.AuditDecryptCommand.Credentials(Admin.AccessKeyId, Admin.Secret, null));
            Assert.Equal(0, exit);
            opened.Position = 0;
            using var gzip = new GZipStream(opened, CompressionMode.Decompress);
            records.AddRange(JsonNode.Parse(gzip)!["Records"]!.AsArray().Select(r => r!.AsObject()));
        }

        Assert.Equal(marker, (string?)records.ByRequestId(call.ResponseMetadata.RequestId)["requestParameters"]!["description"]);
    }

    [Fact]
    public async Task A_trail_key_that_does_not_exist_stops_start_up_with_a_clear_message()
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            EmulatorHost.StartNewAsync("--Kms:Audit:KmsKeyId=arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000000"));

        Assert.Contains("Kms:Audit:KmsKeyId", error.Message, StringComparison.Ordinal);
    }

    private static IEnumerable<string> LogFiles(string root) =>
        Directory.GetFiles(Path.Combine(root, "AWSLogs"), "*.json.gz", SearchOption.AllDirectories)
            .Where(f => f.Contains($"{Path.DirectorySeparatorChar}CloudTrail{Path.DirectorySeparatorChar}", StringComparison.Ordinal));
}

/// <summary>Kms:Audit:JsonLines: every record also as one JSON line, for log shippers.</summary>
public sealed class JsonLinesAuditTests
{
    [Fact]
    public async Task Every_record_is_also_one_json_line_in_the_named_file()
    {
        await using var host = await EmulatorHost.StartNewAsync("--Kms:Audit:JsonLines=records.jsonl");
        using var kms = host.CreateClient();
        var created = await kms.CreateKeyAsync(new CreateKeyRequest());
        var listed = await kms.ListKeysAsync(new ListKeysRequest());

        var trail = await host.FlushAndReadAsync();

        var lines = File.ReadAllLines(Path.Combine(AuditTrailReader.AuditRoot(host), "records.jsonl"));
        var records = lines.Select(line => JsonNode.Parse(line)!.AsObject()).ToList();
        foreach (var requestId in new[] { created.ResponseMetadata.RequestId, listed.ResponseMetadata.RequestId })
        {
            Assert.Equal(trail.ByRequestId(requestId).ToJsonString(), records.ByRequestId(requestId).ToJsonString());
        }
    }
}
