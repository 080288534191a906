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
        Assert.StartsWith($"silo started: gateway 127.0.0.1:{gatewayPort}, silo port {siloPort}, primary, 2 cpu device slots, state {temp.Combine("home", "state")}, pid ", started);

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
}
