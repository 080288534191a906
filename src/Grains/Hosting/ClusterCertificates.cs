using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Orleans.Connections.Security;

namespace GrowLength.Grains.Hosting;

/// <summary>One cluster member's TLS identity (a certificate and its private key, from PEM files) and the cluster's
/// certificate authority, which every peer's certificate must chain to.</summary>
/// <remarks>The identity checked is "signed by the cluster's authority", not a host name: silos are reached at addresses
/// and service names that certificates made once cannot all list. No system root is trusted and revocation is not
/// checked: the authority is the cluster's own and has no revocation list.</remarks>
public sealed class ClusterCertificates
{
    /// <summary>Extended key usage OID a TLS server's certificate needs (a silo's listeners).</summary>
    public const string ServerAuthentication = "1.3.6.1.5.5.7.3.1";

    /// <summary>Extended key usage OID a TLS client's certificate needs (a silo's outbound connections, the client's).</summary>
    public const string ClientAuthentication = "1.3.6.1.5.5.7.3.2";

    private ClusterCertificates(X509Certificate2 certificate, X509Certificate2 authority, string certificateFile, string authorityFile)
    {
        Certificate = certificate;
        Authority = authority;
        CertificateFile = certificateFile;
        AuthorityFile = authorityFile;
    }

    /// <summary>This member's certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>The certificate every peer's must chain to.</summary>
    public X509Certificate2 Authority { get; }

    /// <summary>The file the certificate came from, for messages.</summary>
    public string CertificateFile { get; }

    /// <summary>The file the authority came from, for messages.</summary>
    public string AuthorityFile { get; }

    /// <summary>A PEM file and the setting (or option) that named it, which an error about the file names.</summary>
    public sealed record PemFile(string Setting, string Path);

    /// <summary>Reads and checks the three files: each readable PEM, the key that of the certificate, the certificate
    /// signed by the authority and allowed the <paramref name="usages"/> (extended key usage OIDs) it will be used for.</summary>
    /// <exception cref="RunRequestException">naming the setting and the file at fault.</exception>
    public static ClusterCertificates Load(PemFile certificate, PemFile key, PemFile authority, params string[] usages)
    {
        var authorityCertificate = ReadCertificate(authority);
        var publicOnly = ReadCertificate(certificate);
        var withKey = AttachKey(publicOnly, certificate, key);
        var loaded = new ClusterCertificates(withKey, authorityCertificate, Path.GetFullPath(certificate.Path), Path.GetFullPath(authority.Path));
        if (loaded.Verify(publicOnly) is { } why)
            throw new RunRequestException(certificate.Setting,
                $"the certificate in {certificate.Path} ({publicOnly.Subject}, issued by {publicOnly.Issuer}) is not signed by the authority in {authority.Path} ({authorityCertificate.Subject}): {why}");
        var allowed = publicOnly.Extensions.OfType<X509EnhancedKeyUsageExtension>().FirstOrDefault() is { } eku
            ? eku.EnhancedKeyUsages.Cast<Oid>().Select(o => o.Value).ToHashSet()
            : null;
        // A certificate without the extension may be used for anything; Orleans refuses one whose extension leaves a use out.
        foreach (var usage in usages)
            if (allowed is not null && !allowed.Contains(usage))
                throw new RunRequestException(certificate.Setting,
                    $"the certificate in {certificate.Path} may not be used for {(usage == ServerAuthentication ? "serverAuth" : "clientAuth")} (its extended key usage), which it is needed for here.");
        return loaded;
    }

    /// <summary>Why <paramref name="certificate"/> does not chain to the authority, or null when it does.</summary>
    public string? Verify(X509Certificate2 certificate)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(Authority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        if (chain.Build(certificate)) return null;
        var problems = chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct().ToList();
        return problems.Count > 0 ? string.Join("; ", problems) : "the chain does not end at it";
    }

    /// <summary>Mutual TLS for Orleans (silo listeners, silo-to-silo and client connections): this member presents its
    /// certificate, requires the other side's, and accepts it only when it chains to the authority.</summary>
    public void Configure(TlsOptions tls)
    {
        tls.LocalCertificate = Certificate;
        tls.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
        tls.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
        tls.CheckCertificateRevocation = false;
        // SslStream's own policy errors are about the system roots and a host name, neither of which applies: the chain to
        // the authority is the whole check.
        tls.RemoteCertificateValidation = (remote, _, _) => Verify(remote) is null;
    }

    private static string ReadText(PemFile file)
    {
        try
        {
            return File.ReadAllText(file.Path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new RunRequestException(file.Setting, $"cannot read {file.Path}: {e.Message}");
        }
    }

    private static X509Certificate2 ReadCertificate(PemFile file)
    {
        var text = ReadText(file);
        try
        {
            return X509Certificate2.CreateFromPem(text);
        }
        catch (CryptographicException e)
        {
            throw new RunRequestException(file.Setting, $"{file.Path} is not a PEM certificate: {e.Message}");
        }
    }

    private static X509Certificate2 AttachKey(X509Certificate2 certificate, PemFile certificateFile, PemFile key)
    {
        var text = ReadText(key);
        AsymmetricAlgorithm? imported = null;
        try
        {
            if (certificate.GetKeyAlgorithm() == "1.2.840.10045.2.1")
            {
                var ecdsa = ECDsa.Create();
                imported = ecdsa;
                ecdsa.ImportFromPem(text);
                return Attached(() => certificate.CopyWithPrivateKey(ecdsa), certificateFile, key);
            }
            if (certificate.GetKeyAlgorithm() == "1.2.840.113549.1.1.1")
            {
                var rsa = RSA.Create();
                imported = rsa;
                rsa.ImportFromPem(text);
                return Attached(() => certificate.CopyWithPrivateKey(rsa), certificateFile, key);
            }
            throw new RunRequestException(certificateFile.Setting, $"the certificate in {certificateFile.Path} has neither an RSA nor an ECDSA key.");
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            var kind = certificate.GetKeyAlgorithm() == "1.2.840.10045.2.1" ? "ECDSA" : "RSA";
            throw new RunRequestException(key.Setting, $"{key.Path} is not an unencrypted PEM {kind} private key (the kind of the certificate in {certificateFile.Path}): {e.Message}");
        }
        finally
        {
            imported?.Dispose();
        }
    }

    private static X509Certificate2 Attached(Func<X509Certificate2> copy, PemFile certificateFile, PemFile key)
    {
        try
        {
            return copy();
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            throw new RunRequestException(key.Setting, $"the key in {key.Path} does not belong to the certificate in {certificateFile.Path}: {e.Message}");
        }
    }
}
