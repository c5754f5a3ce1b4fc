using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace KmsEmulator.Api.Hosting;

/// <summary>
/// The certificate the HTTPS listener serves: one from configuration (PEM or PFX), or the local CA's server
/// certificate, renewed while the emulator runs. Kestrel gets it through <see cref="Configure"/>.
/// </summary>
public sealed class TlsListener
{
    private readonly LocalCertificateAuthority? _authority;
    private readonly X509Certificate2Collection _chain;
    private X509Certificate2 _certificate;
    private SslStreamCertificateContext _context;

    private TlsListener(X509Certificate2 certificate, X509Certificate2Collection chain, LocalCertificateAuthority? authority)
    {
        _certificate = certificate;
        _chain = chain;
        _authority = authority;
        _context = SslStreamCertificateContext.Create(ForServer(certificate), chain, offline: true);
    }

    /// <summary>The generated CA, or null when the certificate comes from configuration.</summary>
    public LocalCertificateAuthority? Authority => _authority;

    /// <summary>The certificate served now.</summary>
    public X509Certificate2 Certificate => _authority?.ServerCertificate ?? _certificate;

    /// <summary>The certificate named by configuration, or the local CA in the data directory (created on first start).</summary>
    public static TlsListener Create(TlsOptions options, string dataDir, TimeProvider clock, Action<string> log)
    {
        try
        {
            return CreateCore(options, dataDir, clock, log);
        }
        catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or IOException or UnauthorizedAccessException)
        {
            var source = options.PfxPath is { Length: > 0 } ? $"Kms:Tls:PfxPath {options.PfxPath}"
                : options.CertificatePath is { Length: > 0 } ? $"Kms:Tls:CertificatePath {options.CertificatePath}"
                : "the local CA of Kms:Tls:Directory";
            throw new InvalidOperationException($"The HTTPS listener's certificate could not be read from {source}: {e.Message}", e);
        }
    }

    private static TlsListener CreateCore(TlsOptions options, string dataDir, TimeProvider clock, Action<string> log)
    {
        if (options.PfxPath is { Length: > 0 } pfx)
        {
            if (options.CertificatePath is { Length: > 0 })
            {
                throw new InvalidOperationException("Kms:Tls:PfxPath and Kms:Tls:CertificatePath are alternatives: set one of them.");
            }

            var all = X509CertificateLoader.LoadPkcs12CollectionFromFile(Path.GetFullPath(pfx), options.PfxPassword);
            var leaf = all.FirstOrDefault(c => c.HasPrivateKey)
                ?? throw new InvalidOperationException($"{pfx} holds no certificate with a private key (Kms:Tls:PfxPath).");
            var chain = new X509Certificate2Collection(all.Where(c => !ReferenceEquals(c, leaf)).ToArray());
            return Configured(leaf, chain, pfx, log);
        }

        if (options.CertificatePath is { Length: > 0 } certificatePath)
        {
            var full = Path.GetFullPath(certificatePath);
            var keyPath = options.KeyPath is { Length: > 0 } key ? Path.GetFullPath(key) : full;
            var leaf = X509Certificate2.CreateFromPemFile(full, keyPath);
            var chain = new X509Certificate2Collection();
            chain.ImportFromPemFile(full);
            foreach (var same in chain.Where(c => c.Thumbprint == leaf.Thumbprint).ToList())
            {
                chain.Remove(same);
            }

            return Configured(leaf, chain, certificatePath, log);
        }

        if (options.KeyPath is { Length: > 0 })
        {
            throw new InvalidOperationException("Kms:Tls:KeyPath needs Kms:Tls:CertificatePath.");
        }

        var directory = options.Directory is { Length: > 0 } configured ? configured : Path.Combine(Path.GetFullPath(dataDir), "tls");
        var authority = LocalCertificateAuthority.OpenOrCreate(directory, clock, options.RenewBefore, log);
        var listener = new TlsListener(authority.ServerCertificate, [authority.CaCertificate], authority);
        authority.Renewed += listener.OnRenewed;
        return listener;
    }

    /// <summary>Sets Kestrel's HTTPS defaults: TLS 1.2 and 1.3 only, and this certificate.</summary>
    public void Configure(HttpsConnectionAdapterOptions https)
    {
        https.SslProtocols = TlsOptions.Protocols;
        https.ServerCertificate = ForServer(Certificate);
        https.ServerCertificateChain = _chain;
        https.OnAuthenticate = (connection, ssl) =>
        {
            // Reading Certificate renews a generated certificate that is near its end; the context follows it.
            _ = Certificate;
            ssl.ServerCertificate = null;
            ssl.ServerCertificateContext = Volatile.Read(ref _context);
        };
    }

    private static TlsListener Configured(X509Certificate2 leaf, X509Certificate2Collection chain, string path, Action<string> log)
    {
        log($"HTTPS certificate from {path}: {leaf.Subject}, valid until {leaf.NotAfter.ToUniversalTime():u}");
        if (leaf.NotAfter.ToUniversalTime() < DateTime.UtcNow)
        {
            log($"The HTTPS certificate from {path} has expired: clients will refuse it.");
        }

        return new TlsListener(leaf, chain, null);
    }

    /// <summary>On Windows, SChannel cannot serve a certificate whose key was loaded from PEM (an ephemeral key).</summary>
    private static X509Certificate2 ForServer(X509Certificate2 certificate) =>
        OperatingSystem.IsWindows() ? X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null) : certificate;

    private void OnRenewed(X509Certificate2 certificate)
    {
        Volatile.Write(ref _context, SslStreamCertificateContext.Create(ForServer(certificate), [_authority!.CaCertificate], offline: true));
        _certificate = certificate;
    }
}
