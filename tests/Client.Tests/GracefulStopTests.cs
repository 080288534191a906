using System.Text.RegularExpressions;

namespace GrowLength.Client.Tests;

/// <summary>SIGTERM during `run` asks the coordinator for a graceful stop: the workers checkpoint after the current step and
/// the program exits 130; `resume` continues from that checkpoint to completion.</summary>
public sealed partial class GracefulStopTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    [GeneratedRegex(@"stopped at step (\d+) \(checkpoint at step (\d+)\)")]
    private static partial Regex StoppedLine();

    [Fact]
    public void SigtermCheckpointsExitsWith130AndResumeCompletes()
    {
        var corpus = temp.WriteTinyCorpus();
        var home = temp.Combine("home");

        long stoppedAt;
        {
            var result = GrowLengthProgram.RunTinyUntilFirstCheckpointThenSigterm(temp.Path, corpus, home);
            Assert.True(result.ExitCode == 130, result.ToString());
            var stopped = StoppedLine().Match(result.Stdout);
            Assert.True(stopped.Success, result.ToString());
            stoppedAt = long.Parse(stopped.Groups[1].Value);
            Assert.True(stoppedAt >= 5, result.ToString());
            // The graceful stop checkpoints at the step it stopped at.
            Assert.Equal(stoppedAt, long.Parse(stopped.Groups[2].Value));
            var manifest = Path.Combine(home, "checkpoints", "tiny", $"step-{stoppedAt:D12}", "manifest.json");
            Assert.True(File.Exists(manifest), $"no checkpoint at the stop step {stoppedAt}; {result}");
            Assert.Contains($"resume tiny --home {home}", result.Stdout);
        }

        var status = GrowLengthProgram.Run(temp.Path, 60, "status", "tiny", "--home", home);
        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Contains("Stopped", status.Stdout);

        var resumed = GrowLengthProgram.Run(temp.Path, 120, "resume", "tiny", "--home", home);
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Contains($"resuming run tiny from step {stoppedAt} ", resumed.Stdout);
        // The last status line: the run ends at the last stage's length, completed, with its final checkpoint.
        Assert.Matches(@"step \d+ stage 2 len 64 \|.*\| Completed", resumed.Stdout);
        Assert.Matches(@"checkpoint at step \d+: ", resumed.Stdout[resumed.Stdout.IndexOf("resuming run", StringComparison.Ordinal)..]);
        Assert.DoesNotContain("stage 0: length 16", resumed.Stdout); // continued, not restarted
        Assert.Contains("Throughput per stage", resumed.Stdout);
        Assert.Contains("Validation perplexity per context length", resumed.Stdout);
    }
}
