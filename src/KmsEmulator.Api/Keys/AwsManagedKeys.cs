using System.Collections.Frozen;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using KmsEmulator.Api.Generated;

namespace KmsEmulator.Api.Keys;

/// <summary>
/// One AWS service that has an AWS managed key in every account and Region: its predefined alias, the service endpoint
/// prefix its calls carry in <c>kms:ViaService</c>, and what the key protects (for the key's description).
/// </summary>
/// <param name="AliasName">The predefined alias, e.g. <c>alias/aws/s3</c>.</param>
/// <param name="EndpointPrefix">The endpoint prefix of the service that uses the key (<c>ec2</c> for EBS).</param>
/// <param name="Protects">What the key protects, as its description says.</param>
public sealed record AwsManagedService(string AliasName, string EndpointPrefix, string Protects)
{
    /// <summary>The service name in the managed policy's <c>Id</c> (<c>auto-s3-2</c>) and statement.</summary>
    public string Name => AliasName["alias/aws/".Length..];

    public string Description => $"Default key that protects my {Protects} when no other key is defined";

    public string ViaService(string region) => $"{EndpointPrefix}.{region}.amazonaws.com";
}

/// <summary>
/// AWS managed keys: the predefined <c>alias/aws/&lt;service&gt;</c> aliases, and the key behind each, which KMS creates in
/// an account and Region the first time a request names the alias (DescribeKey or a cryptographic operation).
/// </summary>
/// <remarks>
/// <para>
/// The key is an ordinary record with <see cref="KeyManagerType.AWS"/>, rotation on (yearly) and AWS's managed key
/// policy: any principal of the account may use it through the service (<c>kms:ViaService</c> and
/// <c>kms:CallerAccount</c>), and the account may only read its metadata. That policy is what refuses every change a
/// customer might try (deleting, disabling, re-policying, rotation settings, tags, new aliases), with AccessDenied, as
/// in AWS; and since <c>alias/aws/</c> is a reserved prefix, the alias cannot be moved or deleted.
/// </para>
/// <para>
/// The key id is derived from the account, Region and alias, so creation is idempotent: after a crash between the key
/// row and the alias row, the next use finds the key and writes the alias; and the same managed key id comes back after
/// the data directory is reset.
/// </para>
/// </remarks>
public sealed class AwsManagedKeys(KeyWriter writer, KeyCatalog catalog, KeyLifecycle lifecycle) : IDisposable
{
    /// <summary>How often AWS rotates AWS managed keys.</summary>
    public const int RotationPeriodInDays = 365;

    private const string AliasPrefix = "alias/aws/";

    /// <summary>Serialises first uses, so that two requests naming one new managed alias create one key.</summary>
    private readonly SemaphoreSlim _creating = new(1, 1);

    /// <summary>The predefined aliases, by alias name.</summary>
    public static FrozenDictionary<string, AwsManagedService> Services { get; } = new AwsManagedService[]
    {
        new("alias/aws/acm", "acm", "ACM private keys"),
        new("alias/aws/backup", "backup", "backups"),
        new("alias/aws/codecommit", "codecommit", "CodeCommit repositories"),
        new("alias/aws/dynamodb", "dynamodb", "DynamoDB data"),
        new("alias/aws/ebs", "ec2", "EBS volumes"),
        new("alias/aws/elasticfilesystem", "elasticfilesystem", "EFS filesystems"),
        new("alias/aws/es", "es", "Elasticsearch data"),
        new("alias/aws/fsx", "fsx", "FSx filesystems"),
        new("alias/aws/glue", "glue", "Glue data"),
        new("alias/aws/kinesis", "kinesis", "Kinesis data"),
        new("alias/aws/kinesisvideo", "kinesisvideo", "Kinesis Video Streams data"),
        new("alias/aws/lambda", "lambda", "Lambda functions"),
        new("alias/aws/rds", "rds", "RDS database volumes"),
        new("alias/aws/redshift", "redshift", "Redshift data"),
        new("alias/aws/s3", "s3", "S3 objects"),
        new("alias/aws/secretsmanager", "secretsmanager", "Secrets Manager data"),
        new("alias/aws/sns", "sns", "SNS data"),
        new("alias/aws/sqs", "sqs", "SQS messages"),
        new("alias/aws/ssm", "ssm", "SSM parameters"),
        new("alias/aws/xray", "xray", "X-Ray data"),
    }.ToFrozenDictionary(s => s.AliasName, StringComparer.Ordinal);

    /// <summary>
    /// Cheap test for the request path: could <paramref name="identifier"/> (an alias name or alias ARN) name a managed
    /// alias? Only then does <see cref="EnsureAsync"/> run.
    /// </summary>
    public static bool MayName(string identifier) => identifier.Contains(AliasPrefix, StringComparison.Ordinal);

    /// <summary>The id the managed key of <paramref name="service"/> has in <paramref name="scope"/>: a name-based UUID.</summary>
    public static string KeyIdFor(KeyScope scope, AwsManagedService service)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes($"kmsemu/aws-managed/{scope.AccountId}/{scope.Region}/{service.AliasName}"), hash);
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50); // version 5 (name-based)
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80); // RFC 4122 variant
        return new Guid(hash[..16], bigEndian: true).ToString("D");
    }

    /// <summary>
    /// Makes sure the managed key behind <paramref name="aliasName"/> exists in <paramref name="scope"/> (the caller's own
    /// account and Region), creating the key and its alias on first use. Does nothing for other alias names.
    /// </summary>
    public async ValueTask EnsureAsync(KeyScope scope, string aliasName, CancellationToken cancellationToken)
    {
        if (!Services.TryGetValue(aliasName, out var service) || HasLiveKey(scope, aliasName))
        {
            return;
        }

        await _creating.WaitAsync(cancellationToken);
        try
        {
            if (HasLiveKey(scope, aliasName))
            {
                return;
            }

            var keyId = KeyIdFor(scope, service);
            var key = catalog.FindKey(scope, keyId) ?? await writer.CreateKeyAsync(NewKey(scope, keyId, service), cancellationToken);
            await writer.PutAliasAsync(
                scope,
                aliasName,
                _ => new AliasRecord(scope, aliasName, key.KeyId, key.CreationDate, key.CreationDate),
                cancellationToken);
        }
        finally
        {
            _creating.Release();
        }
    }

    public void Dispose() => _creating.Dispose();

    /// <summary>The policy AWS gives the managed key of <paramref name="service"/> in <paramref name="scope"/>.</summary>
    public static string PolicyFor(KeyScope scope, AwsManagedService service)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("Version", "2012-10-17");
            json.WriteString("Id", $"auto-{service.Name}-2");
            json.WriteStartArray("Statement");

            json.WriteStartObject();
            json.WriteString("Sid", $"Allow access through {service.Name} for all principals in the account that are authorized to use {service.Name}");
            json.WriteString("Effect", "Allow");
            json.WriteStartObject("Principal");
            json.WriteString("AWS", "*");
            json.WriteEndObject();
            WriteStrings(json, "Action", "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey");
            json.WriteString("Resource", "*");
            json.WriteStartObject("Condition");
            json.WriteStartObject("StringEquals");
            json.WriteString("kms:CallerAccount", scope.AccountId);
            json.WriteString("kms:ViaService", service.ViaService(scope.Region));
            json.WriteEndObject();
            json.WriteEndObject();
            json.WriteEndObject();

            json.WriteStartObject();
            json.WriteString("Sid", "Allow direct access to key metadata to the account");
            json.WriteString("Effect", "Allow");
            json.WriteStartObject("Principal");
            json.WriteString("AWS", scope.RootArn);
            json.WriteEndObject();
            WriteStrings(json, "Action", "kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant");
            json.WriteString("Resource", "*");
            json.WriteEndObject();

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private bool HasLiveKey(KeyScope scope, string aliasName) =>
        catalog.FindAlias(scope, aliasName) is { } alias && lifecycle.FindLive(scope, alias.TargetKeyId) is not null;

    private KeyRecord NewKey(KeyScope scope, string keyId, AwsManagedService service)
    {
        var now = lifecycle.Now;
        var material = writer.NewMaterial(keyId, 1, now);
        return new KeyRecord
        {
            Scope = scope,
            KeyId = keyId,
            Description = service.Description,
            KeySpec = KeySpec.SYMMETRIC_DEFAULT,
            KeyUsage = KeyUsageType.ENCRYPT_DECRYPT,
            Origin = OriginType.AWS_KMS,
            KeyManager = KeyManagerType.AWS,
            KeyState = KeyState.Enabled,
            CreationDate = now,
            Policy = PolicyFor(scope, service),
            Materials = [material],
            CurrentMaterialVersion = material.Version,
            RotationEnabled = true,
            RotationPeriodInDays = RotationPeriodInDays,
            NextRotationDate = now.AddDays(RotationPeriodInDays),
        };
    }

    private static void WriteStrings(Utf8JsonWriter json, string name, params string[] values)
    {
        json.WriteStartArray(name);
        foreach (var value in values)
        {
            json.WriteStringValue(value);
        }

        json.WriteEndArray();
    }
}
