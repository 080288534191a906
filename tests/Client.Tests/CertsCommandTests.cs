using System.Net;
using System.Security.Cryptography.X509Certificates;

namespace GrowLength.Client.Tests;

/// <summary>`growlength certs`: a throwaway authority and the silo and client certificates it signs, as PEM files with
/// private keys only their owner reads, never written over existing files.</summary>
public sealed class CertsCommandTests : IDisposable
{
    private static readonly string[] Files = ["ca.crt", "ca.key", "silo.crt", "silo.key", "client.crt", "client.key"];

    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    [Fact]
    public void CertsWritesAnAuthorityAndTheCertificatesItSigns()
    {
        var folder = temp.Combine("certs");
        var result = GrowLengthProgram.Run(temp.Path, 60, "certs", "--out", folder, "--hosts", "silo-1,10.1.2.3", "--days", "30");
        Assert.True(result.ExitCode == 0, result.ToString());
        foreach (var file in Files) Assert.Contains($"wrote {Path.Combine(folder, file)}: ", result.Stdout);
        if (!OperatingSystem.IsWindows())
            foreach (var key in new[] { "ca.key", "silo.key", "client.key" })
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(folder, key)));
        Assert.Contains($"--GrowLength:TlsCertificate={Path.Combine(folder, "silo.crt")} --GrowLength:TlsKey={Path.Combine(folder, "silo.key")} --GrowLength:TlsAuthority={Path.Combine(folder, "ca.crt")}", result.Stdout);
        Assert.Contains($"--tls-cert {Path.Combine(folder, "client.crt")} --tls-key {Path.Combine(folder, "client.key")} --tls-ca {Path.Combine(folder, "ca.crt")}", result.Stdout);

        using var authority = X509Certificate2.CreateFromPemFile(Path.Combine(folder, "ca.crt"), Path.Combine(folder, "ca.key"));
        Assert.True(authority.HasPrivateKey);
        Assert.True(authority.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
        foreach (var member in new[] { "silo", "client" })
        {
            using var certificate = X509Certificate2.CreateFromPemFile(Path.Combine(folder, $"{member}.crt"), Path.Combine(folder, $"{member}.key"));
            Assert.True(certificate.HasPrivateKey, member);
            Assert.Equal(authority.Subject, certificate.Issuer);
            Assert.True(ChainsTo(certificate, authority), $"{member}.crt does not chain to ca.crt");
            Assert.InRange(certificate.NotAfter, DateTime.Now.AddDays(29), DateTime.Now.AddDays(31));
            var usages = certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single().EnhancedKeyUsages.Cast<System.Security.Cryptography.Oid>().Select(o => o.Value).ToList();
            Assert.Contains("1.3.6.1.5.5.7.3.1", usages);
            Assert.Contains("1.3.6.1.5.5.7.3.2", usages);
        }
        using var silo = X509CertificateLoader.LoadCertificateFromFile(Path.Combine(folder, "silo.crt"));
        var names = silo.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Equal(["localhost", "silo-1"], names.EnumerateDnsNames().Order());
        Assert.Equal([IPAddress.Parse("10.1.2.3"), IPAddress.Loopback], names.EnumerateIPAddresses().OrderBy(a => a.ToString()));

        // Another authority's certificates do not chain to this one.
        var other = GrowLengthProgram.Run(temp.Path, 60, "certs", "--out", temp.Combine("other"));
        Assert.True(other.ExitCode == 0, other.ToString());
        using var stranger = X509CertificateLoader.LoadCertificateFromFile(temp.Combine("other", "client.crt"));
        Assert.False(ChainsTo(stranger, authority));
    }

    [Fact]
    public void CertsRefusesToOverwriteAnyFile()
    {
        var folder = temp.Combine("certs");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "silo.key"), "mine");
        var result = GrowLengthProgram.Run(temp.Path, 60, "certs", "--out", folder);
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Equal($"error: --out: {Path.Combine(folder, "silo.key")} exists already; certs does not overwrite (give another folder, or remove them).", result.Stderr.Trim());
        Assert.Equal("mine", File.ReadAllText(Path.Combine(folder, "silo.key")));
        Assert.Equal(["silo.key"], Directory.GetFiles(folder).Select(Path.GetFileName));

        var fresh = temp.Combine("fresh");
        Assert.Equal(0, GrowLengthProgram.Run(temp.Path, 60, "certs", "--out", fresh).ExitCode);
        var before = Files.Select(f => File.ReadAllBytes(Path.Combine(fresh, f))).ToList();
        var again = GrowLengthProgram.Run(temp.Path, 60, "certs", "--out", fresh);
        Assert.True(again.ExitCode == 2, again.ToString());
        Assert.StartsWith($"error: --out: {Path.Combine(fresh, "ca.crt")}, ", again.Stderr.Trim());
        Assert.Equal(before, Files.Select(f => File.ReadAllBytes(Path.Combine(fresh, f))));
    }

    [Theory]
    [InlineData("--days 0", "error: --days: must be 1 to 3650 (is 0).")]
    [InlineData("--hosts a_b/c", "error: --hosts: 'a_b/c' is neither an IP address nor a host name.")]
    [InlineData("", "error: certs: Option '--out' is required.")]
    public void ABadCertsOptionIsNamed(string options, string error)
    {
        string[] args = options.Length == 0 ? ["certs"] : ["certs", "--out", temp.Combine("certs"), .. options.Split(' ')];
        var result = GrowLengthProgram.Run(temp.Path, 60, args);
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Equal(error, result.Stderr.Trim());
        Assert.False(Directory.Exists(temp.Combine("certs")));
    }

    private static bool ChainsTo(X509Certificate2 certificate, X509Certificate2 authority)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(authority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate);
    }
}
