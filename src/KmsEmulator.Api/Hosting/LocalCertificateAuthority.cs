using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace KmsEmulator.Api.Hosting;

/// <summary>
/// The emulator's own certificate authority for its HTTPS listener: on first start an ECDSA P-256 CA and a server
/// certificate for localhost, 127.0.0.1 and ::1 signed by it, kept as PEM files in one folder (0700, files 0600). Later
/// starts reuse both; the server certificate is replaced, signed by the same CA, once it has less than the renewal margin
/// left (checked at start and on each TLS handshake, on the injected clock). Clients trust <see cref="CaCertificatePath"/>.
/// The CA's private key is read from its file only while a server certificate is signed (docs/tls.md says why it is a
/// 0600 file and not an HSM object).
/// </summary>
public sealed class LocalCertificateAuthority
{
    public const string CaCertificateFile = "ca.pem";
    public const string CaKeyFile = "ca.key.pem";
    public const string ServerCertificateFile = "server.pem";
    public const string ServerKeyFile = "server.key.pem";

    /// <summary>How long a generated server certificate is valid (clients such as Apple's cap user-trusted ones near this).</summary>
    public static readonly TimeSpan ServerLifetime = TimeSpan.FromDays(365);

    /// <summary>How long the generated CA is valid.</summary>
    public static readonly TimeSpan CaLifetime = TimeSpan.FromDays(3650);

    /// <summary>How long a failed renewal waits before the next attempt.</summary>
    private static readonly TimeSpan RetryAfterFailure = TimeSpan.FromHours(1);

    /// <summary>How far back a new certificate's NotBefore is set, for clients whose clocks are a little behind.</summary>
    private static readonly TimeSpan BackDate = TimeSpan.FromMinutes(5);

    private const UnixFileMode OwnerOnlyDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly string _directory;
    private readonly TimeProvider _clock;
    private readonly TimeSpan _renewBefore;
    private readonly Action<string> _log;
    private readonly Lock _renewal = new();
    private volatile X509Certificate2 _server;
    private long _renewAtUtcTicks; // read without the lock on every handshake: one word, never torn

    private LocalCertificateAuthority(string directory, TimeProvider clock, TimeSpan renewBefore, Action<string> log, X509Certificate2 ca, X509Certificate2 server)
    {
        _directory = directory;
        _clock = clock;
        _renewBefore = renewBefore;
        _log = log;
        CaCertificate = ca;
        _server = server;
        _renewAtUtcTicks = RenewalTime(server, renewBefore).UtcTicks;
    }

    /// <summary>The CA certificate (public part only).</summary>
    public X509Certificate2 CaCertificate { get; private set; }

    /// <summary>The PEM file clients trust (<c>--ca-bundle</c>, <c>AWS_CA_BUNDLE</c>, <c>NODE_EXTRA_CA_CERTS</c>).</summary>
    public string CaCertificatePath => Path.Combine(_directory, CaCertificateFile);

    /// <summary>The server certificate with its private key; a new one when the current one is near its end.</summary>
    public X509Certificate2 ServerCertificate
    {
        get
        {
            if (_clock.GetUtcNow().UtcTicks >= Volatile.Read(ref _renewAtUtcTicks))
            {
                lock (_renewal)
                {
                    if (_clock.GetUtcNow().UtcTicks >= Volatile.Read(ref _renewAtUtcTicks))
                    {
                        try
                        {
                            Renew();
                        }
                        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
                        {
                            // The current certificate stays in use (clients refuse it once it has expired); retried in an hour.
                            _log($"The HTTPS server certificate could not be renewed ({e.Message}); trying again in an hour.");
                            Volatile.Write(ref _renewAtUtcTicks, (_clock.GetUtcNow() + RetryAfterFailure).UtcTicks);
                        }
                    }
                }
            }

            return _server;
        }
    }

    /// <summary>Raised after the server certificate was replaced.</summary>
    public event Action<X509Certificate2>? Renewed;

    /// <summary>Opens the CA in <paramref name="directory"/>, creating the folder, the CA and the server certificate as needed.</summary>
    public static LocalCertificateAuthority OpenOrCreate(string directory, TimeProvider clock, TimeSpan renewBefore, Action<string> log)
    {
        if (renewBefore < TimeSpan.Zero || renewBefore >= ServerLifetime)
        {
            throw new InvalidOperationException($"Kms:Tls:RenewBefore must be between 0 and {ServerLifetime.TotalDays} days, not {renewBefore}.");
        }

        directory = Path.GetFullPath(directory);
        CreateOwnerOnlyDirectory(directory);
        var now = clock.GetUtcNow();

        var ca = TryLoadCa(directory, log);
        if (ca is not null && ca.NotAfter.ToUniversalTime() - renewBefore <= now.UtcDateTime)
        {
            log($"The local CA in {Path.Combine(directory, CaCertificateFile)} expires on {ca.NotAfter.ToUniversalTime():u}: a new CA is made, and clients must trust the new file.");
            ca = null;
        }

        X509Certificate2? server = null;
        if (ca is null)
        {
            ca = CreateCa(directory, now);
            log($"Created a local CA for the HTTPS listener: {Path.Combine(directory, CaCertificateFile)}");
        }
        else
        {
            server = TryLoadServer(directory, ca, now, log);
        }

        if (server is null || RenewalTime(server, renewBefore) <= now)
        {
            server = IssueServerCertificate(directory, ca, now);
            log($"Issued the HTTPS server certificate {Path.Combine(directory, ServerCertificateFile)}, valid until {server.NotAfter.ToUniversalTime():u}");
        }

        return new LocalCertificateAuthority(directory, clock, renewBefore, log, ca, server);
    }

    private void Renew()
    {
        var now = _clock.GetUtcNow();
        if (CaCertificate.NotAfter.ToUniversalTime() - _renewBefore <= now.UtcDateTime)
        {
            _log($"The local CA expires on {CaCertificate.NotAfter.ToUniversalTime():u}: a new CA is made in {CaCertificatePath}, and clients must trust the new file.");
            CaCertificate = CreateCa(_directory, now);
        }

        var server = IssueServerCertificate(_directory, CaCertificate, now);
        _log($"Renewed the HTTPS server certificate, valid until {server.NotAfter.ToUniversalTime():u}");
        _server = server;
        Volatile.Write(ref _renewAtUtcTicks, RenewalTime(server, _renewBefore).UtcTicks);
        Renewed?.Invoke(server);
    }

    private static DateTimeOffset RenewalTime(X509Certificate2 server, TimeSpan renewBefore) =>
        new DateTimeOffset(server.NotAfter.ToUniversalTime(), TimeSpan.Zero) - renewBefore;

    private static X509Certificate2? TryLoadCa(string directory, Action<string> log)
    {
        var certificatePath = Path.Combine(directory, CaCertificateFile);
        var keyPath = Path.Combine(directory, CaKeyFile);
        if (!File.Exists(certificatePath) && !File.Exists(keyPath))
        {
            return null;
        }

        try
        {
            RestrictFile(keyPath);
            RestrictFile(certificatePath);
            // Loading it with its key checks that the two files belong together; only the public part is kept.
            using var withKey = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
            return X509Certificate2.CreateFromPem(File.ReadAllText(certificatePath));
        }
        catch (Exception e) when (e is CryptographicException or IOException or ArgumentException)
        {
            log($"The local CA in {directory} cannot be read ({e.Message}): a new CA is made, and clients must trust the new file.");
            return null;
        }
    }

    private static X509Certificate2? TryLoadServer(string directory, X509Certificate2 ca, DateTimeOffset now, Action<string> log)
    {
        var certificatePath = Path.Combine(directory, ServerCertificateFile);
        var keyPath = Path.Combine(directory, ServerKeyFile);
        if (!File.Exists(certificatePath) || !File.Exists(keyPath))
        {
            return null;
        }

        try
        {
            RestrictFile(keyPath);
            RestrictFile(certificatePath);
            var server = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
            if (!IsIssuedBy(server, ca, now))
            {
                log($"The HTTPS server certificate {certificatePath} is not a valid certificate of the local CA: a new one is issued.");
                server.Dispose();
                return null;
            }

            return server;
        }
        catch (Exception e) when (e is CryptographicException or IOException or ArgumentException)
        {
            log($"The HTTPS server certificate in {directory} cannot be read ({e.Message}): a new one is issued.");
            return null;
        }
    }

    /// <summary>Whether <paramref name="server"/> chains to <paramref name="ca"/> alone and is valid at <paramref name="now"/>.</summary>
    internal static bool IsIssuedBy(X509Certificate2 server, X509Certificate2 ca, DateTimeOffset now)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        chain.ChainPolicy.VerificationTime = now.UtcDateTime;
        chain.ChainPolicy.VerificationTimeIgnored = false;
        return chain.Build(server) && chain.ChainElements.Count == 2 && chain.ChainElements[1].Certificate.RawDataMemory.Span.SequenceEqual(ca.RawDataMemory.Span);
    }

    private static X509Certificate2 CreateCa(string directory, DateTimeOffset now)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        // A distinct name per CA, so that several emulators' CAs trusted side by side are told apart.
        var subject = new X500DistinguishedName($"CN=KmsEmulator local CA {Convert.ToHexString(RandomNumberGenerator.GetBytes(4))}, O=KmsEmulator");
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        using var ca = request.CreateSelfSigned(now - BackDate, now + CaLifetime);

        // The key first: a crash between the two writes leaves a pair that does not match, which the next start replaces.
        WriteOwnerOnly(Path.Combine(directory, CaKeyFile), key.ExportPkcs8PrivateKeyPem());
        WriteOwnerOnly(Path.Combine(directory, CaCertificateFile), ca.ExportCertificatePem() + "\n");
        return X509Certificate2.CreateFromPem(ca.ExportCertificatePem());
    }

    private static X509Certificate2 IssueServerCertificate(string directory, X509Certificate2 ca, DateTimeOffset now)
    {
        using var caWithKey = X509Certificate2.CreateFromPemFile(Path.Combine(directory, CaCertificateFile), Path.Combine(directory, CaKeyFile));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName("CN=localhost, O=KmsEmulator"), key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        names.AddIpAddress(IPAddress.IPv6Loopback);
        request.CertificateExtensions.Add(names.Build(critical: false));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1", "Server Authentication")], critical: false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, includeKeyIdentifier: true, includeIssuerAndSerial: false));

        var notAfter = now + ServerLifetime;
        var caNotAfter = new DateTimeOffset(ca.NotAfter.ToUniversalTime(), TimeSpan.Zero);
        if (notAfter > caNotAfter)
        {
            notAfter = caNotAfter;
        }

        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        using var issued = request.Create(caWithKey, now - BackDate, notAfter, serial);
        WriteOwnerOnly(Path.Combine(directory, ServerKeyFile), key.ExportPkcs8PrivateKeyPem());
        WriteOwnerOnly(Path.Combine(directory, ServerCertificateFile), issued.ExportCertificatePem() + "\n");
        return X509Certificate2.CreateFromPemFile(Path.Combine(directory, ServerCertificateFile), Path.Combine(directory, ServerKeyFile));
    }

    /// <summary>Writes the file through a temporary one created 0600, then moves it into place.</summary>
    private static void WriteOwnerOnly(string path, string text)
    {
        var temporary = path + ".tmp";
        File.Delete(temporary);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = OwnerOnlyFile;
        }

        using (var stream = new FileStream(temporary, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(text);
            writer.Flush();
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }

    private static void RestrictFile(string path)
    {
        if (!OperatingSystem.IsWindows() && File.Exists(path) && File.GetUnixFileMode(path) != OwnerOnlyFile)
        {
            File.SetUnixFileMode(path, OwnerOnlyFile);
        }
    }

    private static void CreateOwnerOnlyDirectory(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
            return;
        }

        if (!Directory.Exists(directory))
        {
            var missing = new Stack<string>();
            for (var path = Path.TrimEndingDirectorySeparator(directory); !Directory.Exists(path); path = Path.GetDirectoryName(path)!)
            {
                missing.Push(path);
            }

            while (missing.TryPop(out var path))
            {
                Directory.CreateDirectory(path, OwnerOnlyDirectory);
            }
        }
        else if (File.GetUnixFileMode(directory) != OwnerOnlyDirectory)
        {
            File.SetUnixFileMode(directory, OwnerOnlyDirectory);
        }
    }
}
