using System.Collections.Immutable;
using System.Data;
using System.Data.Common;
using Dapper;
using System.Text.Json;
using KmsEmulator.Api.Generated;
using KmsEmulator.Api.Keys;

namespace KmsEmulator.Api.Storage;

/// <summary>
/// What the SQLite and PostgreSQL stores share: the rows of their tables (one schema, in each engine's types: times
/// are Unix milliseconds, flags 0 or 1, enums their wire strings), the statements that read and write them (standard
/// SQL that both engines take) and the mapping between rows and the domain's records, including the stored shape of
/// grant constraints. Each store keeps its own connections, transactions and locking.
/// </summary>
internal static class StoreRows
{
    private const string MaterialColumns =
        "SELECT account_id AS AccountId, region AS Region, key_id AS KeyId, version AS Version, material_id AS MaterialId, hsm_label AS HsmLabel, created_at AS CreatedAt, rotation_type AS RotationType FROM key_materials";

    private const string ImportParametersColumns =
        "SELECT account_id AS AccountId, region AS Region, key_id AS KeyId, token_id AS TokenId, hsm_label AS HsmLabel, wrapping_key_spec AS WrappingKeySpec, wrapping_algorithm AS WrappingAlgorithm, created_at AS CreatedAt, valid_to AS ValidTo FROM import_parameters";

    private const string TagColumns =
        "SELECT account_id AS AccountId, region AS Region, key_id AS KeyId, tag_key AS TagKey, tag_value AS TagValue FROM key_tags";

    public const string SelectMaterials = MaterialColumns + " ORDER BY version";

    public const string SelectImportParameters = ImportParametersColumns + " ORDER BY created_at, token_id";

    public const string SelectTags = TagColumns + " ORDER BY position";

    public const string SelectKeys =
        """
        SELECT account_id AS AccountId, region AS Region, key_id AS KeyId, description AS Description, key_spec AS KeySpec,
               key_usage AS KeyUsage, origin AS Origin, key_manager AS KeyManager, key_state AS KeyState,
               creation_date AS CreationDate, deletion_date AS DeletionDate, pending_window_days AS PendingWindowDays,
               multi_region AS MultiRegion, policy AS Policy, current_material_version AS CurrentMaterialVersion,
               version AS Version, rotation_enabled AS RotationEnabled, rotation_period_days AS RotationPeriodDays,
               next_rotation_date AS NextRotationDate, import_check_value AS ImportCheckValue, import_present AS ImportPresent,
               import_expiration_model AS ImportExpirationModel, import_valid_to AS ImportValidTo,
               import_description AS ImportDescription, import_state_after AS ImportStateAfter,
               primary_region AS PrimaryRegion, settled_state AS SettledState
        FROM keys
        """;

    public const string SelectGrants =
        """
        SELECT account_id AS AccountId, region AS Region, key_id AS KeyId, grant_id AS GrantId, name AS Name,
               grantee_principal AS GranteePrincipal, grantee_service_principal AS GranteeServicePrincipal,
               retiring_principal AS RetiringPrincipal, retiring_service_principal AS RetiringServicePrincipal,
               operations AS Operations, constraints AS Constraints, issuing_account AS IssuingAccount, creation_date AS CreationDate
        FROM grants
        """;

    public const string SelectAliases =
        "SELECT account_id AS AccountId, region AS Region, alias_name AS AliasName, target_key_id AS TargetKeyId, creation_date AS CreationDate, last_updated_date AS LastUpdatedDate FROM aliases";

    /// <summary>Appends one entry to the change feed (all four NULL: everything changed).</summary>
    public const string InsertChange = "INSERT INTO key_changes (account_id, region, key_id, alias_name) VALUES (@AccountId, @Region, @KeyId, @AliasName)";

    /// <summary>
    /// The changes after <c>@after</c>, each with the lowest number the feed still holds (read in the same statement, so
    /// that a prune in between cannot make a gap look complete).
    /// </summary>
    public const string SelectChanges =
        "SELECT seq AS Sequence, account_id AS AccountId, region AS Region, key_id AS KeyId, alias_name AS AliasName, (SELECT min(seq) FROM key_changes) AS First "
        + "FROM key_changes WHERE seq > @after ORDER BY seq LIMIT @limit";

    /// <summary>The number of the last change (0 when there is none).</summary>
    public const string SelectLastChange = "SELECT coalesce(max(seq), 0) FROM key_changes";

    /// <summary>Deletes all but the newest <c>@keep</c> changes; the newest is never deleted, so the numbers never restart.</summary>
    public const string PruneChanges = "DELETE FROM key_changes WHERE seq <= (SELECT max(seq) FROM key_changes) - @keep";

    /// <summary>Inserts a new key's row (version 1); does nothing when the key is there already.</summary>
    public const string InsertKey =
        """
        INSERT INTO keys (account_id, region, key_id, description, key_spec, key_usage, origin, key_manager, key_state,
                          creation_date, deletion_date, pending_window_days, multi_region, policy, current_material_version, version,
                          rotation_enabled, rotation_period_days, next_rotation_date, import_check_value, import_present,
                          import_expiration_model, import_valid_to, import_description, import_state_after,
                          primary_region, settled_state)
        VALUES (@AccountId, @Region, @KeyId, @Description, @KeySpec, @KeyUsage, @Origin, @KeyManager, @KeyState,
                @CreationDate, @DeletionDate, @PendingWindowDays, @MultiRegion, @Policy, @CurrentMaterialVersion, @Version,
                @RotationEnabled, @RotationPeriodDays, @NextRotationDate, @ImportCheckValue, @ImportPresent,
                @ImportExpirationModel, @ImportValidTo, @ImportDescription, @ImportStateAfter,
                @PrimaryRegion, @SettledState)
        ON CONFLICT (account_id, region, key_id) DO NOTHING
        """;

    /// <summary>Replaces a key's changeable columns, only while the key is at the version before <c>@Version</c>.</summary>
    public const string UpdateKey =
        """
        UPDATE keys SET
            description = @Description, key_state = @KeyState, deletion_date = @DeletionDate,
            pending_window_days = @PendingWindowDays, policy = @Policy,
            current_material_version = @CurrentMaterialVersion, version = @Version,
            rotation_enabled = @RotationEnabled, rotation_period_days = @RotationPeriodDays, next_rotation_date = @NextRotationDate,
            import_check_value = @ImportCheckValue, import_present = @ImportPresent, import_expiration_model = @ImportExpirationModel,
            import_valid_to = @ImportValidTo, import_description = @ImportDescription, import_state_after = @ImportStateAfter,
            primary_region = @PrimaryRegion, settled_state = @SettledState
        WHERE account_id = @AccountId AND region = @Region AND key_id = @KeyId AND version = @Version - 1
        """;

    /// <summary>Adds a material version; one that is there already is left as it is (material rows are only ever added).</summary>
    public const string InsertMaterial =
        """
        INSERT INTO key_materials (account_id, region, key_id, version, material_id, hsm_label, created_at, rotation_type)
        VALUES (@AccountId, @Region, @KeyId, @Version, @MaterialId, @HsmLabel, @CreatedAt, @RotationType)
        ON CONFLICT (account_id, region, key_id, version) DO NOTHING
        """;

    public const string DeleteImportParametersOfKey = "DELETE FROM import_parameters WHERE account_id = @AccountId AND region = @Region AND key_id = @KeyId";

    public const string InsertImportParameters =
        "INSERT INTO import_parameters (account_id, region, key_id, token_id, hsm_label, wrapping_key_spec, wrapping_algorithm, created_at, valid_to) "
        + "VALUES (@AccountId, @Region, @KeyId, @TokenId, @HsmLabel, @WrappingKeySpec, @WrappingAlgorithm, @CreatedAt, @ValidTo)";

    public const string DeleteTagsOfKey = "DELETE FROM key_tags WHERE account_id = @AccountId AND region = @Region AND key_id = @KeyId";

    public const string InsertTag =
        "INSERT INTO key_tags (account_id, region, key_id, position, tag_key, tag_value) VALUES (@AccountId, @Region, @KeyId, @position, @Key, @Value)";

    /// <summary>Deletes a key at exactly <c>@Version</c>; its materials, tags, aliases, grants and import parameters go with it (ON DELETE CASCADE).</summary>
    public const string DeleteKey = "DELETE FROM keys WHERE account_id = @AccountId AND region = @Region AND key_id = @KeyId AND version = @Version";

    /// <summary>Moves a key from the version before <c>@Version</c> to <c>@Version</c>.</summary>
    public const string StepVersion =
        "UPDATE keys SET version = @Version WHERE account_id = @AccountId AND region = @Region AND key_id = @KeyId AND version = @Version - 1";

    public const string SelectVersion = "SELECT version FROM keys WHERE account_id = @AccountId AND region = @Region AND key_id = @KeyId";

    public const string UpsertAlias =
        """
        INSERT INTO aliases (account_id, region, alias_name, target_key_id, creation_date, last_updated_date)
        VALUES (@AccountId, @Region, @AliasName, @TargetKeyId, @CreationDate, @LastUpdatedDate)
        ON CONFLICT (account_id, region, alias_name) DO UPDATE SET
            target_key_id = excluded.target_key_id, creation_date = excluded.creation_date, last_updated_date = excluded.last_updated_date
        """;

    public const string DeleteAlias = "DELETE FROM aliases WHERE account_id = @AccountId AND region = @Region AND alias_name = @aliasName";

    public const string InsertGrant =
        """
        INSERT INTO grants (account_id, region, key_id, grant_id, name, grantee_principal, grantee_service_principal,
                            retiring_principal, retiring_service_principal, operations, constraints, issuing_account, creation_date)
        VALUES (@AccountId, @Region, @KeyId, @GrantId, @Name, @GranteePrincipal, @GranteeServicePrincipal,
                @RetiringPrincipal, @RetiringServicePrincipal, @Operations, @Constraints, @IssuingAccount, @CreationDate)
        """;

    public const string DeleteGrant = "DELETE FROM grants WHERE account_id = @AccountId AND region = @Region AND key_id = @KeyId AND grant_id = @grantId";

    public const string SelectStoreId = "SELECT value FROM store_meta WHERE name = 'store_id'";

    /// <summary>The parameters of <see cref="InsertMaterial"/> for one material version of a key.</summary>
    public static object MaterialParameters(KeyRecord key, KeyMaterialVersion material) => new
    {
        key.Scope.AccountId, key.Scope.Region, key.KeyId, material.Version, material.MaterialId, material.HsmLabel,
        CreatedAt = material.CreatedAt.ToUnixTimeMilliseconds(), material.RotationType,
    };

    /// <summary>The parameters of <see cref="InsertImportParameters"/>.</summary>
    public static object ImportParametersParameters(KeyRecord key, ImportParameters parameters) => new
    {
        key.Scope.AccountId, key.Scope.Region, key.KeyId, parameters.TokenId, parameters.HsmLabel, parameters.WrappingKeySpec, parameters.WrappingAlgorithm,
        CreatedAt = parameters.CreatedAt.ToUnixTimeMilliseconds(), ValidTo = parameters.ValidTo.ToUnixTimeMilliseconds(),
    };

    /// <summary>The parameters of <see cref="UpsertAlias"/>.</summary>
    public static object AliasParameters(AliasRecord alias) => new
    {
        alias.Scope.AccountId,
        alias.Scope.Region,
        alias.AliasName,
        alias.TargetKeyId,
        CreationDate = alias.CreationDate.ToUnixTimeMilliseconds(),
        LastUpdatedDate = alias.LastUpdatedDate.ToUnixTimeMilliseconds(),
    };

    /// <summary>The parameters naming one key at one version (<see cref="StepVersion"/>, <see cref="DeleteKey"/>, <see cref="SelectVersion"/>).</summary>
    public static object KeyParameters(KeyVersion key) => new { key.Scope.AccountId, key.Scope.Region, key.KeyId, key.Version };

    /// <summary>
    /// Reads in the caller's transaction the keys whose id matches <paramref name="keyFilter"/> (a condition on
    /// <c>key_id</c> with the parameter <c>@keyIds</c>, in the engine's form of "one of a list") and the aliases whose
    /// name matches <paramref name="aliasFilter"/> (on <c>alias_name</c> with <c>@aliasNames</c>).
    /// </summary>
    public static async Task<StoreSnapshot> LoadSomeAsync(
        DbConnection connection, DbTransaction transaction, string keyFilter, string aliasFilter, object parameters)
    {
        var keys = $" WHERE {keyFilter}";
        return Snapshot(
            await connection.QueryAsync<KeyRow>(SelectKeys + keys, parameters, transaction),
            await connection.QueryAsync<MaterialRow>(MaterialColumns + keys + " ORDER BY version", parameters, transaction),
            await connection.QueryAsync<ImportParametersRow>(ImportParametersColumns + keys + " ORDER BY created_at, token_id", parameters, transaction),
            await connection.QueryAsync<TagRow>(TagColumns + keys + " ORDER BY position", parameters, transaction),
            await connection.QueryAsync<GrantRow>(SelectGrants + keys, parameters, transaction),
            await connection.QueryAsync<AliasRow>(SelectAliases + $" WHERE {aliasFilter}", parameters, transaction));
    }

    /// <summary>Appends the change feed's entries for one write, in the caller's transaction.</summary>
    public static async Task AppendChangesAsync(DbConnection connection, DbTransaction transaction, IEnumerable<ChangeRow> changes)
    {
        foreach (var change in changes)
        {
            await connection.ExecuteAsync(InsertChange, change, transaction);
        }
    }

    /// <summary>The changes a read found, and whether they are all there were after <paramref name="after"/>.</summary>
    public static StoreChanges Changes(IReadOnlyList<ChangeReadRow> rows, long after, int limit) =>
        new(
            [.. rows.Select(r => new StoreChange(
                r.Sequence, r.AccountId is null || r.Region is null ? null : new KeyScope(r.AccountId, r.Region), r.KeyId, r.AliasName))],
            // Numbers can be skipped (a write that failed after taking one), so a gap inside the feed means nothing;
            // a feed that now starts after the next number wanted has lost entries to pruning.
            rows.Count < limit && (rows.Count == 0 || rows[0].First <= after + 1));

    /// <summary>The store's records from the rows of every table, read in one transaction.</summary>
    public static StoreSnapshot Snapshot(
        IEnumerable<KeyRow> keyRows, IEnumerable<MaterialRow> materialRows, IEnumerable<ImportParametersRow> importParameterRows,
        IEnumerable<TagRow> tagRows, IEnumerable<GrantRow> grantRows, IEnumerable<AliasRow> aliasRows)
    {
        var materials = materialRows.ToLookup(m => (m.AccountId, m.Region, m.KeyId));
        var importParameters = importParameterRows.ToLookup(p => (p.AccountId, p.Region, p.KeyId));
        var tags = tagRows.ToLookup(t => (t.AccountId, t.Region, t.KeyId));
        var grants = grantRows.ToLookup(g => (g.AccountId, g.Region, g.KeyId));
        // Most keys share a handful of policy texts (the default policy of each account): keep one copy of each, which
        // also lets the authorizer's per-text caches serve every key with that policy.
        var policies = new Dictionary<string, string>(StringComparer.Ordinal);
        var keys = keyRows.Select(row =>
        {
            var id = (row.AccountId, row.Region, row.KeyId);
            var policy = policies.TryGetValue(row.Policy, out var shared) ? shared : policies[row.Policy] = row.Policy;
            return row.ToRecord(materials[id], tags[id]) with
            {
                Grants = GrantRow.ToGrants(grants[id]),
                Policy = policy,
                ImportParameters = importParameters[id].Any() ? [.. importParameters[id].Select(p => p.ToRecord())] : [],
            };
        }).ToList();

        var aliases = aliasRows
            .Select(a => new AliasRecord(new KeyScope(a.AccountId, a.Region), a.AliasName, a.TargetKeyId, FromMillis(a.CreationDate), FromMillis(a.LastUpdatedDate)))
            .ToList();
        return new StoreSnapshot(keys, aliases);
    }

    /// <summary>
    /// Writes one key's row, new material rows, import parameters and tags in the caller's transaction: inserts the key
    /// when it is at version 1 (it must not exist yet), otherwise updates it only while it is at the version before.
    /// Throws <see cref="KeyVersionConflictException"/> (the transaction rolled back) when the key is at another version.
    /// </summary>
    public static async Task WriteKeyAsync(DbConnection connection, DbTransaction transaction, KeyRecord key)
    {
        var id = new { key.Scope.AccountId, key.Scope.Region, key.KeyId };

        var written = await connection.ExecuteAsync(key.Version == 1 ? InsertKey : UpdateKey, KeyRow.From(key), transaction);
        if (written != 1)
        {
            throw await ConflictAsync(connection, transaction, KeyVersion.Of(key), key.Version - 1);
        }

        foreach (var material in key.Materials)
        {
            await connection.ExecuteAsync(InsertMaterial, MaterialParameters(key, material), transaction);
        }

        // The unexpired import parameters are exactly the record's: rows of expired ones go, new ones come.
        await connection.ExecuteAsync(DeleteImportParametersOfKey, id, transaction);
        foreach (var parameters in key.ImportParameters)
        {
            await connection.ExecuteAsync(InsertImportParameters, ImportParametersParameters(key, parameters), transaction);
        }

        await connection.ExecuteAsync(DeleteTagsOfKey, id, transaction);
        for (var position = 0; position < key.Tags.Length; position++)
        {
            var tag = key.Tags[position];
            await connection.ExecuteAsync(InsertTag, new { id.AccountId, id.Region, id.KeyId, position, tag.Key, tag.Value }, transaction);
        }
    }

    /// <summary>The error for a write that found <paramref name="key"/> at another version than <paramref name="expected"/>; the transaction is rolled back.</summary>
    public static async Task<KeyVersionConflictException> ConflictAsync(DbConnection connection, DbTransaction transaction, KeyVersion key, long expected)
    {
        var stored = await StoredVersionAsync(connection, transaction, key);
        await transaction.RollbackAsync(CancellationToken.None);
        return new KeyVersionConflictException(key.Scope, key.KeyId, expected, stored);
    }

    /// <summary>The version the store holds of <paramref name="key"/>; null when it holds no such key.</summary>
    public static Task<long?> StoredVersionAsync(DbConnection connection, DbTransaction transaction, KeyVersion key) =>
        connection.QuerySingleOrDefaultAsync<long?>(SelectVersion, new { key.Scope.AccountId, key.Scope.Region, key.KeyId }, transaction);

    internal static DateTimeOffset FromMillis(long millis) => DateTimeOffset.FromUnixTimeMilliseconds(millis);

    internal sealed record KeyRow(
        string AccountId, string Region, string KeyId, string Description, string KeySpec, string KeyUsage, string Origin,
        string KeyManager, string KeyState, long CreationDate, long? DeletionDate, long? PendingWindowDays, long MultiRegion,
        string Policy, long CurrentMaterialVersion, long Version, long RotationEnabled, long? RotationPeriodDays, long? NextRotationDate,
        string? ImportCheckValue, long ImportPresent, string? ImportExpirationModel, long? ImportValidTo, string? ImportDescription, string? ImportStateAfter,
        string? PrimaryRegion, string? SettledState)
    {
        public static KeyRow From(KeyRecord key) => new(
            key.Scope.AccountId, key.Scope.Region, key.KeyId, key.Description, key.KeySpec.ToWire(), key.KeyUsage.ToWire(),
            key.Origin.ToWire(), key.KeyManager.ToWire(), key.KeyState.ToWire(), key.CreationDate.ToUnixTimeMilliseconds(),
            key.DeletionDate?.ToUnixTimeMilliseconds(), key.PendingDeletionWindowInDays, key.MultiRegion ? 1 : 0, key.Policy,
            key.CurrentMaterialVersion, key.Version, key.RotationEnabled ? 1 : 0, key.RotationPeriodInDays, key.NextRotationDate?.ToUnixTimeMilliseconds(),
            key.Import?.CheckValue, key.Import?.Present == true ? 1 : 0, key.Import?.ExpirationModel, key.Import?.ValidTo?.ToUnixTimeMilliseconds(),
            key.Import?.Description, key.Import?.StateAfterImport.ToWire(), key.PrimaryRegion, key.SettledState?.ToWire());

        public KeyRecord ToRecord(IEnumerable<MaterialRow> materials, IEnumerable<TagRow> tags) => new()
        {
            Scope = new KeyScope(AccountId, Region),
            KeyId = KeyId,
            Description = Description,
            KeySpec = Parse<Generated.KeySpec>(KeySpec, KeySpecWire.TryParse),
            KeyUsage = Parse<KeyUsageType>(KeyUsage, KeyUsageTypeWire.TryParse),
            Origin = Parse<OriginType>(Origin, OriginTypeWire.TryParse),
            KeyManager = Parse<KeyManagerType>(KeyManager, KeyManagerTypeWire.TryParse),
            KeyState = Parse<Generated.KeyState>(KeyState, KeyStateWire.TryParse),
            CreationDate = FromMillis(CreationDate),
            DeletionDate = DeletionDate is { } d ? FromMillis(d) : null,
            PendingDeletionWindowInDays = (int?)PendingWindowDays,
            MultiRegion = MultiRegion != 0,
            Policy = Policy,
            CurrentMaterialVersion = (int)CurrentMaterialVersion,
            Version = Version,
            RotationEnabled = RotationEnabled != 0,
            RotationPeriodInDays = (int?)RotationPeriodDays,
            NextRotationDate = NextRotationDate is { } next ? FromMillis(next) : null,
            Materials = [.. materials.Select(m => new KeyMaterialVersion((int)m.Version, m.MaterialId, m.HsmLabel, FromMillis(m.CreatedAt), m.RotationType))],
            Tags = [.. tags.Select(t => new KeyTag(t.TagKey, t.TagValue))],
            PrimaryRegion = PrimaryRegion,
            SettledState = SettledState is null ? null : Parse<Generated.KeyState>(SettledState, KeyStateWire.TryParse),
            Import = ImportCheckValue is null
                ? null
                : new ImportedMaterial(
                    ImportCheckValue, ImportPresent != 0, ImportExpirationModel, ImportValidTo is { } validTo ? FromMillis(validTo) : null,
                    ImportDescription, Parse<Generated.KeyState>(ImportStateAfter ?? "Enabled", KeyStateWire.TryParse)),
        };
    }

    internal delegate bool TryParseWire<T>(string? value, out T result);

    internal static T Parse<T>(string value, TryParseWire<T> tryParse) =>
        tryParse(value, out var result) ? result : throw new DataException($"Stored value '{value}' is not a valid {typeof(T).Name}.");

    internal sealed record MaterialRow(string AccountId, string Region, string KeyId, long Version, string MaterialId, string HsmLabel, long CreatedAt, string? RotationType);

    internal sealed record ImportParametersRow(
        string AccountId, string Region, string KeyId, string TokenId, string HsmLabel, string WrappingKeySpec, string WrappingAlgorithm, long CreatedAt, long ValidTo)
    {
        public ImportParameters ToRecord() => new(TokenId, HsmLabel, WrappingKeySpec, WrappingAlgorithm, FromMillis(CreatedAt), FromMillis(ValidTo));
    }

    internal sealed record TagRow(string AccountId, string Region, string KeyId, string TagKey, string TagValue);

    internal sealed record GrantRow(
        string AccountId, string Region, string KeyId, string GrantId, string? Name, string? GranteePrincipal, string? GranteeServicePrincipal,
        string? RetiringPrincipal, string? RetiringServicePrincipal, string Operations, string? Constraints, string IssuingAccount, long CreationDate)
    {
        public static GrantRow From(KeyScope scope, string keyId, GrantRecord grant) => new(
            scope.AccountId, scope.Region, keyId, grant.GrantId, grant.Name, grant.GranteePrincipal, grant.GranteeServicePrincipal,
            grant.RetiringPrincipal, grant.RetiringServicePrincipal, string.Join(',', grant.Operations.Select(o => o.ToWire())),
            ConstraintsJson(grant), grant.IssuingAccount, grant.CreationDate.ToUnixTimeMilliseconds());

        public static ImmutableSortedDictionary<string, GrantRecord> ToGrants(IEnumerable<GrantRow> rows)
        {
            var list = rows.Select(r => r.ToRecord()).ToList();
            return list.Count == 0 ? KeyRecord.NoGrants : KeyRecord.NoGrants.AddRange(list.Select(g => KeyValuePair.Create(g.GrantId, g)));
        }

        private GrantRecord ToRecord()
        {
            var constraints = ReadConstraints();
            return new GrantRecord
            {
                GrantId = GrantId,
                Name = Name,
                GranteePrincipal = GranteePrincipal,
                GranteeServicePrincipal = GranteeServicePrincipal,
                RetiringPrincipal = RetiringPrincipal,
                RetiringServicePrincipal = RetiringServicePrincipal,
                Operations = [.. Operations.Split(',').Select(o => Parse<GrantOperation>(o, GrantOperationWire.TryParse))],
                Constraint = constraints.Constraint,
                SourceArn = constraints.SourceArn,
                IssuingAccount = IssuingAccount,
                CreationDate = FromMillis(CreationDate),
            };
        }

        /// <summary>
        /// The grant's constraints from the stored JSON. A value that is not exactly the stored shape throws: loading a
        /// grant without a constraint it was issued with would make it wider than it is.
        /// </summary>
        private (GrantConstraint? Constraint, string? SourceArn) ReadConstraints()
        {
            if (Constraints is null)
            {
                return (null, null);
            }

            StoredGrantConstraints stored;
            try
            {
                stored = JsonSerializer.Deserialize(Constraints, StorageJsonContext.Default.StoredGrantConstraints)
                    ?? throw UnknownShape("it is JSON null");
            }
            catch (JsonException e)
            {
                throw UnknownShape(e.Message, e);
            }

            switch (stored)
            {
                case { Kind: null, Pairs: null }:
                    return (null, stored.SourceArn);
                case { Kind: null }:
                    throw UnknownShape("it has Pairs but no Kind");
                case { Pairs: null }:
                    throw UnknownShape($"Kind {stored.Kind} has no Pairs");
            }

            // Exactly a name the writer writes (GrantConstraintKind.ToString()): Enum.Parse would also take numbers.
            if (!Enum.GetNames<GrantConstraintKind>().Contains(stored.Kind, StringComparer.Ordinal))
            {
                throw UnknownShape($"'{stored.Kind}' is not a GrantConstraintKind");
            }

            if (stored.Pairs.Any(pair => pair.Value is null))
            {
                throw UnknownShape("a pair has a null value");
            }

            return (GrantConstraint.Of(Enum.Parse<GrantConstraintKind>(stored.Kind), stored.Pairs), stored.SourceArn);
        }

        private DataException UnknownShape(string reason, Exception? inner = null) => new(
            $"Grant {GrantId} on key {KeyId} (account {AccountId}, region {Region}) has stored constraints that are not in "
            + $"the shape this version reads ({reason}): {Constraints}. The grant would load wider than it was issued, so "
            + "the store refuses to load; fix or delete the grants row.",
            inner);

        private static string? ConstraintsJson(GrantRecord grant)
        {
            if (grant.Constraint is null && grant.SourceArn is null)
            {
                return null;
            }

            var stored = new StoredGrantConstraints(
                grant.Constraint?.Kind.ToString(),
                grant.Constraint?.Pairs.ToDictionary(StringComparer.Ordinal),
                grant.SourceArn);
            return JsonSerializer.Serialize(stored, StorageJsonContext.Default.StoredGrantConstraints);
        }
    }

    /// <summary>An entry of the change feed to append: a key, an alias, or (all NULL) everything.</summary>
    internal sealed record ChangeRow(string? AccountId, string? Region, string? KeyId, string? AliasName)
    {
        public static readonly ChangeRow Everything = new(null, null, null, null);

        public static ChangeRow Key(KeyVersion key) => new(key.Scope.AccountId, key.Scope.Region, key.KeyId, null);

        public static ChangeRow Key(KeyRecord key) => new(key.Scope.AccountId, key.Scope.Region, key.KeyId, null);

        public static ChangeRow Alias(KeyScope scope, string aliasName) => new(scope.AccountId, scope.Region, null, aliasName);
    }

    /// <summary>
    /// An entry of the change feed as read, with the lowest number the feed held at the time. Properties rather than a
    /// constructor: SQLite gives no column type for <c>First</c> (an expression) when there are no rows, and Dapper
    /// matches constructors by the reader's column types.
    /// </summary>
    internal sealed class ChangeReadRow
    {
        public long Sequence { get; init; }

        public string? AccountId { get; init; }

        public string? Region { get; init; }

        public string? KeyId { get; init; }

        public string? AliasName { get; init; }

        public long First { get; init; }
    }

    internal sealed record AliasRow(string AccountId, string Region, string AliasName, string TargetKeyId, long CreationDate, long LastUpdatedDate);
}
