using System.Text.Json;
using System.Text.RegularExpressions;
using KmsEmulator.Api.Hosting;
using Microsoft.AspNetCore.Http;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// docker/Dockerfile and docker/compose.yaml cannot be built here (no Docker engine on the test machines), so their
/// facts are checked against the code: the start script, the published DLL, the port, the data volume and the health
/// check must be the ones the emulator really uses.
/// </summary>
public sealed partial class DockerFilesTests
{
    private static readonly string Dockerfile = File.ReadAllText(Path.Combine(RepositoryRoot.Path, "docker", "Dockerfile"));
    private static readonly string Compose = File.ReadAllText(Path.Combine(RepositoryRoot.Path, "docker", "compose.yaml"));

    [Fact]
    public void The_docker_files_name_what_the_code_uses()
    {
        Assert.Empty(Problems(Dockerfile, Compose));
    }

    [Theory]
    [InlineData("EXPOSE 4599 4600", "EXPOSE 4599")]
    [InlineData("\"--Kms:Tls:Address\", \"0.0.0.0\"", "\"--Kms:Tls:Address\", \"127.0.0.1\"")]
    [InlineData("http://127.0.0.1:4599/health", "http://127.0.0.1:4599/healthz")]
    [InlineData("\"--data-dir\", \"/data\"", "\"--data-dir\", \"/var/kms\"")]
    [InlineData("ENV KMS_EMULATOR_APP=/app/KmsEmulator.Api.dll", "ENV KMS_EMULATOR_APP=/app/KmsEmulator.dll")]
    [InlineData("[\"/app/tools/run.sh\"", "[\"/app/tools/start.sh\"")]
    public void A_changed_fact_in_the_dockerfile_is_caught(string fact, string changed)
    {
        Assert.Contains(fact, Dockerfile, StringComparison.Ordinal);
        Assert.NotEmpty(Problems(Dockerfile.Replace(fact, changed, StringComparison.Ordinal), Compose));
    }

    [Theory]
    [InlineData("\"127.0.0.1:4599:4599\"", "\"4599:4599\"")]
    [InlineData("\"127.0.0.1:4600:4600\"", "\"0.0.0.0:4600:4600\"")]
    [InlineData("kms-data:/data", "kms-data:/srv")]
    [InlineData("dockerfile: docker/Dockerfile", "dockerfile: docker/Containerfile")]
    public void A_changed_fact_in_the_compose_file_is_caught(string fact, string changed)
    {
        Assert.Contains(fact, Compose, StringComparison.Ordinal);
        Assert.NotEmpty(Problems(Dockerfile, Compose.Replace(fact, changed, StringComparison.Ordinal)));
    }

    private static List<string> Problems(string dockerfile, string compose)
    {
        var problems = new List<string>();
        var port = new Uri(KmsEmulatorApp.DefaultUrl).Port;
        var dll = typeof(KmsEmulatorApp).Assembly.GetName().Name + ".dll";

        // The image starts the emulator with tools/run.sh (README's run command), which runs the DLL KMS_EMULATOR_APP names.
        var entrypoint = Instruction(dockerfile, "ENTRYPOINT") is { } json ? JsonSerializer.Deserialize<string[]>(json) ?? [] : [];
        if (entrypoint is not ["/app/tools/run.sh", ..])
        {
            problems.Add($"ENTRYPOINT does not start /app/tools/run.sh: {string.Join(' ', entrypoint)}");
        }

        if (!Regex.IsMatch(dockerfile, @"^COPY tools/run\.sh tools/ensure-softhsm\.sh /app/tools/$", RegexOptions.Multiline))
        {
            problems.Add("the image does not copy tools/run.sh and tools/ensure-softhsm.sh to /app/tools/");
        }

        var script = File.ReadAllText(Path.Combine(RepositoryRoot.Path, "tools", "run.sh"));
        if (!script.Contains("exec dotnet \"$KMS_EMULATOR_APP\" \"$@\"", StringComparison.Ordinal))
        {
            problems.Add("tools/run.sh does not run the DLL that KMS_EMULATOR_APP names");
        }

        if (Instruction(dockerfile, "ENV") != $"KMS_EMULATOR_APP=/app/{dll}" || !dockerfile.Contains("RUN tools/publish.sh /app", StringComparison.Ordinal))
        {
            problems.Add($"KMS_EMULATOR_APP does not name the published /app/{dll}");
        }

        // Ports: the HTTP and HTTPS ports the emulator listens on by default, exposed and listened on at the container's
        // interface; the HTTP one is health-checked.
        var tlsPort = new TlsOptions().Port;
        if (Instruction(dockerfile, "EXPOSE") != $"{port} {tlsPort}")
        {
            problems.Add($"EXPOSE is not {port} {tlsPort}");
        }

        if (Argument(entrypoint, "--urls") != $"http://0.0.0.0:{port}")
        {
            problems.Add($"the entry point does not listen on port {port} of the container's interface");
        }

        if (Argument(entrypoint, "--Kms:Tls:Address") != "0.0.0.0")
        {
            problems.Add($"the entry point does not put the HTTPS listener (port {tlsPort}) on the container's interface");
        }

        // Health check: curl on the port, at a path /health answers.
        if (HealthUrl().Match(dockerfile) is not { Success: true } health)
        {
            problems.Add("HEALTHCHECK does not curl an http://127.0.0.1 URL");
        }
        else
        {
            var url = new Uri(health.Groups["url"].Value);
            var request = new DefaultHttpContext().Request;
            request.Method = HttpMethods.Get;
            request.Path = url.AbsolutePath;
            if (url.Port != port || !HealthEndpoint.Matches(request))
            {
                problems.Add($"HEALTHCHECK checks {url}, which is not the emulator's /health on port {port}");
            }
        }

        // Data: the volume is the data directory, owned by the non-root user the image runs as.
        var volume = Instruction(dockerfile, "VOLUME");
        if (volume is null || Argument(entrypoint, "--data-dir") != volume)
        {
            problems.Add($"VOLUME {volume} is not the entry point's --data-dir {Argument(entrypoint, "--data-dir")}");
        }

        if (Instruction(dockerfile, "USER") is not { } user || user == "root" || !dockerfile.Contains($"chown {user} {volume}", StringComparison.Ordinal))
        {
            problems.Add("the image does not run as a non-root user that owns the data volume");
        }

        // Compose: builds this Dockerfile from the repository root, publishes the port on the host's loopback only, and
        // keeps the data directory in a named volume.
        if (!compose.Contains("context: ..", StringComparison.Ordinal) || !compose.Contains("dockerfile: docker/Dockerfile", StringComparison.Ordinal))
        {
            problems.Add("compose does not build docker/Dockerfile from the repository root");
        }

        foreach (var published in new[] { port, tlsPort })
        {
            if (!compose.Contains($"- \"127.0.0.1:{published}:{published}\"", StringComparison.Ordinal))
            {
                problems.Add($"compose does not publish port {published} on 127.0.0.1");
            }
        }

        if (!Regex.IsMatch(compose, $@"^\s+- [a-z0-9-]+:{Regex.Escape(volume ?? "?")}$", RegexOptions.Multiline))
        {
            problems.Add($"compose mounts no volume at {volume}");
        }

        return problems;
    }

    /// <summary>The argument of the last Dockerfile instruction of this name (the one that counts), without continuation lines.</summary>
    private static string? Instruction(string dockerfile, string name) =>
        Regex.Matches(dockerfile, $@"^{name} (?<value>.+)$", RegexOptions.Multiline).LastOrDefault()?.Groups["value"].Value.Trim();

    private static string? Argument(string[] arguments, string name) =>
        Array.IndexOf(arguments, name) is var at && at >= 0 && at + 1 < arguments.Length ? arguments[at + 1] : null;

    [GeneratedRegex(@"^\s+CMD curl -fsS (?<url>http://127\.0\.0\.1:[0-9]+/\S*)", RegexOptions.Multiline)]
    private static partial Regex HealthUrl();
}
