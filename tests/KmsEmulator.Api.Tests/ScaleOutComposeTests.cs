using System.Data.Common;
using KmsEmulator.Api.Hosting;
using YamlDotNet.Core;
using YamlDotNet.Serialization;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// docker/compose.scale-out.yaml cannot be started here (no Docker engine), so what it says is checked against the code:
/// two nodes of the image, both on the PostgreSQL service's database through real settings, sharing one token
/// directory volume, each with its own data volume, published on the host's loopback only.
/// </summary>
public sealed class ScaleOutComposeTests
{
    private static readonly string ComposePath = Path.Combine(RepositoryRoot.Path, "docker", "compose.scale-out.yaml");
    private static readonly string Configuration = File.ReadAllText(Path.Combine(RepositoryRoot.Path, "docs", "configuration.md"));

    [Fact]
    public void The_scale_out_compose_file_runs_two_nodes_on_one_database_and_one_token_directory()
    {
        Assert.Empty(Problems(File.ReadAllText(ComposePath)));
    }

    [Theory]
    [InlineData("Kms__Store__Provider: PostgreSql", "Kms__Store__Provider: Postgres")]
    [InlineData("Kms__Hsm__TokenDirectory: /hsm/tokens", "Kms__Hsm__TokenDirectory: /data/tokens")]
    [InlineData("Host=postgres;", "Host=db;")]
    [InlineData("Password=kms-local-only", "Password=other")]
    [InlineData("      - kms-b-data:/data", "      - kms-a-data:/data")]
    [InlineData("\"127.0.0.1:4601:4599\"", "\"4601:4599\"")]
    [InlineData("Kms__Store__ConnectionString:", "Kms__Store__Connection:")]
    public void A_changed_fact_is_caught(string fact, string changed)
    {
        var compose = File.ReadAllText(ComposePath);
        Assert.Contains(fact, compose, StringComparison.Ordinal);
        Assert.NotEmpty(Problems(compose.Replace(fact, changed, StringComparison.Ordinal)));
    }

    private static List<string> Problems(string yaml)
    {
        var problems = new List<string>();
        var root = (Dictionary<object, object>)new DeserializerBuilder().Build()
            .Deserialize(new MergingParser(new Parser(new StringReader(yaml))))!;
        var services = Map(root, "services");
        var database = services.Values.Select(s => (Dictionary<object, object>)s).FirstOrDefault(s => Text(s, "image")?.StartsWith("postgres:", StringComparison.Ordinal) == true);
        var databaseName = services.FirstOrDefault(s => ReferenceEquals(s.Value, database)).Key as string;
        if (database is null)
        {
            return ["no PostgreSQL service"];
        }

        var databaseEnvironment = Map(database, "environment");
        var nodes = services.Where(s => Text((Dictionary<object, object>)s.Value, "image") == "kms-emulator:local").ToList();
        if (nodes.Count != 2)
        {
            problems.Add($"{nodes.Count} emulator nodes, not 2");
        }

        var tokenVolumes = new HashSet<string>();
        var dataVolumes = new HashSet<string>();
        var hostPorts = new HashSet<string>();
        foreach (var (name, value) in nodes)
        {
            var node = (Dictionary<object, object>)value;
            var environment = Map(node, "environment");
            foreach (var key in environment.Keys.Cast<string>())
            {
                // Environment variables are configuration keys with "__" for ":"; each must be a documented setting.
                var setting = key.Replace("__", ":", StringComparison.Ordinal);
                if (!Configuration.Contains($"| `{setting}` |", StringComparison.Ordinal))
                {
                    problems.Add($"{name}: {key} is not a documented setting");
                }
            }

            if (!Enum.TryParse<StoreProvider>(Text(environment, "Kms__Store__Provider"), out var provider) || provider != StoreProvider.PostgreSql)
            {
                problems.Add($"{name}: the store provider is not PostgreSql");
            }

            var connection = new DbConnectionStringBuilder { ConnectionString = Text(environment, "Kms__Store__ConnectionString") ?? string.Empty };
            if (!Same(connection, "Host", databaseName) || !Same(connection, "Database", Text(databaseEnvironment, "POSTGRES_DB"))
                || !Same(connection, "Username", Text(databaseEnvironment, "POSTGRES_USER")) || !Same(connection, "Password", Text(databaseEnvironment, "POSTGRES_PASSWORD")))
            {
                problems.Add($"{name}: the connection string does not name the {databaseName} service's database, user and password");
            }

            if (!Map(node, "depends_on").ContainsKey(databaseName!))
            {
                problems.Add($"{name}: does not wait for {databaseName}");
            }

            var mounts = List(node, "volumes").Select(v => ((string)v).Split(':')).ToDictionary(m => m[1], m => m[0]);
            var tokenDirectory = Text(environment, "Kms__Hsm__TokenDirectory") ?? string.Empty;
            var tokenMount = mounts.Keys.FirstOrDefault(m => m != "/data" && tokenDirectory.StartsWith(m + "/", StringComparison.Ordinal));
            if (tokenMount is null)
            {
                problems.Add($"{name}: the token directory {tokenDirectory} is on no volume of its own");
            }
            else
            {
                tokenVolumes.Add(mounts[tokenMount]);
            }

            if (!mounts.TryGetValue("/data", out var data) || !dataVolumes.Add(data))
            {
                problems.Add($"{name}: no data volume of its own at /data");
            }

            foreach (var port in List(node, "ports").Cast<string>())
            {
                var parts = port.Split(':');
                if (parts is not ["127.0.0.1", var host, var container] || !hostPorts.Add(host)
                    || container != new Uri(KmsEmulatorApp.DefaultUrl).Port.ToString(System.Globalization.CultureInfo.InvariantCulture)
                    && container != new TlsOptions().Port.ToString(System.Globalization.CultureInfo.InvariantCulture))
                {
                    problems.Add($"{name}: port {port} is not a distinct host port on 127.0.0.1 for the emulator's HTTP or HTTPS port");
                }
            }
        }

        if (tokenVolumes.Count != 1)
        {
            problems.Add($"the nodes do not share one token directory volume ({string.Join(", ", tokenVolumes)})");
        }

        return problems;
    }

    private static bool Same(DbConnectionStringBuilder connection, string keyword, string? expected) =>
        expected is not null && connection.TryGetValue(keyword, out var value) && value as string == expected;

    private static Dictionary<object, object> Map(Dictionary<object, object> map, string key) =>
        map.TryGetValue(key, out var value) && value is Dictionary<object, object> child ? child : [];

    private static List<object> List(Dictionary<object, object> map, string key) =>
        map.TryGetValue(key, out var value) && value is List<object> list ? list : [];

    private static string? Text(Dictionary<object, object> map, string key) => map.TryGetValue(key, out var value) ? value as string : null;
}
