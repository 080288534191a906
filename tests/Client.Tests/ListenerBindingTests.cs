using System.Net;
using System.Net.Sockets;
using GrowLength.Tests.Shared;
using Xunit.Abstractions;

namespace GrowLength.Client.Tests;

/// <summary>Where a <c>GrowLength.Silo</c> process listens, seen from this machine's loopback and non-loopback
/// addresses: loopback by default, the advertised address only when one is given, every interface when asked, with one
/// warning at start for each widened listener.</summary>
public sealed class ListenerBindingTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    private static IPAddress Outside => NonLoopbackFactAttribute.Address!;

    [NonLoopbackFact]
    public async Task ADefaultSiloIsNotReachableOffLoopbackAndWarnsOfNothing()
    {
        using var silo = await SiloProcess.Start("default", $"bind-{Guid.NewGuid():N}"[..16], temp.Path);
        Assert.True(Reachable(IPAddress.Loopback, silo.SiloPort) && Reachable(IPAddress.Loopback, silo.GatewayPort), silo.Output);
        Assert.False(Reachable(Outside, silo.SiloPort), $"silo port {silo.SiloPort} answers on {Outside}");
        Assert.False(Reachable(Outside, silo.GatewayPort), $"gateway port {silo.GatewayPort} answers on {Outside}");
        Assert.False(Reachable(Outside, silo.MetricsPort), $"metrics port {silo.MetricsPort} answers on {Outside}");
        Assert.DoesNotContain("ListenerExposure", silo.Output);
    }

    [NonLoopbackFact]
    public async Task AnAdvertisedAddressIsTheOnlyOneListenedOnAndIsWarnedOf()
    {
        using var silo = await SiloProcess.Start("advertised", "growlength", temp.Path, settings: [$"AdvertisedAddress={Outside}", $"MetricsHost={Outside}"]);
        output.WriteLine(silo.Output);
        Assert.True(Reachable(Outside, silo.SiloPort) && Reachable(Outside, silo.GatewayPort), silo.Output);
        Assert.False(Reachable(IPAddress.Loopback, silo.SiloPort), $"silo port {silo.SiloPort} answers on 127.0.0.1");
        Assert.False(Reachable(IPAddress.Loopback, silo.GatewayPort), $"gateway port {silo.GatewayPort} answers on 127.0.0.1");
        Assert.Contains($"GrowLength:AdvertisedAddress={Outside}: silo port {silo.SiloPort} and gateway port {silo.GatewayPort} listening on {Outside} without TLS; "
            + "set GrowLength:TlsCertificate, TlsKey and TlsAuthority", silo.Output);
        Assert.Contains($"GrowLength:MetricsHost={Outside}: the metrics endpoint (port {silo.MetricsPort}) listening on {Outside} without TLS", silo.Output);
        Assert.Single(silo.Output.Split("GrowLength:AdvertisedAddress=").Skip(1));

        // The program reaches it there; one that brings TLS is told the gateway speaks none.
        var gateway = $"{Outside}:{silo.GatewayPort}";
        var list = GrowLengthProgram.Run(temp.Path, 60, "list", "--cluster", gateway);
        Assert.True(list.ExitCode == 0, $"{list}\n--- silo ---\n{silo.Output}");
        var certs = GrowLengthProgram.Run(temp.Path, 60, "certs", "--out", temp.Combine("certs"));
        Assert.True(certs.ExitCode == 0, certs.ToString());
        var withTls = GrowLengthProgram.Run(temp.Path, 60, "list", "--cluster", gateway,
            "--tls-cert", temp.Combine("certs", "client.crt"), "--tls-key", temp.Combine("certs", "client.key"), "--tls-ca", temp.Combine("certs", "ca.crt"));
        Assert.True(withTls.ExitCode == 3, withTls.ToString());
        Assert.StartsWith($"error: cannot connect to the cluster at {gateway}: TLS: the gateway did not answer the TLS handshake", withTls.Stderr.Trim());
    }

    [NonLoopbackFact]
    public async Task ListenOnAllInterfacesListensOnEveryInterfaceAndSaysTlsIsOn()
    {
        var certs = GrowLengthProgram.Run(temp.Path, 60, "certs", "--out", temp.Combine("certs"));
        Assert.True(certs.ExitCode == 0, certs.ToString());
        using var silo = await SiloProcess.Start("every-interface", "growlength", temp.Combine("silo"), settings:
        [
            $"AdvertisedAddress={Outside}", "ListenOnAllInterfaces=true",
            $"TlsCertificate={temp.Combine("certs", "silo.crt")}", $"TlsKey={temp.Combine("certs", "silo.key")}", $"TlsAuthority={temp.Combine("certs", "ca.crt")}",
        ]);
        output.WriteLine(silo.Output);
        foreach (var address in new[] { IPAddress.Loopback, Outside })
            Assert.True(Reachable(address, silo.SiloPort) && Reachable(address, silo.GatewayPort), $"not listening on {address}:\n{silo.Output}");
        Assert.Contains($"GrowLength:AdvertisedAddress={Outside} and GrowLength:ListenOnAllInterfaces=true: silo port {silo.SiloPort} and gateway port {silo.GatewayPort} "
            + $"listening on every interface with mutual TLS (peers signed by {temp.Combine("certs", "ca.crt")})", silo.Output);

        var list = GrowLengthProgram.Run(temp.Path, 60, "list", "--cluster", $"127.0.0.1:{silo.GatewayPort}",
            "--tls-cert", temp.Combine("certs", "client.crt"), "--tls-key", temp.Combine("certs", "client.key"), "--tls-ca", temp.Combine("certs", "ca.crt"));
        Assert.True(list.ExitCode == 0, $"{list}\n--- silo ---\n{silo.Output}");
    }

    /// <summary>Whether something accepts a TCP connection at <paramref name="address"/>:<paramref name="port"/> (a port
    /// nobody listens on there is refused at once).</summary>
    private static bool Reachable(IPAddress address, int port)
    {
        using var client = new TcpClient(AddressFamily.InterNetwork);
        try
        {
            return client.ConnectAsync(address, port).Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException e) when (e.InnerException is SocketException)
        {
            return false;
        }
    }
}
