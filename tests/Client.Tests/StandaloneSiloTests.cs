using System.Diagnostics;
using System.Text.RegularExpressions;
using GrowLength.Tests.Shared;
using Xunit.Abstractions;

namespace GrowLength.Client.Tests;

/// <summary>One standalone <c>GrowLength.Silo</c> process and a tiny corpus, shared by the facts of <see cref="StandaloneSiloTests"/>.</summary>
public sealed class StandaloneSilo : IAsyncLifetime
{
    private readonly TempFolder temp = new();

    internal SiloProcess Silo { get; private set; } = null!;

    /// <summary>What the program takes for --cluster.</summary>
    public string Gateway => $"127.0.0.1:{Silo.GatewayPort}";

    public string Corpus { get; private set; } = "";

    /// <summary>Where the silo keeps the checkpoint folder of <paramref name="runId"/>.</summary>
    public string CheckpointsOf(string runId) => temp.Combine("silo", "checkpoints", runId);

    public async Task InitializeAsync()
    {
        Corpus = temp.WriteTinyCorpus();
        // The default cluster id, the only one the program speaks. Two slots: a fact that fails with its run still going
        // leaves the next fact a slot to start its own.
        Silo = await SiloProcess.Start("standalone", "growlength", temp.Combine("silo"), deviceSlots: 2);
        // Ready for the facts once the program gets an answer: a silo just started can take longer to serve its first
        // client than the program's connect allows on a busy machine, and no fact is about that.
        var deadline = DateTime.UtcNow.AddSeconds(120);
        for (var list = ListRuns(); list.ExitCode != 0; list = ListRuns())
        {
            if (DateTime.UtcNow > deadline)
            {
                Silo.Dispose();
                throw new TimeoutException($"the program got no answer from the silo within 120 s; last try: {list}\n--- silo ---\n{Silo.Output}");
            }
        }
    }

    private ProgramResult ListRuns() => GrowLengthProgram.Run(temp.Path, 60, "list", "--cluster", Gateway);

    public Task DisposeAsync()
    {
        Silo?.Dispose();
        temp.Dispose();
        return Task.CompletedTask;
    }
}

/// <summary>The growlength program against a standalone silo process (<c>--cluster</c>), as in the README's "two silos on
/// one machine": a detached run followed by <c>watch</c>, a watch ended by SIGTERM that leaves the run going, <c>stop</c>
/// then <c>resume</c>, <c>--fresh</c> on a completed id, and a worker whose checkpoint write fails mid-run.</summary>
public sealed partial class StandaloneSiloTests(StandaloneSilo fixture, ITestOutputHelper output) : IClassFixture<StandaloneSilo>, IDisposable
{
    // The tiny preset trains 512 tokens per step, in three equal stages of lengths 16, 32 and 64.
    private const int TokensPerStep = 512;

    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Blanks();

    [GeneratedRegex(@"run stop-resume is Stopping at step \d+; it checkpoints after the current step")]
    private static partial Regex StoppingLine();

    [GeneratedRegex(@"checkpoint step (\d+)")]
    private static partial Regex CheckpointRow();

    [GeneratedRegex(@"error: run worker-fails failed at step (\d+): worker 0: (.+)")]
    private static partial Regex FailedLine();

    [Fact]
    public void DetachReturnsAtOnceAndWatchFollowsTheRunToCompletion()
    {
        var detached = Program(60, ["run", .. Tiny("detach-watch", steps: 72), "--detach"]);
        Assert.True(detached.ExitCode == 0, Because(detached));
        Assert.Contains($"run detach-watch is Running on 1 workers; `growlength watch detach-watch --cluster {fixture.Gateway}` follows it", detached.Stdout);
        // Returned, not watched: no transitions and no final report.
        Assert.DoesNotContain("stage 0: length 16", detached.Stdout);
        Assert.DoesNotContain("Throughput per stage", detached.Stdout);

        var watched = Program(180, "watch", "detach-watch");
        Assert.True(watched.ExitCode == 0, Because(watched));
        var stdout = watched.Stdout;
        Assert.Contains($"watching run detach-watch on {fixture.Gateway}", stdout);
        int s0 = stdout.IndexOf("stage 0: length 16 from step 0 ", StringComparison.Ordinal);
        int s1 = stdout.IndexOf("stage 1: length 32 from step 24 ", StringComparison.Ordinal);
        int s2 = stdout.IndexOf("stage 2: length 64 from step 48 ", StringComparison.Ordinal);
        Assert.True(s0 >= 0 && s1 > s0 && s2 > s1, $"stage transitions missing or out of order; {Because(watched)}");
        Assert.Contains("checkpoint at step 72: ", stdout);
        var last = LastLine(stdout);
        Assert.StartsWith("step 72 stage 2 len 64 |", last);
        Assert.EndsWith("| Completed", last);
    }

    [Fact]
    public void SigtermEndsTheWatchButNotTheRun()
    {
        // 150 steps (tens of ms each, up to a second on 2 cores shared with the other test projects): the run outlasts
        // starting the watch, signalling it and asking for the status.
        var detached = Program(60, ["run", .. Tiny("watch-sigterm", steps: 150), "--detach"]);
        Assert.True(detached.ExitCode == 0, Because(detached));

        ProgramResult interrupted;
        var clock = Stopwatch.StartNew();
        using (var watch = GrowLengthProgram.Start(temp.Path, "watch", "watch-sigterm", "--cluster", fixture.Gateway))
        {
            // A transition line comes from inside the watch loop: the signal handler is in place by then.
            watch.WaitForLine("stage 0: length 16", 90);
            watch.Terminate();
            interrupted = watch.WaitForExit(60);
        }
        Log("watch watch-sigterm (SIGTERM)", clock.Elapsed, interrupted);
        Assert.True(interrupted.ExitCode == 130, Because(interrupted));
        // The watch's last word is the run's state when it let go: still running, not asked to stop.
        Assert.EndsWith("| Running", LastLine(interrupted.Stdout));
        Assert.DoesNotContain("stopping", interrupted.Output);

        var during = Program(60, "status", "watch-sigterm");
        Assert.True(during.ExitCode == 0, Because(during));
        Assert.Matches(@"state\s+(Running|Completed)\b", during.Stdout);

        // A second watch sees it through; a stop would have ended it Stopped before step 150.
        var rest = Program(240, "watch", "watch-sigterm");
        Assert.True(rest.ExitCode == 0, Because(rest));
        var status = Program(60, "status", "watch-sigterm");
        Assert.True(status.ExitCode == 0, Because(status));
        Assert.Matches(@"state\s+Completed\b", status.Stdout);
        Assert.Contains("step 150, stage 2, length 64, 76,800 tokens (100.0% of the budget)", status.Stdout);
    }

    [Fact]
    public void StopCheckpointsTheRunAndResumeCompletesIt()
    {
        // 150 steps: `stop` right after the detached start (a program start, a second or two) lands well before the end, and
        // the resume's rest fits its limit on 2 cores shared with the other test projects.
        var detached = Program(60, ["run", .. Tiny("stop-resume", steps: 150), "--detach"]);
        Assert.True(detached.ExitCode == 0, Because(detached));
        var stop = Program(60, "stop", "stop-resume");
        Assert.True(stop.ExitCode == 0, Because(stop));
        Assert.Matches(StoppingLine(), stop.Stdout);

        // The watch ends with the run, once the workers have checkpointed and left.
        var watched = Program(120, "watch", "stop-resume");
        Assert.True(watched.ExitCode == 0, Because(watched));
        Assert.EndsWith("| Stopped", LastLine(watched.Stdout));

        var status = Program(60, "status", "stop-resume");
        Assert.True(status.ExitCode == 0, Because(status));
        var flat = Blanks().Replace(status.Stdout, " ");
        Assert.Contains("state Stopped ", flat);
        var row = CheckpointRow().Match(flat);
        Assert.True(row.Success, Because(status));
        long stoppedAt = long.Parse(row.Groups[1].Value);
        Assert.True(stoppedAt > 0 && stoppedAt < 150, $"the stop did not land mid-run; {Because(status)}");
        // A graceful stop checkpoints the step it stopped at.
        Assert.Contains($"progress step {stoppedAt}, ", flat);
        var folder = Path.Combine(fixture.CheckpointsOf("stop-resume"), $"step-{stoppedAt:D12}");
        Assert.True(File.Exists(Path.Combine(folder, "manifest.json")), $"no checkpoint at {folder}; {Because(status)}");

        var resumed = Program(240, "resume", "stop-resume");
        Assert.True(resumed.ExitCode == 0, Because(resumed));
        Assert.Contains($"resuming run stop-resume from step {stoppedAt} on {fixture.Gateway}", resumed.Stdout);
        Assert.DoesNotContain("stage 0: length 16", resumed.Stdout); // continued, not restarted
        Assert.Contains("checkpoint at step 150: ", resumed.Stdout);
        Assert.Contains("step 150 stage 2 len 64 |", resumed.Stdout);
        Assert.Contains("| Completed", resumed.Stdout);
        Assert.Contains("Throughput per stage", resumed.Stdout);
        Assert.Contains("Validation perplexity per context length", resumed.Stdout);
    }

    [Fact]
    public void RunReportsACompletedIdAndFreshStartsANewOne()
    {
        var first = Program(180, ["run", .. Tiny("fresh", steps: 24)]);
        Assert.True(first.ExitCode == 0, Because(first));
        Assert.Contains($"run fresh on {fixture.Gateway}: model tiny", first.Stdout);

        var again = Program(180, ["run", .. Tiny("fresh", steps: 24)]);
        Assert.True(again.ExitCode == 0, Because(again));
        Assert.Contains("run fresh is already completed at step 24 (--fresh starts a new one)", again.Stdout);
        Assert.DoesNotContain("run fresh on", again.Stdout);
        Assert.DoesNotContain("stage 0: length 16", again.Stdout);

        var fresh = Program(180, ["run", .. Tiny("fresh", steps: 24), "--fresh"]);
        Assert.True(fresh.ExitCode == 0, Because(fresh));
        Assert.Contains($"run fresh-2 on {fixture.Gateway}: model tiny", fresh.Stdout);
        Assert.Contains("stage 0: length 16 from step 0 ", fresh.Stdout);
        Assert.Contains("step 24 stage 2 len 64 |", fresh.Stdout);
        Assert.True(File.Exists(Path.Combine(fixture.CheckpointsOf("fresh-2"), $"step-{24:D12}", "manifest.json")), Because(fresh));

        var list = Program(60, "list");
        Assert.True(list.ExitCode == 0, Because(list));
        Assert.Matches(@"│ fresh\s+│ Completed\s+│ 24\s+│", list.Stdout);
        Assert.Matches(@"│ fresh-2\s+│ Completed\s+│ 24\s+│", list.Stdout);
    }

    [Fact]
    public void AWorkerThatFailsMidRunFailsTheRunAndTheProgramNamesTheCause()
    {
        // Checkpoints only every 50 steps, so the swap below, made on the watcher's line for the first (it polls every
        // 300 ms), is done long before rank 0 writes the next one; kept transitions would add checkpoints in between.
        var runFolder = fixture.CheckpointsOf("worker-fails");
        string[] args = ["run", .. Tiny("worker-fails", steps: 200), "--checkpoint.everySteps=50", "--checkpoint.atStageTransitions=false", "--cluster", fixture.Gateway];
        ProgramResult result;
        var clock = Stopwatch.StartNew();
        using (var run = GrowLengthProgram.Start(temp.Path, args))
        {
            run.WaitForLine("checkpoint at step 50:", 90);
            // A file where rank 0's next checkpoint folder should be fails that write, even for root, where permissions
            // would not. (The run's folder stays: it also holds the run's ledger.)
            File.WriteAllText(Path.Combine(runFolder, "step-000000000100"), "not a checkpoint folder");
            result = run.WaitForExit(120);
        }
        Log(string.Join(' ', args), clock.Elapsed, result);
        Assert.True(result.ExitCode == 1, Because(result));
        var failed = FailedLine().Match(result.Stderr);
        Assert.True(failed.Success, Because(result));
        long step = long.Parse(failed.Groups[1].Value);
        Assert.True(step >= 100 && step < 200, Because(result));
        // The cause is the worker's own error: the IOException names the path it could not use.
        Assert.Contains(runFolder, failed.Groups[2].Value);
        Assert.DoesNotContain("   at ", result.Output);

        var status = Program(60, "status", "worker-fails");
        Assert.True(status.ExitCode == 0, Because(status));
        var flat = Blanks().Replace(status.Stdout, " ");
        Assert.Contains("state Failed: worker 0: ", flat);
        Assert.Contains($"progress step {step}, ", flat);
    }

    /// <summary>The tiny preset on the fixture's corpus over <paramref name="steps"/> steps, as run <paramref name="runId"/>.</summary>
    private string[] Tiny(string runId, int steps) =>
        ["--preset", "tiny", $"--data.path={fixture.Corpus}", $"--budget.tokens={TokensPerStep * steps}", "--run-id", runId];

    private ProgramResult Program(int timeoutSeconds, params string[] args)
    {
        var clock = Stopwatch.StartNew();
        var result = GrowLengthProgram.Run(temp.Path, timeoutSeconds, [.. args, "--cluster", fixture.Gateway]);
        Log(string.Join(' ', args), clock.Elapsed, result);
        return result;
    }

    // Every program's output, also for passing facts (dotnet test --logger "console;verbosity=detailed" shows it).
    private void Log(string command, TimeSpan took, ProgramResult result) =>
        output.WriteLine($"growlength {command} ({took.TotalSeconds:F1} s): {result}");

    private static string LastLine(string text) => text.TrimEnd().Split('\n')[^1].Trim();

    /// <summary>A failed assertion's context: the program's output and the end of the silo's log.</summary>
    private string Because(ProgramResult result)
    {
        var silo = fixture.Silo.Output;
        return $"{result}\n--- silo (last 6000 characters) ---\n{silo[Math.Max(0, silo.Length - 6000)..]}";
    }
}
