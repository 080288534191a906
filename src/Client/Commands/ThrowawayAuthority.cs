using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using GrowLength.Grains.Hosting;

namespace GrowLength.Client.Commands;

/// <summary>A certificate authority made on the spot, and the silo and client certificates it signs, for mutual TLS in a
/// test or a small cluster without a PKI.</summary>
/// <remarks>ECDSA P-256 keys: OpenSSL, which SslStream uses on Linux, handles them, and they are made in milliseconds.</remarks>
internal sealed class ThrowawayAuthority : IDisposable
{
    private readonly ECDsa key;

    private ThrowawayAuthority(X509Certificate2 certificate, ECDsa key)
    {
        Certificate = certificate;
        this.key = key;
    }

    public X509Certificate2 Certificate { get; }

    /// <summary>The authority's key, PKCS#8 PEM.</summary>
    public string KeyPem => key.ExportPkcs8PrivateKeyPem();

    /// <summary>A self-signed authority valid for <paramref name="days"/> days. Its name carries a random id, so two
    /// throwaway authorities are told apart in messages.</summary>
    public static ThrowawayAuthority Create(int days)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=GrowLength throwaway CA {Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        var now = DateTimeOffset.UtcNow;
        // Back-dated a little: a peer whose clock is slightly behind would otherwise see a certificate from the future.
        return new ThrowawayAuthority(request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(days)), key);
    }

    /// <summary>A certificate signed by this authority for <paramref name="name"/>, usable both as a TLS server and client
    /// (a silo is both; Orleans' client side checks for clientAuth), with <paramref name="hosts"/> as its subject
    /// alternative names. Returns the certificate and its key as PEM.</summary>
    public (string Certificate, string Key) Issue(string name, IReadOnlyList<string> hosts)
    {
        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", leafKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid(ClusterCertificates.ServerAuthentication), new Oid(ClusterCertificates.ClientAuthentication)], critical: false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Certificate, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        if (hosts.Count > 0)
        {
            var names = new SubjectAlternativeNameBuilder();
            foreach (var host in hosts)
                if (IPAddress.TryParse(host, out var address)) names.AddIpAddress(address); else names.AddDnsName(host);
            request.CertificateExtensions.Add(names.Build());
        }
        var now = DateTimeOffset.UtcNow;
        using var issued = request.Create(Certificate.SubjectName, X509SignatureGenerator.CreateForECDsa(key),
            now.AddMinutes(-5), Certificate.NotAfter, RandomNumberGenerator.GetBytes(16));
        return (issued.ExportCertificatePem(), leafKey.ExportPkcs8PrivateKeyPem());
    }

    public void Dispose()
    {
        key.Dispose();
        Certificate.Dispose();
    }
}
