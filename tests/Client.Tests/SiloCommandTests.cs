using GrowLength.Tests.Shared;

namespace GrowLength.Client.Tests;

/// <summary>`growlength silo`: a standalone silo in the program, set with --GrowLength:Key=value like src/Silo, that says
/// when it started, serves the program's other commands and leaves on SIGTERM.</summary>
public sealed class SiloCommandTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    [Fact]
    public void ASiloStartsServesAndStopsOnSigterm()
    {
        var (siloPort, gatewayPort) = (SiloProcess.FreePort(), SiloProcess.FreePort());
        using var silo = GrowLengthProgram.Start(temp.Path, "silo", "--home", temp.Combine("home"),
            $"--GrowLength:SiloPort={siloPort}", $"--GrowLength:GatewayPort={gatewayPort}", "--GrowLength:MetricsPort=0", "--GrowLength:DeviceSlots=2");
        var started = silo.WaitForLine("silo started: ", 120);
        Assert.StartsWith($"silo started: gateway 127.0.0.1:{gatewayPort}, silo port {siloPort}, primary, 2 cpu device slots, state {temp.Combine("home", "state")}, checkpoints {temp.Combine("home", "checkpoints")}, pid ", started);

        var list = GrowLengthProgram.Run(temp.Path, 60, "list", "--cluster", $"127.0.0.1:{gatewayPort}");
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Contains("no runs yet", list.Stdout);

        silo.Terminate();
        var stopped = silo.WaitForExit(60);
        Assert.True(stopped.ExitCode == 0, stopped.ToString());
        Assert.Contains($"silo stopped: silo port {siloPort}", stopped.Stdout);
    }

    [Fact]
    public void ABadSettingIsNamed()
    {
        var result = GrowLengthProgram.Run(temp.Path, 60, "silo", "--home", temp.Combine("home"), "--GrowLength:DeviceKind=gpu", "--GrowLength:MetricsPort=0");
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Equal("error: GrowLength:DeviceKind: 'gpu' is not cpu or cuda.", result.Stderr.Trim());
        Assert.DoesNotContain("silo started", result.Stdout);
    }

    [Fact]
    public void AnExchangePortThatIsNoPortOrIsTakenIsNamed()
    {
        var result = GrowLengthProgram.Run(temp.Path, 60, "silo", "--home", temp.Combine("home"), "--GrowLength:ExchangePort=70000", "--GrowLength:MetricsPort=0");
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Equal("error: GrowLength:ExchangePort: must be a port number, 0 for any free port, or -1 to send gradient chunks as grain calls (is 70000).", result.Stderr.Trim());
        Assert.False(Directory.Exists(temp.Combine("home")), "a refused setting created the home");

        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;
        result = GrowLengthProgram.Run(temp.Path, 90, "silo", "--home", temp.Combine("home2"), $"--GrowLength:ExchangePort={port}", "--GrowLength:MetricsPort=0",
            $"--GrowLength:SiloPort={SiloProcess.FreePort()}", $"--GrowLength:GatewayPort={SiloProcess.FreePort()}");
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.StartsWith($"error: GrowLength:ExchangePort: cannot listen on 127.0.0.1:{port} for gradient chunks", result.Stderr.Trim());
        Assert.DoesNotContain("silo started", result.Stdout);
    }

    [Theory]
    [InlineData("--GrowLength:Clustering=etcd", "error: GrowLength:Clustering: 'etcd' is not development or postgres.")]
    [InlineData("--GrowLength:Clustering=postgres", "error: GrowLength:PostgresConnection: is required with GrowLength:Clustering=postgres")]
    [InlineData("--GrowLength:Clustering=postgres --GrowLength:PostgresConnection=Host=127.0.0.1;Bogus=1", "error: GrowLength:PostgresConnection: is not an Npgsql connection string")]
    [InlineData("--GrowLength:Clustering=postgres --GrowLength:PostgresConnection=Host=127.0.0.1 --GrowLength:PrimarySiloEndpoint=127.0.0.1:11111",
        "error: GrowLength:PrimarySiloEndpoint: is for development clustering")]
    [InlineData("--GrowLength:Clustering=postgres --GrowLength:PostgresConnection=Host=127.0.0.1 --GrowLength:DatabaseStartSeconds=0",
        "error: GrowLength:DatabaseStartSeconds: must be 1 to 3600 (is 0).")]
    public void ABadDatabaseSettingIsNamedBeforeAnythingStarts(string settings, string error)
    {
        var home = temp.Combine("home");
        var result = GrowLengthProgram.Run(temp.Path, 60, ["silo", "--home", home, "--GrowLength:MetricsPort=0", .. settings.Split(' ')]);
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.StartsWith(error, result.Stderr.Trim());
        Assert.DoesNotContain("silo started", result.Stdout);
        // Nothing half-started: no state folder claimed, no checkpoint folder made.
        Assert.False(Directory.Exists(home), $"{home} was created");
    }
}
