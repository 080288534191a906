using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using GrowLength.Grains.Hosting;

namespace GrowLength.Client.Commands;

/// <summary>After a failed connection, asks the gateway for a TLS handshake of its own to tell whether TLS was the cause:
/// a gateway that wants TLS from a client without certificates, one whose certificate this client's authority did not
/// sign, one that refused this client's certificate, or one that does not speak TLS.</summary>
/// <remarks>Orleans drops a connection whose handshake failed without saying why, so the client would only see a closed
/// connection; this probe costs a second or two and runs only once the connection has failed.</remarks>
internal static class GatewayTlsProbe
{
    /// <summary>What TLS had to do with the failure, or null when the probe cannot tell (then it was not TLS, or the
    /// gateway did not answer at all).</summary>
    public static async Task<string?> Explain(IPEndPoint gateway, ClusterCertificates? tls, TimeSpan budget, CancellationToken cancel)
    {
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        bounded.CancelAfter(budget);
        X509Certificate2? presented = null;
        string? distrust = null;
        try
        {
            using var socket = new TcpClient(gateway.AddressFamily);
            await socket.ConnectAsync(gateway, bounded.Token);
            await using var ssl = new SslStream(socket.GetStream(), leaveInnerStreamOpen: false, (_, certificate, _, _) =>
            {
                if (certificate is null) return false;
                presented = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                // Without certificates of its own the probe has learnt what it came for; the handshake can stop here.
                if (tls is null) return false;
                distrust = tls.Verify(presented);
                return distrust is null;
            });
            var options = new SslClientAuthenticationOptions
            {
                TargetHost = gateway.Address.ToString(),
                ApplicationProtocols = [new SslApplicationProtocol("Orleans1")],
                ClientCertificates = tls is null ? null : new X509CertificateCollection { tls.Certificate },
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            };
            await ssl.AuthenticateAsClientAsync(options, bounded.Token);
            // Handshake done. Under TLS 1.3 the gateway checks this client's certificate after that: a refusal arrives as an
            // alert on the first read, acceptance as Orleans' own first bytes or silence (the gateway waits for ours).
            var buffer = new byte[1];
            int read;
            try
            {
                using var reading = CancellationTokenSource.CreateLinkedTokenSource(bounded.Token);
                reading.CancelAfter(TimeSpan.FromSeconds(1));
                read = await ssl.ReadAsync(buffer, reading.Token);
            }
            catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
            {
                return null;
            }
            return read == 0 ? Refused(tls) : null;
        }
        // Whatever went wrong, the probe only explains: it never replaces the failure it was asked about.
        catch (Exception e) when (!cancel.IsCancellationRequested)
        {
            if (presented is null)
                // The gateway never presented a certificate: it did not speak TLS (or did not answer at all).
                return tls is not null && e is not SocketException && e is not OperationCanceledException
                    ? "the gateway did not answer the TLS handshake: is the cluster run without GrowLength:TlsCertificate, TlsKey and TlsAuthority? (then leave out --tls-cert, --tls-key and --tls-ca)"
                    : null;
            if (tls is null)
                return $"the gateway requires TLS (it presented the certificate {presented.Subject}, issued by {presented.Issuer}): give --tls-cert, --tls-key and --tls-ca "
                    + $"(or {ClientTlsOptions.CertificateVariable}, {ClientTlsOptions.KeyVariable}, {ClientTlsOptions.AuthorityVariable}) with a certificate signed by the cluster's authority";
            if (distrust is not null)
                return $"the gateway's certificate ({presented.Subject}, issued by {presented.Issuer}) is not signed by the authority in {tls.AuthorityFile}: {distrust}";
            return Refused(tls);
        }
    }

    private static string Refused(ClusterCertificates? tls) =>
        $"the gateway refused this client's TLS certificate{(tls is null ? "" : $" ({tls.CertificateFile}, issued by {tls.Certificate.Issuer})")}; the silos accept only certificates their GrowLength:TlsAuthority signed";
}
