using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using KmsEmulator.Api.Hosting;
using KmsEmulator.Api.Keys;
using KmsEmulator.Api.Protocol;
using KmsEmulator.Hsm;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// An unexpected exception inside a handler: the caller gets HTTP 500 with the AWS JSON 1.1 error
/// <c>{"__type":"KMSInternalException","message":...}</c> naming the request id and nothing of the exception, the
/// exception is logged once, and the server goes on serving. The endpoint runs on Kestrel on a loopback port, as the
/// composition root wires it (request ids, then <see cref="KmsEndpoint"/>); the HSM is a fake whose first
/// GenerateRandom throws.
/// </summary>
public sealed class InternalErrorTests : IAsyncLifetime
{
    /// <summary>Text that must never reach the client: it stands for paths, return codes and SQL in real failures.</summary>
    private const string Secret = "CKR_DEVICE_ERROR in /var/lib/softhsm/tokens/3f1c secret-7f3a";

    private const string GenerateRandom = """{"NumberOfBytes":16}""";

    private readonly LogCollector _logs = new();
    private WebApplication? _app;

    public static TheoryData<string> Failures => ["InvalidOperationException", "HsmException", "SqliteException"];

    private static Exception Failure(string kind) => kind switch
    {
        "InvalidOperationException" => new InvalidOperationException(Secret),
        "HsmException" => new HsmException(HsmErrorKind.Internal, Secret, "CKR_DEVICE_ERROR"),
        "SqliteException" => new SqliteException(Secret, 13),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public async Task An_unexpected_exception_in_a_handler_answers_500_KMSInternalException_without_its_text_and_the_server_keeps_serving(string kind)
    {
        var hsm = new FailingOnceHsm(Failure(kind));
        using var http = await StartAsync(hsm);

        using var failed = await PostAsync(http, "GenerateRandom", GenerateRandom);

        var text = await failed.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode);
        Assert.Equal(AwsJsonResponses.ContentType, failed.Content.Headers.ContentType?.MediaType);
        Assert.Equal("KMSInternalException", Assert.Single(failed.Headers.GetValues(AwsJsonResponses.ErrorTypeHeader)));
        var requestId = Assert.Single(failed.Headers.GetValues(AwsJsonResponses.RequestIdHeader));
        Assert.True(Guid.TryParse(requestId, out _), $"x-amzn-RequestId '{requestId}' is not a UUID.");
        using (var body = JsonDocument.Parse(text))
        {
            Assert.Equal(["__type", "message"], body.RootElement.EnumerateObject().Select(p => p.Name));
            Assert.Equal("KMSInternalException", body.RootElement.GetProperty("__type").GetString());
            Assert.Contains(requestId, body.RootElement.GetProperty("message").GetString(), StringComparison.Ordinal);
        }

        Assert.DoesNotContain("secret-7f3a", text, StringComparison.Ordinal);
        Assert.DoesNotContain("CKR_", text, StringComparison.Ordinal);
        Assert.DoesNotContain(kind, text, StringComparison.Ordinal);
        Assert.DoesNotContain(nameof(FailingOnceHsm), text, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", text, StringComparison.Ordinal);

        // Logged once, with the exception, for the operator; the client saw only the request id.
        var logged = Assert.Single(_logs.Entries, e => e.Level >= LogLevel.Error);
        Assert.Same(hsm.Thrown, logged.Exception);
        Assert.Contains(requestId, logged.Message, StringComparison.Ordinal);

        // The same server answers the same request normally afterwards.
        using var served = await PostAsync(http, "GenerateRandom", GenerateRandom);
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        using var result = JsonDocument.Parse(await served.Content.ReadAsStringAsync());
        Assert.Equal(16, result.RootElement.GetProperty("Plaintext").GetBytesFromBase64().Length);
        Assert.Equal(2, hsm.Calls);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_app is { } app)
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    /// <summary>Kestrel on a free loopback port with the KMS services, a store that must not be used and <paramref name="hsm"/>.</summary>
    private async Task<HttpClient> StartAsync(IKeyMaterialBackend hsm)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders().AddProvider(_logs);
        builder.Services.AddKmsCore()
            .AddSingleton<IKmsStore>(new UnusedStore())
            .AddSingleton(hsm);
        var app = builder.Build();
        app.UseAwsRequestIds();
        var endpoint = app.Services.GetRequiredService<KmsEndpoint>();
        app.Run(endpoint.HandleAsync);
        await app.StartAsync();
        _app = app;
        var url = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        return new HttpClient { BaseAddress = new Uri(url) };
    }

    private static Task<HttpResponseMessage> PostAsync(HttpClient http, string operation, string json)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new StringContent(json, Encoding.UTF8, AwsJsonResponses.ContentType) };
        request.Headers.TryAddWithoutValidation("X-Amz-Target", KmsEndpoint.TargetPrefix + operation);
        return http.SendAsync(request);
    }

    /// <summary>Throws the given exception from the first GenerateRandom, then returns zero bytes as asked.</summary>
    private sealed class FailingOnceHsm(Exception failure) : UnusedHsm
    {
        private int _calls;

        public Exception Thrown => failure;

        public int Calls => Volatile.Read(ref _calls);

        public override ValueTask<byte[]> GenerateRandomAsync(int count, CancellationToken cancellationToken = default) =>
            Interlocked.Increment(ref _calls) == 1 ? ValueTask.FromException<byte[]>(failure) : ValueTask.FromResult(new byte[count]);
    }

    /// <summary>Every log entry of the host, formatted.</summary>
    private sealed class LogCollector : ILoggerProvider
    {
        public ConcurrentQueue<(LogLevel Level, string Message, Exception? Exception)> Entries { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this);

        public void Dispose()
        {
        }

        private sealed class Logger(LogCollector owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                owner.Entries.Enqueue((logLevel, formatter(state, exception), exception));
        }
    }
}
