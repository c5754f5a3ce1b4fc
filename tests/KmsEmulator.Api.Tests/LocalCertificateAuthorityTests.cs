using System.Security.Cryptography.X509Certificates;
using KmsEmulator.Api.Hosting;
using Microsoft.Extensions.Time.Testing;

namespace KmsEmulator.Api.Tests;

/// <summary>
/// The HTTPS listener's local CA on the injected clock: made once, reused, the server certificate renewed by the same
/// CA near its end; and the listener addresses that --urls and Kms:Http / Kms:Tls give.
/// </summary>
public sealed class LocalCertificateAuthorityTests : IDisposable
{
    private static readonly TimeSpan RenewBefore = TimeSpan.FromDays(30);
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "kmsemu-ca-" + Guid.NewGuid().ToString("N")[..8], "tls");
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private readonly List<string> _log = [];

    public void Dispose()
    {
        if (Directory.Exists(Path.GetDirectoryName(_directory)))
        {
            Directory.Delete(Path.GetDirectoryName(_directory)!, recursive: true);
        }
    }

    private LocalCertificateAuthority Open() => LocalCertificateAuthority.OpenOrCreate(_directory, _clock, RenewBefore, _log.Add);

    [Fact]
    public void A_second_open_reuses_the_CA_and_the_server_certificate()
    {
        var first = Open();
        var caFile = File.ReadAllText(first.CaCertificatePath);

        var second = Open();

        Assert.Equal(caFile, File.ReadAllText(second.CaCertificatePath));
        Assert.Equal(first.ServerCertificate.Thumbprint, second.ServerCertificate.Thumbprint);
        Assert.Equal(first.CaCertificate.Thumbprint, second.CaCertificate.Thumbprint);
    }

    [Fact]
    public void The_server_certificate_chains_to_the_CA_and_is_for_the_server_only()
    {
        var authority = Open();
        var server = authority.ServerCertificate;

        Assert.True(server.HasPrivateKey);
        Assert.True(LocalCertificateAuthority.IsIssuedBy(server, authority.CaCertificate, _clock.GetUtcNow()));
        Assert.False(server.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
        Assert.Contains(server.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single().EnhancedKeyUsages.Cast<System.Security.Cryptography.Oid>(), oid => oid.Value == "1.3.6.1.5.5.7.3.1");
        Assert.True(authority.CaCertificate.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
        Assert.False(authority.CaCertificate.HasPrivateKey);
    }

    [Fact]
    public void Near_its_end_the_server_certificate_is_replaced_by_one_of_the_same_CA()
    {
        var authority = Open();
        var before = authority.ServerCertificate;
        var caFile = File.ReadAllText(authority.CaCertificatePath);
        X509Certificate2? renewed = null;
        authority.Renewed += certificate => renewed = certificate;

        _clock.Advance(LocalCertificateAuthority.ServerLifetime - RenewBefore - TimeSpan.FromDays(1));
        Assert.Equal(before.Thumbprint, authority.ServerCertificate.Thumbprint);

        _clock.Advance(TimeSpan.FromDays(2));
        var after = authority.ServerCertificate;

        Assert.NotEqual(before.Thumbprint, after.Thumbprint);
        Assert.Same(after, renewed);
        Assert.Equal(caFile, File.ReadAllText(authority.CaCertificatePath));
        Assert.True(LocalCertificateAuthority.IsIssuedBy(after, authority.CaCertificate, _clock.GetUtcNow()));
        Assert.True(after.NotAfter.ToUniversalTime() > _clock.GetUtcNow().UtcDateTime + LocalCertificateAuthority.ServerLifetime - TimeSpan.FromDays(1));
        // The renewed files are what the next start reads.
        Assert.Equal(after.Thumbprint, Open().ServerCertificate.Thumbprint);
    }

    [Fact]
    public void A_renewal_that_fails_keeps_the_current_certificate_and_is_tried_again_an_hour_later()
    {
        var authority = Open();
        var before = authority.ServerCertificate;
        var caKey = Path.Combine(_directory, LocalCertificateAuthority.CaKeyFile);
        var caKeyText = File.ReadAllText(caKey);
        File.Delete(caKey);

        _clock.Advance(LocalCertificateAuthority.ServerLifetime - RenewBefore + TimeSpan.FromDays(1));
        Assert.Equal(before.Thumbprint, authority.ServerCertificate.Thumbprint);
        Assert.Contains(_log, line => line.Contains("could not be renewed", StringComparison.Ordinal));

        File.WriteAllText(caKey, caKeyText);
        _clock.Advance(TimeSpan.FromMinutes(59));
        Assert.Equal(before.Thumbprint, authority.ServerCertificate.Thumbprint);
        _clock.Advance(TimeSpan.FromMinutes(2));
        Assert.NotEqual(before.Thumbprint, authority.ServerCertificate.Thumbprint);
        Assert.True(LocalCertificateAuthority.IsIssuedBy(authority.ServerCertificate, authority.CaCertificate, _clock.GetUtcNow()));
    }

    [Fact]
    public void An_expired_server_certificate_found_at_start_is_replaced_by_one_of_the_same_CA()
    {
        var first = Open();
        _clock.Advance(LocalCertificateAuthority.ServerLifetime + TimeSpan.FromDays(1));

        var later = Open();

        Assert.Equal(first.CaCertificate.Thumbprint, later.CaCertificate.Thumbprint);
        Assert.NotEqual(first.ServerCertificate.Thumbprint, later.ServerCertificate.Thumbprint);
        Assert.True(LocalCertificateAuthority.IsIssuedBy(later.ServerCertificate, later.CaCertificate, _clock.GetUtcNow()));
    }

    [Fact]
    public void A_server_key_that_does_not_match_its_certificate_is_replaced_and_the_CA_kept()
    {
        var first = Open();
        File.Copy(Path.Combine(_directory, LocalCertificateAuthority.CaKeyFile), Path.Combine(_directory, LocalCertificateAuthority.ServerKeyFile), overwrite: true);

        var later = Open();

        Assert.Equal(first.CaCertificate.Thumbprint, later.CaCertificate.Thumbprint);
        Assert.NotEqual(first.ServerCertificate.Thumbprint, later.ServerCertificate.Thumbprint);
    }

    [SkippableFact]
    public void The_folder_is_0700_and_every_file_0600()
    {
        Skip.If(OperatingSystem.IsWindows());
        if (!OperatingSystem.IsWindows())
        {
            AssertOwnerOnly();
        }
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private void AssertOwnerOnly()
    {
        Open();

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(_directory));
        Assert.Equal(
            new[] { LocalCertificateAuthority.CaKeyFile, LocalCertificateAuthority.CaCertificateFile, LocalCertificateAuthority.ServerKeyFile, LocalCertificateAuthority.ServerCertificateFile }.Order(),
            Directory.GetFiles(_directory).Select(Path.GetFileName).Order());
        Assert.All(Directory.GetFiles(_directory), file => Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file)));
    }

    [Fact]
    public void A_renewal_margin_as_long_as_the_certificate_is_refused()
    {
        var error = Assert.Throws<InvalidOperationException>(() => LocalCertificateAuthority.OpenOrCreate(_directory, _clock, LocalCertificateAuthority.ServerLifetime, _log.Add));
        Assert.Contains("Kms:Tls:RenewBefore", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, true, true, "http://127.0.0.1:4599;https://127.0.0.1:4600")]
    [InlineData("http://127.0.0.1:0", true, false, "http://127.0.0.1:0")]
    [InlineData(null, false, true, "https://127.0.0.1:4600")]
    [InlineData("http://127.0.0.1:5000;http://[::1]:5000", true, true, "http://127.0.0.1:5000;http://[::1]:5000;https://127.0.0.1:4600")]
    public void The_listeners_are_those_of_urls_and_the_TLS_section(string? urls, bool http, bool tls, string expected)
    {
        Assert.Equal(expected, KmsEmulatorApp.ListenerUrls(urls, new HttpListenerOptions { Enabled = http }, new TlsOptions { Enabled = tls }));
    }

    [Fact]
    public void The_TLS_listener_on_an_IPv6_address_is_bracketed()
    {
        Assert.Equal("https://[::1]:0", new TlsOptions { Address = "::1", Port = 0 }.Url);
    }

    [Fact]
    public void Turning_both_listeners_off_is_a_start_up_error()
    {
        Assert.Throws<InvalidOperationException>(() => KmsEmulatorApp.ListenerUrls(null, new HttpListenerOptions { Enabled = false }, new TlsOptions { Enabled = false }));
    }
}
