using System.Security.Authentication;

namespace KmsEmulator.Api.Hosting;

/// <summary>The <c>Kms:Http</c> section: the plain HTTP listener(s) of <c>--urls</c>.</summary>
public sealed class HttpListenerOptions
{
    public const string Section = "Kms:Http";

    /// <summary>Whether the plain HTTP listener runs (the <c>http://</c> addresses of <c>--urls</c>, by default 127.0.0.1:4599).</summary>
    public bool Enabled { get; set; } = true;
}

/// <summary>The <c>Kms:Tls</c> section: the HTTPS listener and its certificate (docs/tls.md).</summary>
public sealed class TlsOptions
{
    public const string Section = "Kms:Tls";

    /// <summary>The only protocol versions the HTTPS listener accepts.</summary>
    public const SslProtocols Protocols = SslProtocols.Tls12 | SslProtocols.Tls13;

    /// <summary>Whether the HTTPS listener runs.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The address the HTTPS listener binds (an IP address, or <c>localhost</c>).</summary>
    public string Address { get; set; } = "127.0.0.1";

    /// <summary>The HTTPS port; 0 takes a free one (logged at start).</summary>
    public int Port { get; set; } = 4600;

    /// <summary>A PEM certificate (the server's, optionally followed by its chain) to serve instead of the generated one.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>The PEM private key of <see cref="CertificatePath"/> (PKCS#8, or PKCS#1/SEC1); the certificate file itself when omitted.</summary>
    public string? KeyPath { get; set; }

    /// <summary>A PKCS#12 (.pfx) file holding the certificate and its key, instead of PEM files.</summary>
    public string? PfxPath { get; set; }

    /// <summary>The password of <see cref="PfxPath"/>.</summary>
    public string? PfxPassword { get; set; }

    /// <summary>Where the generated local CA and server certificate are kept; <c>&lt;data-dir&gt;/tls</c> when unset.</summary>
    public string? Directory { get; set; }

    /// <summary>The generated server certificate is replaced (signed by the same CA) when it has less than this left.</summary>
    public TimeSpan RenewBefore { get; set; } = TimeSpan.FromDays(30);

    /// <summary>The URL Kestrel binds for this listener.</summary>
    public string Url => $"https://{(System.Net.IPAddress.TryParse(Address, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{Address}]" : Address)}:{Port}";
}
