using System.Text.Json;
using System.Text.RegularExpressions;

namespace GrowLength.Client.Tests;

/// <summary>Two terminals on one home: the program that trains holds the home's silo, and every other command on that home
/// talks to it (status, list, watch, eval, stop) without harming the run; a holder killed with SIGKILL leaves the home to
/// the next program, whose status names the last durable step and the checkpoint a resume starts from.</summary>
public sealed partial class SharedHomeTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    [GeneratedRegex(@"checkpoint at step (\d+)")]
    private static partial Regex CheckpointLine();

    [GeneratedRegex(@"^interrupted at step (\d+): .* resume continues from the checkpoint at step (\d+)$")]
    private static partial Regex InterruptedReason();

    [GeneratedRegex(@"stopped at step (\d+) \(checkpoint at step (\d+)\)")]
    private static partial Regex StoppedLine();

    /// <summary>Starts `growlength run` of the tiny preset as run "live" on a new home, training for
    /// <paramref name="seconds"/> training seconds (so it runs at least that long in wall time, however fast the machine).</summary>
    private (string Home, GrowLengthProgram Run) StartTraining(int seconds, int everySteps)
    {
        var corpus = temp.WriteTinyCorpus();
        var home = temp.Combine("home");
        return (home, GrowLengthProgram.Start(temp.Path, "run", "--preset", "tiny", $"--data.path={corpus}", "--home", home, "--run-id", "live",
            $"--budget.seconds={seconds}", "--budget.tokens=0", $"--checkpoint.everySteps={everySteps}"));
    }

    [Fact]
    public void StatusListWatchAndEvalFromAnotherTerminalLeaveTheRunUnharmed()
    {
        var (home, run) = StartTraining(seconds: 60, everySteps: 5);
        using var _ = run;
        run.WaitForLine("checkpoint at step 5", 120);

        var status = GrowLengthProgram.Run(temp.Path, 60, "status", "live", "--home", home);
        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Contains("Running", status.Stdout);

        var list = GrowLengthProgram.Run(temp.Path, 60, "list", "--home", home);
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Matches(@"live\s.*Running", list.Stdout);

        // eval reads the live run's checkpoints on this machine; it needs no silo at all.
        var eval = GrowLengthProgram.Run(temp.Path, 120, "eval", "live", "--home", home, "--lengths", "16", "--modes", "extrapolate", "--windows", "2");
        Assert.True(eval.ExitCode == 0, eval.ToString());
        Assert.Contains("checkpoint step", eval.Stdout);

        using var watch = GrowLengthProgram.Start(temp.Path, "watch", "live", "--home", home);
        watch.WaitForLine($"watching run live on the silo of process {run.Id}", 60);
        var watched = watch.WaitForExit(180);
        Assert.True(watched.ExitCode == 0, watched.ToString());
        Assert.Contains("completed:", watched.Stdout);

        var trained = run.WaitForExit(180);
        Assert.True(trained.ExitCode == 0, trained.ToString());
        Assert.DoesNotContain("Failed", trained.Output);
        Assert.DoesNotContain("Inconsistent", trained.Output);
        Assert.Contains("Validation perplexity per context length", trained.Stdout);

        // The holder is gone: the next program takes the home over and finds the run as it ended.
        var after = GrowLengthProgram.Run(temp.Path, 60, "status", "live", "--home", home);
        Assert.True(after.ExitCode == 0, after.ToString());
        Assert.Contains("Completed", after.Stdout);
    }

    [Fact]
    public void StopFromAnotherTerminalStopsTheRunCleanly()
    {
        var (home, run) = StartTraining(seconds: 600, everySteps: 20);
        using var _ = run;
        run.WaitForLine("checkpoint at step", 120);

        var stop = GrowLengthProgram.Run(temp.Path, 60, "stop", "live", "--home", home);
        Assert.True(stop.ExitCode == 0, stop.ToString());
        Assert.Contains("run live is Stopping", stop.Stdout);

        var stopped = run.WaitForExit(120);
        Assert.True(stopped.ExitCode == 130, stopped.ToString());
        var line = StoppedLine().Match(stopped.Stdout);
        Assert.True(line.Success, stopped.ToString());
        Assert.Equal(line.Groups[1].Value, line.Groups[2].Value);
        Assert.True(File.Exists(Path.Combine(home, "checkpoints", "live", $"step-{long.Parse(line.Groups[1].Value):D12}", "manifest.json")), stopped.ToString());

        var status = GrowLengthProgram.Run(temp.Path, 60, "status", "live", "--home", home);
        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Contains("Stopped", status.Stdout);
    }

    [Fact]
    public void AHolderKilledWithSigkillLeavesTheHomeAndItsLastDurableStep()
    {
        var (home, holder) = StartTraining(seconds: 600, everySteps: 10);
        long seen;
        using (holder)
        {
            holder.WaitForLine("checkpoint at step 10", 120);
            seen = long.Parse(CheckpointLine().Match(holder.WaitForLine("checkpoint at step 20", 120)).Groups[1].Value);
            holder.Kill();
        }

        var status = GrowLengthProgram.Run(temp.Path, 60, "status", "live", "--home", home, "--json");
        Assert.True(status.ExitCode == 0, status.ToString());
        using var json = JsonDocument.Parse(status.Stdout);
        var run = json.RootElement;
        Assert.Equal("growlength-run/1", run.GetProperty("schema").GetString());
        Assert.Equal("Failed", run.GetProperty("lifecycle").GetString());
        long durable = run.GetProperty("step").GetInt64(), checkpoint = run.GetProperty("lastCheckpointStep").GetInt64();
        // The checkpoint it saw committed (and any later one) is durable, and so is the progress up to it.
        Assert.True(checkpoint >= seen && durable >= checkpoint, status.ToString());
        var reason = InterruptedReason().Match(run.GetProperty("reason").GetString()!);
        Assert.True(reason.Success, status.ToString());
        Assert.Equal((durable, checkpoint), (long.Parse(reason.Groups[1].Value), long.Parse(reason.Groups[2].Value)));
        Assert.Equal("Interrupted", run.GetProperty("events").EnumerateArray().Last().GetProperty("kind").GetString());
        Assert.True(File.Exists(Path.Combine(home, "checkpoints", "live", $"step-{checkpoint:D12}", "manifest.json")), status.ToString());
    }
}
