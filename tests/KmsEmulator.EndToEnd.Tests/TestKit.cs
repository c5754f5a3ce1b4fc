using System.Net;
using System.Text;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using Amazon.Runtime;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>
/// One emulator per test class (xunit class fixture), with an SDK client for the default account in us-east-1.
/// Tests of one class run one after the other, so a test may move the fixture's clock.
/// </summary>
public sealed class HostFixture : IAsyncLifetime
{
    public EmulatorHost Host { get; private set; } = null!;

    /// <summary>A client of the default account (<see cref="Accounts.Default"/>) in <see cref="Accounts.DefaultRegion"/>.</summary>
    public AmazonKeyManagementServiceClient Kms { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Host = await EmulatorHost.StartNewAsync();
        Kms = Host.CreateClient();
    }

    public async Task DisposeAsync()
    {
        Kms.Dispose();
        await Host.DisposeAsync();
    }
}

/// <summary>Accounts and regions as the emulator derives them from the SigV4 credential.</summary>
public static class Accounts
{
    /// <summary>The account of callers whose access key is not a 12-digit account id.</summary>
    public const string Default = "111122223333";

    public const string DefaultRegion = "us-east-1";

    /// <summary>A fresh account id: an access key of 12 digits acts as that account's root, so tests can list an empty account.</summary>
    public static string NewAccountId() => "5" + Random.Shared.NextInt64(10_000_000_000, 99_999_999_999).ToString(System.Globalization.CultureInfo.InvariantCulture);

    public static string KeyArn(string keyId, string account = Default, string region = DefaultRegion) => $"arn:aws:kms:{region}:{account}:key/{keyId}";

    public static string AliasArn(string aliasName, string account = Default, string region = DefaultRegion) => $"arn:aws:kms:{region}:{account}:{aliasName}";

    public static string RootArn(string account = Default) => $"arn:aws:iam::{account}:root";
}

/// <summary>Plaintext and blob helpers for the SDK's MemoryStream members.</summary>
public static class Blob
{
    public static MemoryStream Of(string text) => new(Encoding.UTF8.GetBytes(text));

    public static MemoryStream Of(byte[] bytes) => new(bytes);

    public static string Text(MemoryStream stream) => Encoding.UTF8.GetString(stream.ToArray());

    /// <summary>A copy of a ciphertext blob, so that one response can feed several requests.</summary>
    public static MemoryStream Copy(MemoryStream stream) => new(stream.ToArray());

    public static Dictionary<string, string> Context(params (string Key, string Value)[] pairs) => pairs.ToDictionary(p => p.Key, p => p.Value);
}

public static class KmsAssert
{
    public const string DryRunMessage = "The request would have succeeded, but the DryRun option is set.";
    public const string IncorrectKeyMessage = "The key ID in the request does not identify a CMK that can perform this operation.";
    public const string CiphertextKeyGoneMessage =
        "The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access.";

    /// <summary>
    /// Runs <paramref name="call"/> and asserts that it fails with the AWS error <paramref name="code"/> over HTTP 400 and,
    /// when <paramref name="message"/> is given, exactly that message.
    /// </summary>
    public static async Task<AmazonKeyManagementServiceException> ErrorAsync(Func<Task> call, string code, string? message = null)
    {
        var error = await Assert.ThrowsAnyAsync<AmazonKeyManagementServiceException>(call);
        Assert.Equal(code, error.ErrorCode);
        Assert.Equal(HttpStatusCode.BadRequest, error.StatusCode);
        if (message is not null)
        {
            Assert.Equal(message, error.Message);
        }

        return error;
    }

    /// <summary>As <see cref="ErrorAsync"/>, and the SDK mapped the error to its modeled exception type.</summary>
    public static async Task<TException> ErrorAsync<TException>(Func<Task> call, string? message = null)
        where TException : AmazonKeyManagementServiceException
    {
        var error = await ErrorAsync(call, typeof(TException).Name, message);
        return Assert.IsType<TException>(error);
    }

    public static Task<NotFoundException> KeyDoesNotExistAsync(Func<Task> call, string keyArn) =>
        ErrorAsync<NotFoundException>(call, $"Key '{keyArn}' does not exist");

    public static Task<NotFoundException> InvalidKeyIdAsync(Func<Task> call, string value) =>
        ErrorAsync<NotFoundException>(call, $"Invalid keyId '{value}'");

    public static Task<NotFoundException> AliasNotFoundAsync(Func<Task> call, string aliasArn) =>
        ErrorAsync<NotFoundException>(call, $"Alias {aliasArn} is not found.");

    public static Task<DisabledException> DisabledAsync(Func<Task> call, string keyArn) =>
        ErrorAsync<DisabledException>(call, $"{keyArn} is disabled.");

    public static Task<KMSInvalidStateException> PendingDeletionAsync(Func<Task> call, string keyArn) =>
        ErrorAsync<KMSInvalidStateException>(call, $"{keyArn} is pending deletion.");

    /// <summary>InvalidCiphertextException, which AWS sends without a message (the raw body is checked in RawHttpTests).</summary>
    public static Task<InvalidCiphertextException> InvalidCiphertextAsync(Func<Task> call) => ErrorAsync<InvalidCiphertextException>(call);

    public static Task ValidationAsync(Func<Task> call, string message) => ErrorAsync(call, "ValidationException", message);

    public static void IsUuid(string? value)
    {
        Assert.NotNull(value);
        Assert.Matches("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", value);
    }
}

/// <summary>Shortcuts for the calls most tests make.</summary>
public static class KmsClientExtensions
{
    public static async Task<KeyMetadata> NewKeyAsync(this IAmazonKeyManagementService kms, string? description = null, List<Tag>? tags = null, bool? multiRegion = null)
    {
        var response = await kms.CreateKeyAsync(new CreateKeyRequest { Description = description, Tags = tags, MultiRegion = multiRegion });
        return response.KeyMetadata;
    }

    public static async Task<string> NewAliasAsync(this IAmazonKeyManagementService kms, string targetKeyId, string? name = null)
    {
        var aliasName = name ?? "alias/e2e-" + Guid.NewGuid().ToString("N")[..12];
        await kms.CreateAliasAsync(new CreateAliasRequest { AliasName = aliasName, TargetKeyId = targetKeyId });
        return aliasName;
    }

    public static async Task<EncryptResponse> EncryptTextAsync(this IAmazonKeyManagementService kms, string keyId, string text, Dictionary<string, string>? context = null) =>
        await kms.EncryptAsync(new EncryptRequest { KeyId = keyId, Plaintext = Blob.Of(text), EncryptionContext = context });

    public static async Task<DecryptResponse> DecryptBlobAsync(this IAmazonKeyManagementService kms, MemoryStream ciphertext, Dictionary<string, string>? context = null, string? keyId = null) =>
        await kms.DecryptAsync(new DecryptRequest { CiphertextBlob = Blob.Copy(ciphertext), EncryptionContext = context, KeyId = keyId });

    public static async Task<KeyMetadata> DescribeAsync(this IAmazonKeyManagementService kms, string keyId) =>
        (await kms.DescribeKeyAsync(new DescribeKeyRequest { KeyId = keyId })).KeyMetadata;

    /// <summary>The caller's own aliases: <see cref="AllAliasesAsync"/> without AWS's predefined <c>alias/aws/*</c> names.</summary>
    public static async Task<List<AliasListEntry>> OwnAliasesAsync(this IAmazonKeyManagementService kms, string? keyId = null) =>
        (await kms.AllAliasesAsync(keyId)).Where(a => !a.AliasName.StartsWith("alias/aws/", StringComparison.Ordinal)).ToList();

    /// <summary>Every alias of the caller's account and region, following NextMarker to the end.</summary>
    public static async Task<List<AliasListEntry>> AllAliasesAsync(this IAmazonKeyManagementService kms, string? keyId = null)
    {
        var all = new List<AliasListEntry>();
        string? marker = null;
        do
        {
            var page = await kms.ListAliasesAsync(new ListAliasesRequest { KeyId = keyId, Marker = marker });
            all.AddRange(page.Aliases ?? []);
            marker = page.Truncated == true ? page.NextMarker : null;
        }
        while (marker is not null);

        return all;
    }

    /// <summary>Every key of the caller's account and region, following NextMarker to the end.</summary>
    public static async Task<List<KeyListEntry>> AllKeysAsync(this IAmazonKeyManagementService kms)
    {
        var all = new List<KeyListEntry>();
        string? marker = null;
        do
        {
            var page = await kms.ListKeysAsync(new ListKeysRequest { Marker = marker });
            all.AddRange(page.Keys ?? []);
            marker = page.Truncated == true ? page.NextMarker : null;
        }
        while (marker is not null);

        return all;
    }

    public static async Task<List<Tag>> TagsAsync(this IAmazonKeyManagementService kms, string keyId) =>
        (await kms.ListResourceTagsAsync(new ListResourceTagsRequest { KeyId = keyId })).Tags ?? [];
}
