using System.Text.RegularExpressions;

namespace GrowLength.Client.Tests;

/// <summary>SIGTERM stops training after the current step with a checkpoint (exit 130); the next run resumes there.</summary>
public sealed partial class GracefulStopTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    [GeneratedRegex(@"checkpoint at step (\d+)")]
    private static partial Regex CheckpointLine();

    [GeneratedRegex(@"stopped at step (\d+)")]
    private static partial Regex StoppedLine();

    [Fact]
    public void SigtermCheckpointsExitsWith130AndTheNextRunResumes()
    {
        var corpus = temp.WriteTinyCorpus();
        var home = temp.Combine("home");
        string[] args = ["train", "--preset", "tiny", $"--data.path={corpus}", "--home", home, "--budget.tokens=2M"];

        long stoppedAt;
        using (var first = GrowLengthProgram.Start(temp.Path, args))
        {
            first.WaitForLine("checkpoint at step", 60);
            first.Terminate();
            var result = first.WaitForExit(60);
            Assert.True(result.ExitCode == 130, result.ToString());
            stoppedAt = long.Parse(StoppedLine().Match(result.Stdout).Groups[1].Value);
            Assert.True(stoppedAt >= 5, result.ToString());
            var manifest = Path.Combine(home, "runs", "tiny", "checkpoints", $"step-{stoppedAt:D12}", "manifest.json");
            Assert.True(File.Exists(manifest), $"no checkpoint at the stop step {stoppedAt}; {result}");
            Assert.Contains($"checkpoint at step {stoppedAt} ", result.Stdout);
        }

        using var second = GrowLengthProgram.Start(temp.Path, args);
        second.WaitForLine($"resuming run tiny from step {stoppedAt} ", 60);
        // Wait for a checkpoint of the resumed run: then the stop handler is surely in place.
        var line = second.WaitForLine($"checkpoint at step ", 60);
        Assert.True(long.Parse(CheckpointLine().Match(line).Groups[1].Value) > stoppedAt, line);
        second.Terminate();
        var again = second.WaitForExit(60);
        Assert.True(again.ExitCode == 130, again.ToString());
        Assert.True(long.Parse(StoppedLine().Match(again.Stdout).Groups[1].Value) > stoppedAt, again.ToString());
    }
}
