using GrowLength.Tests.Shared;

namespace GrowLength.Client.Tests;

/// <summary>A standalone silo reads run files only under its roots (by default its own home): a client that names any
/// other file as its corpus is refused with exit 2 and nothing is created. The embedded silo reads what the user can.</summary>
public sealed class PathRootsTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    [Fact]
    public void AStandaloneSiloRefusesADataPathOutsideItsHomeAndTrainsOneInside()
    {
        var home = temp.Combine("home");
        var outside = temp.WriteTinyCorpus("elsewhere");
        var inside = TinyCorpus.Write(Path.Combine(home, "data", "corpus"));
        Directory.CreateSymbolicLink(Path.Combine(home, "data", "shortcut"), outside);
        var gatewayPort = SiloProcess.FreePort();
        using var silo = GrowLengthProgram.Start(temp.Path, "silo", "--home", home,
            $"--GrowLength:SiloPort={SiloProcess.FreePort()}", $"--GrowLength:GatewayPort={gatewayPort}", "--GrowLength:MetricsPort=0");
        silo.WaitForLine("silo started: ", 120);
        var cluster = $"127.0.0.1:{gatewayPort}";

        var refused = GrowLengthProgram.Run(temp.Path, 120, "run", "--cluster", cluster, "--preset", "tiny", $"--data.path={outside}", "--run-id", "outside", "--detach");
        Assert.True(refused.ExitCode == 2, refused.ToString());
        Assert.Contains("data.path", refused.Stderr);
        Assert.Contains(outside, refused.Stderr);
        Assert.Contains(home, refused.Stderr);
        Assert.Contains("GrowLength:PathRoots", refused.Stderr);

        var linked = GrowLengthProgram.Run(temp.Path, 120, "run", "--cluster", cluster, "--preset", "tiny", $"--data.path={Path.Combine(home, "data", "shortcut")}", "--run-id", "linked", "--detach");
        Assert.True(linked.ExitCode == 2, linked.ToString());
        Assert.Contains($"resolves to {outside}", linked.Stderr);

        var list = GrowLengthProgram.Run(temp.Path, 60, "list", "--cluster", cluster);
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Contains("no runs yet", list.Stdout);
        Assert.False(Directory.Exists(Path.Combine(home, "checkpoints", "outside")), "a refused run made its checkpoint folder");

        var accepted = GrowLengthProgram.Run(temp.Path, 180, "run", "--cluster", cluster, "--preset", "tiny", $"--data.path={inside}", "--budget.tokens=2048", "--run-id", "inside");
        Assert.True(accepted.ExitCode == 0, accepted.ToString());
        Assert.Contains("inside", GrowLengthProgram.Run(temp.Path, 60, "list", "--cluster", cluster).Stdout);
    }

    [Fact]
    public void ARelativeRootIsABadSetting()
    {
        var home = temp.Combine("home");
        var result = GrowLengthProgram.Run(temp.Path, 60, "silo", "--home", home, "--GrowLength:MetricsPort=0", "--GrowLength:PathRoots=/srv/corpora:data");
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Equal("error: GrowLength:PathRoots: 'data' is not an absolute path; give absolute folders separated by ':'.", result.Stderr.Trim());
        Assert.False(Directory.Exists(home), $"{home} was created");
    }

    [Fact]
    public void TheEmbeddedSiloTrainsOnAnyFileTheUserCanRead()
    {
        // The corpus is outside --home: the program's own silo runs as the user and takes it.
        var corpus = temp.WriteTinyCorpus("anywhere");
        var result = GrowLengthProgram.Run(temp.Path, 180, "run", "--home", temp.Combine("home"), "--preset", "tiny", $"--data.path={corpus}", "--budget.tokens=2048", "--run-id", "embedded");
        Assert.True(result.ExitCode == 0, result.ToString());
    }
}
