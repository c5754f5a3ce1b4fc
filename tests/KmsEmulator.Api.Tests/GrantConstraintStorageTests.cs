using System.Data;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Storage;
using Microsoft.Data.Sqlite;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// The JSON in the grants table's constraints column: rows written before the store owned its shape (schema version 2,
/// the GrantConstraints wire shape) are migrated, and a value in any other shape stops loading instead of losing the
/// constraint.
/// </summary>
public sealed class GrantConstraintStorageTests : IDisposable
{
    private const string KeyId = "1234abcd-12ab-34cd-56ef-1234567890ab";
    private const string ServicePrincipal = "logs.us-east-1.amazonaws.com";
    private const string SourceArn = "arn:aws:logs:us-east-1:111122223333:log-group:app";
    private static readonly KeyScope Scope = new("111122223333", "us-east-1");
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "kmsemu-constraints-" + Guid.NewGuid().ToString("N"));

    private string DbPath => Path.Combine(_dir, "kms.db");

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Grants_stored_in_the_old_constraint_shape_keep_their_constraints_after_migration()
    {
        await CreateSchemaVersion2Async();
        // What the store wrote before it owned the shape: the GrantConstraints wire type, null members omitted.
        await InsertGrantAsync("equals", """{"EncryptionContextEquals":{"tenant":"acme","stage":"prod"}}""");
        await InsertGrantAsync("subset", """{"EncryptionContextSubset":{"tenant":"acme"}}""");
        await InsertGrantAsync("source-arn", $$"""{"SourceArn":"{{SourceArn}}"}""", ServicePrincipal);
        await InsertGrantAsync("subset-and-source-arn", $$"""{"EncryptionContextSubset":{"tenant":"acme"},"SourceArn":"{{SourceArn}}"}""", ServicePrincipal);
        // The old reader also accepted members written out as null.
        await InsertGrantAsync("explicit-nulls", """{"EncryptionContextEquals":null,"EncryptionContextSubset":{"app":"billing"},"SourceArn":null}""");
        await InsertGrantAsync("unconstrained", constraints: null);

        var grants = await LoadGrantsAsync();

        AssertConstraint(grants["equals"], GrantConstraintKind.EncryptionContextEquals, [("stage", "prod"), ("tenant", "acme")], sourceArn: null);
        AssertConstraint(grants["subset"], GrantConstraintKind.EncryptionContextSubset, [("tenant", "acme")], sourceArn: null);
        AssertConstraint(grants["source-arn"], kind: null, [], SourceArn);
        AssertConstraint(grants["subset-and-source-arn"], GrantConstraintKind.EncryptionContextSubset, [("tenant", "acme")], SourceArn);
        AssertConstraint(grants["explicit-nulls"], GrantConstraintKind.EncryptionContextSubset, [("app", "billing")], sourceArn: null);
        AssertConstraint(grants["unconstrained"], kind: null, [], sourceArn: null);
        Assert.Equal(6, grants.Count);
    }

    [Fact]
    public async Task Grants_already_in_the_store_shape_are_not_changed_by_the_migration()
    {
        await CreateSchemaVersion2Async();
        const string equals = """{"Kind":"EncryptionContextEquals","Pairs":{"tenant":"acme"},"SourceArn":null}""";
        const string sourceArnOnly = $$"""{"Kind":null,"Pairs":null,"SourceArn":"{{SourceArn}}"}""";
        await InsertGrantAsync("equals", equals);
        await InsertGrantAsync("source-arn", sourceArnOnly, ServicePrincipal);

        var grants = await LoadGrantsAsync();

        Assert.Equal(equals, await StoredConstraintsAsync("equals"));
        Assert.Equal(sourceArnOnly, await StoredConstraintsAsync("source-arn"));
        AssertConstraint(grants["equals"], GrantConstraintKind.EncryptionContextEquals, [("tenant", "acme")], sourceArn: null);
        AssertConstraint(grants["source-arn"], kind: null, [], SourceArn);
    }

    [Fact]
    public async Task Grants_saved_by_the_current_store_load_with_their_constraints()
    {
        var store = await SqliteKmsStore.OpenAsync(DbPath);
        await store.SaveKeyAsync(TestKeys.Create(KeyId));
        var equals = Grant("equals") with
        {
            Constraint = GrantConstraint.Of(GrantConstraintKind.EncryptionContextEquals, [KeyValuePair.Create("tenant", "acme")]),
        };
        var sourceArn = Grant("source-arn") with { GranteePrincipal = null, GranteeServicePrincipal = ServicePrincipal, SourceArn = SourceArn };
        await store.SaveGrantAsync(new KeyVersion(Scope, KeyId, 2), equals);
        await store.SaveGrantAsync(new KeyVersion(Scope, KeyId, 3), sourceArn);

        var grants = await LoadGrantsAsync();

        AssertConstraint(grants["equals"], GrantConstraintKind.EncryptionContextEquals, [("tenant", "acme")], sourceArn: null);
        AssertConstraint(grants["source-arn"], kind: null, [], SourceArn);
    }

    [Theory]
    [InlineData("""{"Kind":"EncryptionContextEquals","Pairs":{"tenant":"acme"},"SourceArn":null,"Extra":1}""")]
    [InlineData("""{"Kind":"EncryptionContextSuperset","Pairs":{"tenant":"acme"},"SourceArn":null}""")]
    [InlineData("""{"Kind":"7","Pairs":{"tenant":"acme"},"SourceArn":null}""")]
    [InlineData("""{"Kind":"encryptionContextEquals","Pairs":{"tenant":"acme"},"SourceArn":null}""")]
    [InlineData("""{"Kind":"EncryptionContextEquals","Pairs":null,"SourceArn":null}""")]
    [InlineData("""{"Kind":null,"Pairs":{"tenant":"acme"},"SourceArn":null}""")]
    [InlineData("""{"Kind":"EncryptionContextEquals","Pairs":{"tenant":null},"SourceArn":null}""")]
    [InlineData("""{"Kind":"EncryptionContextEquals","Pairs":{"tenant":"acme"}}""")]
    [InlineData("""{"kind":"EncryptionContextEquals","Pairs":{"tenant":"acme"},"SourceArn":null}""")]
    [InlineData("""{"Kind":"EncryptionContextEquals","Pairs":{"tenant":"acme"},"SourceArn":null,"SourceArn":null}""")]
    [InlineData("""{"Constraint":{"EncryptionContextEquals":{"tenant":"acme"}}}""")]
    [InlineData("""[]""")]
    [InlineData("""not json""")]
    public async Task A_grant_whose_stored_constraints_are_in_an_unknown_shape_stops_loading(string constraints)
    {
        var store = await SqliteKmsStore.OpenAsync(DbPath);
        await store.SaveKeyAsync(TestKeys.Create(KeyId));
        var grant = Grant("odd");
        await store.SaveGrantAsync(new KeyVersion(Scope, KeyId, 2), grant);
        await ExecuteAsync("UPDATE grants SET constraints = @constraints", new SqliteParameter("@constraints", constraints));

        var exception = await Assert.ThrowsAsync<DataException>(() => store.LoadAsync());

        Assert.Contains(grant.GrantId, exception.Message);
        Assert.Contains(KeyId, exception.Message);
    }

    [Fact]
    public async Task An_old_row_with_both_context_constraints_is_left_for_loading_to_refuse()
    {
        // The old code never wrote both kinds at once; the migration does not guess which one was meant.
        await CreateSchemaVersion2Async();
        const string both = """{"EncryptionContextEquals":{"tenant":"acme"},"EncryptionContextSubset":{"tenant":"acme"}}""";
        await InsertGrantAsync("both", both);

        var store = await SqliteKmsStore.OpenAsync(DbPath);
        var exception = await Assert.ThrowsAsync<DataException>(() => store.LoadAsync());

        Assert.Contains(GrantId("both"), exception.Message);
        Assert.Equal(both, await StoredConstraintsAsync("both"));
    }

    private static void AssertConstraint(GrantRecord grant, GrantConstraintKind? kind, (string Key, string Value)[] pairs, string? sourceArn)
    {
        Assert.Equal(sourceArn, grant.SourceArn);
        if (kind is null)
        {
            Assert.Null(grant.Constraint);
            return;
        }

        Assert.NotNull(grant.Constraint);
        Assert.Equal(kind, grant.Constraint.Kind);
        Assert.Equal(pairs.Select(p => KeyValuePair.Create(p.Key, p.Value)), grant.Constraint.Pairs);
    }

    /// <summary>A stable 64-hex-digit grant id per test name.</summary>
    private static string GrantId(string name) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(name)));

    private static GrantRecord Grant(string name) => new()
    {
        GrantId = GrantId(name),
        Name = name,
        GranteePrincipal = "arn:aws:iam::111122223333:user/dave",
        Operations = [Generated.GrantOperation.Decrypt],
        IssuingAccount = Scope.AccountId,
        CreationDate = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000),
    };

    private async Task<Dictionary<string, GrantRecord>> LoadGrantsAsync()
    {
        var store = await SqliteKmsStore.OpenAsync(DbPath);
        var key = Assert.Single((await store.LoadAsync()).Keys);
        return key.Grants.Values.ToDictionary(g => g.Name!, StringComparer.Ordinal);
    }

    /// <summary>
    /// A database as the emulator left it at schema version 2: migrations 0001 and 0002 only, the store id, and one key.
    /// </summary>
    private async Task CreateSchemaVersion2Async()
    {
        Directory.CreateDirectory(_dir);
        var assembly = typeof(SqliteMigrations).Assembly;
        foreach (var (version, name) in SqliteMigrations.Available.Where(m => m.Version <= 2))
        {
            using var reader = new StreamReader(assembly.GetManifestResourceStream(name)!);
            await ExecuteAsync(await reader.ReadToEndAsync());
        }

        await ExecuteAsync("PRAGMA user_version = 2;");
        await ExecuteAsync("INSERT INTO store_meta (name, value) VALUES ('store_id', 'v2store')");
        await ExecuteAsync(
            """
            INSERT INTO keys (account_id, region, key_id, description, key_spec, key_usage, origin, key_manager, key_state,
                              creation_date, deletion_date, pending_window_days, multi_region, policy, current_material_version)
            VALUES (@account, @region, @keyId, '', 'SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT', 'AWS_KMS', 'CUSTOMER', 'Enabled',
                    0, NULL, NULL, 0, '{}', 0)
            """,
            new SqliteParameter("@account", Scope.AccountId),
            new SqliteParameter("@region", Scope.Region),
            new SqliteParameter("@keyId", KeyId));
    }

    private Task InsertGrantAsync(string name, string? constraints, string? servicePrincipal = null) =>
        ExecuteAsync(
            """
            INSERT INTO grants (account_id, region, key_id, grant_id, name, grantee_principal, grantee_service_principal,
                                retiring_principal, retiring_service_principal, operations, constraints, issuing_account, creation_date)
            VALUES (@account, @region, @keyId, @grantId, @name, @grantee, @servicePrincipal, NULL, NULL, 'Decrypt', @constraints, @account, 1700000000000)
            """,
            new SqliteParameter("@account", Scope.AccountId),
            new SqliteParameter("@region", Scope.Region),
            new SqliteParameter("@keyId", KeyId),
            new SqliteParameter("@grantId", GrantId(name)),
            new SqliteParameter("@name", name),
            new SqliteParameter("@grantee", servicePrincipal is null ? "arn:aws:iam::111122223333:user/dave" : DBNull.Value),
            new SqliteParameter("@servicePrincipal", (object?)servicePrincipal ?? DBNull.Value),
            new SqliteParameter("@constraints", (object?)constraints ?? DBNull.Value));

    private async Task<string?> StoredConstraintsAsync(string name)
    {
        await using var connection = new SqliteConnection($"Data Source={DbPath}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT constraints FROM grants WHERE grant_id = @grantId";
        command.Parameters.AddWithValue("@grantId", GrantId(name));
        return (string?)await command.ExecuteScalarAsync();
    }

    private async Task ExecuteAsync(string sql, params SqliteParameter[] parameters)
    {
        await using var connection = new SqliteConnection($"Data Source={DbPath}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Parameters.AddRange(parameters);
        await command.ExecuteNonQueryAsync();
    }
}
