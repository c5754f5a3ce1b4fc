using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using Amazon.Runtime;
using KmsEmulator.Api.Hosting;

namespace KmsEmulator.EndToEnd.Tests;

/// <summary>
/// The HTTPS listener on a loopback port: the official SDK trusting the CA the emulator generated, TLS 1.2 and 1.3 only,
/// HTTP/2 by ALPN, the certificate files kept across a restart, aws:SecureTransport and the audit record's tlsDetails.
/// </summary>
public sealed class TlsTests : IAsyncLifetime
{
    private EmulatorHost _host = null!;

    public async Task InitializeAsync() => _host = await EmulatorHost.StartNewAsync(EmulatorHost.TlsHostArgs);

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private string HttpsUrl => _host.HttpsUrl ?? throw new InvalidOperationException("The HTTPS listener is off.");

    private string CaPath => Path.Combine(_host.DataDir, "tls", LocalCertificateAuthority.CaCertificateFile);

    private X509Certificate2 Ca => X509Certificate2.CreateFromPem(File.ReadAllText(CaPath));

    [Fact]
    public async Task The_SDK_trusting_the_generated_CA_encrypts_and_decrypts_over_HTTPS()
    {
        Assert.StartsWith("https://127.0.0.1:", HttpsUrl, StringComparison.Ordinal);
        using var kms = CreateHttpsClient();

        var keyId = (await kms.CreateKeyAsync(new CreateKeyRequest { Description = "over TLS" })).KeyMetadata.KeyId;
        var encrypted = await kms.EncryptAsync(new EncryptRequest { KeyId = keyId, Plaintext = Blob.Of("secret over TLS") });
        var decrypted = await kms.DecryptAsync(new DecryptRequest { CiphertextBlob = Blob.Copy(encrypted.CiphertextBlob) });

        Assert.Equal("secret over TLS", Blob.Text(decrypted.Plaintext));
        Assert.Equal(keyId, (await _host.CreateClient().DescribeKeyAsync(new DescribeKeyRequest { KeyId = keyId })).KeyMetadata.KeyId);
    }

    [Fact]
    public async Task An_SDK_client_that_does_not_trust_the_CA_is_refused()
    {
        using var kms = EmulatorHost.CreateClient(HttpsUrl);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => kms.ListKeysAsync(new ListKeysRequest()));

        Assert.True(Causes(error).Any(e => e is AuthenticationException), error.ToString());
    }

    [Fact]
    public async Task A_TLS_1_1_ClientHello_is_answered_with_a_protocol_version_alert()
    {
        // Written by hand, so that the client's own TLS library (which may no longer offer TLS 1.1) plays no part: the
        // server itself must refuse.
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, new Uri(HttpsUrl).Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Tls11ClientHello());

        var header = new byte[5];
        await stream.ReadExactlyAsync(header);
        Assert.Equal(21, header[0]); // an alert record, not a ServerHello (22)
        var body = new byte[(header[3] << 8) | header[4]];
        await stream.ReadExactlyAsync(body);
        Assert.Equal(2, body[0]); // fatal
        Assert.Equal(70, body[1]); // protocol_version
    }

    [Fact]
    public async Task A_client_limited_to_TLS_1_1_cannot_connect()
    {
#pragma warning disable SYSLIB0039 // TLS 1.1 is what the test offers, to see it refused.
        await Assert.ThrowsAnyAsync<Exception>(() => HandshakeAsync(SslProtocols.Tls11));
#pragma warning restore SYSLIB0039
    }

    [Fact]
    public void The_listener_allows_TLS_1_2_and_1_3_only()
    {
        Assert.Equal(SslProtocols.Tls12 | SslProtocols.Tls13, TlsOptions.Protocols);
    }

    [Theory]
    [InlineData(SslProtocols.Tls12)]
    [InlineData(SslProtocols.Tls13)]
    public async Task A_client_limited_to_one_allowed_version_connects_with_it(SslProtocols protocol)
    {
        var (negotiated, _) = await HandshakeAsync(protocol);

        Assert.Equal(protocol, negotiated);
    }

    [Fact]
    public async Task HTTP_2_is_negotiated_on_the_TLS_listener()
    {
        using var http = new HttpClient(TrustingHandler())
        {
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };

        using var response = await http.GetAsync(new Uri(new Uri(HttpsUrl), "/health"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpVersion.Version20, response.Version);
    }

    [Fact]
    public async Task The_generated_certificate_names_localhost_and_both_loopback_addresses_and_its_files_are_the_owners_only()
    {
        var (_, served) = await HandshakeAsync(SslProtocols.Tls13);

        var names = served.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Equal(new[] { "localhost" }, names.EnumerateDnsNames());
        Assert.Equal(new[] { IPAddress.Loopback, IPAddress.IPv6Loopback }, names.EnumerateIPAddresses());
        Assert.Equal(Ca.Subject, served.Issuer);
        if (!OperatingSystem.IsWindows())
        {
            AssertOwnerOnly(Path.GetDirectoryName(CaPath)!);
        }
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static void AssertOwnerOnly(string directory)
    {
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(directory));
        Assert.All(Directory.GetFiles(directory), file => Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file)));
        Assert.Equal(4, Directory.GetFiles(directory).Length);
    }

    [Fact]
    public async Task A_restart_reuses_the_CA_and_the_server_certificate()
    {
        var caBefore = await File.ReadAllTextAsync(CaPath);
        var (_, servedBefore) = await HandshakeAsync(SslProtocols.Tls13);

        _host = await _host.RestartAsync();

        Assert.Equal(caBefore, await File.ReadAllTextAsync(CaPath));
        var (_, servedAfter) = await HandshakeAsync(SslProtocols.Tls13);
        Assert.Equal(servedBefore.Thumbprint, servedAfter.Thumbprint);
        using var kms = CreateHttpsClient();
        Assert.NotNull((await kms.ListKeysAsync(new ListKeysRequest())).Keys);
    }

    [Fact]
    public async Task A_policy_denying_Encrypt_without_secure_transport_denies_over_HTTP_and_allows_over_HTTPS()
    {
        const string policy = """
            {"Version":"2012-10-17","Statement":[
              {"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
              {"Sid":"NoPlainHttp","Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*",
               "Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}
            """;
        using var overHttp = _host.CreateClient();
        using var overHttps = CreateHttpsClient();
        var keyId = (await overHttp.CreateKeyAsync(new CreateKeyRequest { Policy = policy })).KeyMetadata.KeyId;

        var denied = await KmsAssert.ErrorAsync(() => overHttp.EncryptAsync(new EncryptRequest { KeyId = keyId, Plaintext = Blob.Of("x") }), "AccessDeniedException");
        Assert.Contains("explicit deny", denied.Message, StringComparison.Ordinal);

        var encrypted = await overHttps.EncryptAsync(new EncryptRequest { KeyId = keyId, Plaintext = Blob.Of("x") });
        Assert.Equal("x", Blob.Text((await overHttp.DecryptAsync(new DecryptRequest { CiphertextBlob = encrypted.CiphertextBlob })).Plaintext));
    }

    [Fact]
    public async Task The_audit_record_of_an_HTTPS_call_has_tlsDetails_and_that_of_an_HTTP_call_has_none()
    {
        using var overHttps = CreateHttpsClient();
        using var overHttp = _host.CreateClient();
        var overTls = await overHttps.ListKeysAsync(new ListKeysRequest());
        var plain = await overHttp.ListKeysAsync(new ListKeysRequest());

        var records = await _host.FlushAndReadAsync();

        var tls = records.ByRequestId(overTls.ResponseMetadata.RequestId)["tlsDetails"]!.AsObject();
        Assert.Contains((string?)tls["tlsVersion"], new[] { "TLSv1.2", "TLSv1.3" });
        Assert.StartsWith("TLS_", (string?)tls["cipherSuite"], StringComparison.Ordinal);
        Assert.Equal(new Uri(HttpsUrl).Authority, (string?)tls["clientProvidedHostHeader"]);
        Assert.False(records.ByRequestId(plain.ResponseMetadata.RequestId).ContainsKey("tlsDetails"));
    }

    [Fact]
    public async Task The_HTTP_listener_can_be_turned_off()
    {
        await using var httpsOnly = await EmulatorHost.StartNewAsync([.. EmulatorHost.TlsHostArgs, "--Kms:Http:Enabled=false"]);

        Assert.Equal(string.Empty, httpsOnly.Url);
        Assert.NotNull(httpsOnly.HttpsUrl);
    }

    [Theory]
    [InlineData("pem")]
    [InlineData("pem-with-key-inside")]
    [InlineData("pfx")]
    public async Task A_configured_certificate_is_served_instead_of_a_generated_one(string form)
    {
        var directory = Path.Combine(Path.GetTempPath(), "kmsemu-cert-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(directory);
        try
        {
            using var key = System.Security.Cryptography.RSA.Create(2048);
            var request = new CertificateRequest("CN=configured.test", key, System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.RSASignaturePadding.Pkcs1);
            using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(30));
            var certificatePath = Path.Combine(directory, "server.pem");
            var keyPath = Path.Combine(directory, "server.key");
            string[] args = form switch
            {
                "pem" => [$"--Kms:Tls:CertificatePath={certificatePath}", $"--Kms:Tls:KeyPath={keyPath}"],
                "pem-with-key-inside" => [$"--Kms:Tls:CertificatePath={certificatePath}"],
                _ => [$"--Kms:Tls:PfxPath={Path.Combine(directory, "server.pfx")}", "--Kms:Tls:PfxPassword=pfx-password"],
            };
            await File.WriteAllTextAsync(certificatePath, certificate.ExportCertificatePem() + "\n" + (form == "pem-with-key-inside" ? key.ExportPkcs8PrivateKeyPem() : string.Empty));
            await File.WriteAllTextAsync(keyPath, key.ExportRSAPrivateKeyPem());
            await File.WriteAllBytesAsync(Path.Combine(directory, "server.pfx"), certificate.Export(X509ContentType.Pkcs12, "pfx-password"));

            await using var host = await EmulatorHost.StartNewAsync([.. EmulatorHost.TlsHostArgs, .. args]);

            using var tcp = new TcpClient();
            await tcp.ConnectAsync(IPAddress.Loopback, new Uri(host.HttpsUrl!).Port);
            await using var tls = new SslStream(tcp.GetStream());
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "configured.test",
                // Only which certificate is served matters here; its trust is the other tests' subject.
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
            });
            Assert.Equal(certificate.Thumbprint, new X509Certificate2(tls.RemoteCertificate!).Thumbprint);
            Assert.False(Directory.Exists(Path.Combine(host.DataDir, "tls")));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>An SDK client for the HTTPS listener whose HTTP client trusts the emulator's CA (and nothing else).</summary>
    private AmazonKeyManagementServiceClient CreateHttpsClient() =>
        new(
            new BasicAWSCredentials("AKIAIOSFODNN7EXAMPLE", EmulatorHost.DummySecret),
            new AmazonKeyManagementServiceConfig
            {
                ServiceURL = HttpsUrl,
                AuthenticationRegion = Accounts.DefaultRegion,
                MaxErrorRetry = 0,
                HttpClientFactory = new TrustingHttpClientFactory(this),
            });

    private SocketsHttpHandler TrustingHandler() => new() { SslOptions = new SslClientAuthenticationOptions { CertificateChainPolicy = TrustOnlyCa() } };

    private X509ChainPolicy TrustOnlyCa()
    {
        var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        policy.CustomTrustStore.Add(Ca);
        return policy;
    }

    /// <summary>A raw TLS handshake limited to <paramref name="protocol"/>, validating the server against the CA alone.</summary>
    private async Task<(SslProtocols Negotiated, X509Certificate2 Served)> HandshakeAsync(SslProtocols protocol)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, new Uri(HttpsUrl).Port);
        await using var tls = new SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            EnabledSslProtocols = protocol,
            CertificateChainPolicy = TrustOnlyCa(),
        });
        return (tls.SslProtocol, new X509Certificate2(tls.RemoteCertificate!));
    }

    private static IEnumerable<Exception> Causes(Exception error)
    {
        for (Exception? e = error; e is not null; e = e.InnerException)
        {
            yield return e;
        }
    }

    /// <summary>A TLS 1.1 ClientHello with a few TLS 1.0/1.1 cipher suites and no extensions.</summary>
    private static byte[] Tls11ClientHello()
    {
        byte[] suites = [0xC0, 0x13, 0xC0, 0x14, 0x00, 0x2F, 0x00, 0x35];
        var hello = new List<byte> { 0x03, 0x02 }; // client_version TLS 1.1
        hello.AddRange(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        hello.Add(0); // session id
        hello.AddRange([0, (byte)suites.Length]);
        hello.AddRange(suites);
        hello.AddRange([1, 0]); // compression: null
        var handshake = new List<byte> { 1, 0, (byte)(hello.Count >> 8), (byte)hello.Count };
        handshake.AddRange(hello);
        var record = new List<byte> { 22, 0x03, 0x02, (byte)(handshake.Count >> 8), (byte)handshake.Count };
        record.AddRange(handshake);
        return [.. record];
    }

    private sealed class TrustingHttpClientFactory(TlsTests tests) : HttpClientFactory
    {
        public override HttpClient CreateHttpClient(IClientConfig clientConfig) => new(tests.TrustingHandler());
    }
}
