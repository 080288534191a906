using System.Text.Json;
using System.Text.Json.Nodes;

namespace GrowLength.Client.Tests;

/// <summary>`growlength compare` end to end on the tiny preset: every schedule trains through the embedded silo, then the
/// plots and tables are written; and its bad input.</summary>
public sealed class CompareTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    private string Home => temp.Combine("home");

    private ProgramResult Compare(int timeoutSeconds, params string[] args) =>
        GrowLengthProgram.Run(temp.Path, timeoutSeconds, ["compare", "--home", Home, .. args]);

    private static void AssertPng(string path)
    {
        Assert.True(File.Exists(path), $"{path} is missing");
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, bytes[..8]);
        // IHDR: width and height, big-endian, right after the chunk's length and type.
        Assert.Equal(900, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)));
        Assert.Equal(560, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
        Assert.True(bytes.Length > 10_000, $"{path} is only {bytes.Length} bytes: an empty plot?");
    }

    [Fact]
    public void SchedulesTrainSideBySideAndTheComparisonIsWritten()
    {
        var corpus = temp.WriteTinyCorpus();
        var output = temp.Combine("out");
        var result = Compare(300, "--preset", "tiny", $"--data.path={corpus}", "--schedules", "growlength,fixed-min,fixed-max",
            "--tokens", "6144", "--repeats", "2", "--eval-points", "3", "--out", output);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("comparing growlength, fixed-min, fixed-max × 2", result.Stdout);
        Assert.Contains("fixed-max repeat 2/2: run tiny-fixed-max-r2 (seed 1235)", result.Stdout);
        Assert.Contains("speed-up", result.Stdout);

        foreach (var plot in new[] { "loss-vs-time.png", "loss-vs-tokens.png", "length-vs-time.png" }) AssertPng(Path.Combine(output, plot));
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "compare.json")))!;
        var runs = json["runs"]!.AsArray();
        Assert.Equal(6, runs.Count);
        foreach (var run in runs)
        {
            Assert.Equal(6144, (long)run!["tokens"]!);
            Assert.Equal(64, (int)run["curveLength"]!); // fixed-min trains at 16 and is still scored at 64
            var curve = run["curve"]!.AsArray();
            // The untrained model, every 4th of 12 steps, and the end.
            Assert.Equal([0L, 4L, 8L, 12L], curve.Select(p => (long)p!["steps"]!));
            Assert.All(curve, p => Assert.True(double.IsFinite((double)p!["loss"]!)));
            Assert.True((double)curve[^1]!["loss"]! < (double)curve[0]!["loss"]!, $"validation loss did not fall in {run["runId"]}");
            Assert.NotEmpty(run["final"]!.AsArray());
        }
        // Two repeats: every summary has a 95% interval from n = 2, and the range beside it.
        foreach (var summary in json["summaries"]!.AsArray())
        {
            var loss = summary!["finalLoss"]!;
            Assert.Equal(2, (int)loss["count"]!);
            Assert.True((double)loss["low"]! <= (double)loss["mean"]! && (double)loss["mean"]! <= (double)loss["high"]!, loss.ToJsonString());
            Assert.True((double)loss["low"]! <= (double)loss["min"]! && (double)loss["max"]! <= (double)loss["high"]!, loss.ToJsonString());
            Assert.NotEmpty(summary["finalByLength"]!.AsArray());
            Assert.NotNull(summary["sustainedSpeedUp"]);
        }
        var growlength = runs.First(r => (string)r!["schedule"]! == "growlength")!;
        Assert.Equal([16, 32, 64], growlength["lengths"]!.AsArray().Select(l => (int)l!["length"]!));
        Assert.Equal(16, (int)runs.First(r => (string)r!["schedule"]! == "fixed-min")!["trainedLength"]!);
        Assert.Equal(4, json["transitions"]!.AsArray().Count); // two per growlength run
        Assert.Equal(6, json["targets"]!.AsArray().Count);

        var md = File.ReadAllText(Path.Combine(output, "compare.md"));
        Assert.Contains("## Summary (mean and 95% interval over the repeats)", md);
        Assert.Contains("speed-up, sustained", md);
        Assert.Contains("## Final validation loss per context length", md);
        Assert.Contains("| fixed-max | 2 |", md);
        Assert.Contains("## Loss around each length change", md);
        Assert.Contains("Training loss, for runs without validation points at their length changes", md); // tiny: no eval.atTransitions
        Assert.Contains("| 16 → 32 |", md);
        Assert.Contains("![loss-vs-time](loss-vs-time.png)", md);

        // A second comparison into the same folder would overwrite the first: refused.
        var again = Compare(60, "--preset", "tiny", $"--data.path={corpus}", "--tokens", "6144", "--out", output);
        Assert.True(again.ExitCode == 2, again.ToString());
        Assert.Contains("error: --out:", again.Stderr);
    }

    [Fact]
    public void WithAtTransitionsTheLossAroundEachLengthChangeIsTheValidationLoss()
    {
        var corpus = temp.WriteTinyCorpus();
        var output = temp.Combine("transitions");
        var result = Compare(300, "--preset", "tiny", $"--data.path={corpus}", "--schedules", "growlength", "--tokens", "6144",
            "--eval-points", "3", "--eval.atTransitions=true", "--out", output);
        Assert.True(result.ExitCode == 0, result.ToString());
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "compare.json")))!;
        var curve = json["runs"]![0]!["curve"]!.AsArray();
        // 12 steps of 16 → 32 → 64 from steps 4 and 8; every 4th step besides: 4 and 8 are on both.
        Assert.Equal([0L, 4, 5, 6, 8, 9, 10, 12], curve.Select(p => (long)p!["steps"]!));
        Assert.Equal([-1, 0, 1, 2, 0, 1, 2, -1], curve.Select(p => (int)p!["transitionOffset"]!));
        Assert.All(curve, p => Assert.True((double)p!["standardError"]! > 0));
        var transitions = json["transitions"]!.AsArray();
        Assert.Equal(2, transitions.Count);
        Assert.All(transitions, t => Assert.Equal("validation", (string)t!["source"]!));
        var md = File.ReadAllText(Path.Combine(output, "compare.md"));
        Assert.Contains("| schedule | repeat | step | length | before | +1 step | +2 steps | jump |", md);
        Assert.Contains("| growlength | 1 | 4 | 16 → 32 | ", md);
        Assert.DoesNotContain("Training loss, for runs without", md);
    }

    [Fact]
    public void AnEqualTimeBudgetMeasuresTheCurveByTrainingSeconds()
    {
        var corpus = temp.WriteTinyCorpus();
        var output = temp.Combine("timed");
        var result = Compare(300, "--preset", "tiny", $"--data.path={corpus}", "--schedules", "growlength,fixed-max", "--budget", "3s",
            "--eval-points", "2", "--out", output);
        Assert.True(result.ExitCode == 0, result.ToString());
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "compare.json")))!;
        foreach (var run in json["runs"]!.AsArray())
        {
            Assert.True((double)run!["seconds"]! >= 3.0, $"{run["runId"]} trained {(double)run["seconds"]!} s of a 3 s budget");
            var curve = run["curve"]!.AsArray();
            // The origin, a point each time another 1.5 training seconds have passed (never sooner, however the steps fall),
            // and the end: a cadence in training seconds, whatever the machine's speed.
            Assert.True(curve.Count >= 2, $"{run["runId"]}: {curve.ToJsonString()}");
            Assert.Equal(0.0, (double)curve[0]!["seconds"]!);
            var seconds = curve.Select(p => (double)p!["seconds"]!).ToList();
            for (int i = 1; i < seconds.Count - 1; i++)
                Assert.True(seconds[i] - seconds[i - 1] >= 1.5, $"{run["runId"]}: points {i - 1} and {i} are {seconds[i] - seconds[i - 1]:F3} s apart: {curve.ToJsonString()}");
            Assert.Equal((long)run["steps"]!, (long)curve[^1]!["steps"]!);
        }
        AssertPng(Path.Combine(output, "loss-vs-time.png"));
    }

    [Fact]
    public void ABudgetSweepWritesAComparisonPerBudgetAndTheSpeedUpAgainstTheBudget()
    {
        var corpus = temp.WriteTinyCorpus();
        var output = temp.Combine("sweep");
        var result = Compare(300, "--preset", "tiny", $"--data.path={corpus}", "--schedules", "growlength,fixed-max", "--budgets", "3s,2s",
            "--eval-points", "2", "--out", output);
        Assert.True(result.ExitCode == 0, result.ToString());
        // Repeat, then budget (smallest first), then arm.
        var order = new[] { "tiny-growlength-2s-r1", "tiny-fixed-max-2s-r1", "tiny-growlength-3s-r1", "tiny-fixed-max-3s-r1" };
        var at = order.Select(id => result.Stdout.IndexOf($"run {id}", StringComparison.Ordinal)).ToList();
        Assert.True(at.All(i => i >= 0) && at.SequenceEqual(at.Order()), result.Stdout);
        Assert.Contains("crossover", result.Stdout);

        foreach (var (folder, seconds) in new[] { ("budget-2s", 2.0), ("budget-3s", 3.0) })
        {
            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(output, folder, "compare.json")))!;
            var runs = json["runs"]!.AsArray();
            Assert.Equal(["growlength", "fixed-max"], runs.Select(r => (string)r!["schedule"]!));
            Assert.All(runs, r => Assert.True((double)r!["seconds"]! >= seconds, $"{r!["runId"]} trained {(double)r["seconds"]!} s of {seconds} s"));
            Assert.Contains($"{seconds} s of training", File.ReadAllText(Path.Combine(output, folder, "compare.md")));
            AssertPng(Path.Combine(output, folder, "loss-vs-time.png"));
        }
        Assert.False(File.Exists(Path.Combine(output, "compare.json")));

        var sweep = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "sweep.json")))!;
        Assert.Equal([2.0, 3.0], sweep["budgets"]!.AsArray().Select(b => (double)b!));
        var rows = sweep["rows"]!.AsArray();
        Assert.Equal(4, rows.Count);
        foreach (var row in rows)
        {
            Assert.Equal(1, (int)row!["runs"]!);
            Assert.True(double.IsFinite((double)row["finalLoss"]!["mean"]!), row.ToJsonString());
            Assert.Equal(1, (int)row["finalLoss"]!["count"]!);
            Assert.Equal(JsonValueKind.String, row["finalLoss"]!["low"]!.GetValueKind()); // "NaN": one repeat has no interval
            Assert.Contains((string)row["folder"]!, new[] { "budget-2s", "budget-3s" });
        }
        // The baseline reaches its own final loss: 1x at every budget, and it stays there.
        Assert.All(rows.Where(r => (string)r!["schedule"]! == "fixed-max"), r =>
        {
            Assert.Equal(1.0, (double)r!["speedUp"]!["mean"]!, 9);
            Assert.Equal(1, (int)r["sustained"]!);
        });
        Assert.Null(sweep["crossover"]!["firstReachedSeconds"]); // one repeat: no interval, no crossover claimed
        var md = File.ReadAllText(Path.Combine(output, "sweep.md"));
        Assert.Contains("## Crossover", md);
        Assert.Contains("none (one repeat gives no interval", md);
        Assert.Contains("[budget-3s](budget-3s/compare.md)", md);
        Assert.Contains("![speedup-vs-budget](speedup-vs-budget.png)", md);
        AssertPng(Path.Combine(output, "speedup-vs-budget.png"));

        // A second sweep into the same folder would overwrite the first: refused.
        var again = Compare(60, "--preset", "tiny", $"--data.path={corpus}", "--budgets", "3s", "--out", output);
        Assert.True(again.ExitCode == 2, again.ToString());
        Assert.Contains("error: --out:", again.Stderr);
    }

    [Fact]
    public void BudgetListsAreParsedLikeBudgetsAndSorted()
    {
        Assert.Equal([60.0, 90.0, 240.0], Commands.CompareCommand.ParseBudgets("90s, 1m,4m"));
        Assert.Equal([0.5], Commands.CompareCommand.ParseBudgets("0.5s"));
        Assert.Equal("budget-90s", Commands.CompareCommand.BudgetFolder(90));
        Assert.Equal("budget-2.5s", Commands.CompareCommand.BudgetFolder(2.5));
        foreach (var bad in new[] { "", "1m,,2m", "1m,soon", "1m,60s", "0s", "-1m", "1m," })
        {
            var e = Assert.Throws<GrowLength.Training.RunInputException>(() => Commands.CompareCommand.ParseBudgets(bad));
            Assert.Equal("--budgets", e.Subject);
        }
    }

    private void AssertRejected(ProgramResult result, string expected)
    {
        Assert.True(result.ExitCode == 2, $"expected exit 2; {result}");
        var error = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.StartsWith(expected, error);
        Assert.DoesNotContain("   at ", result.Output);
        Assert.DoesNotContain("comparing", result.Stdout);
        Assert.False(Directory.Exists(Path.Combine(Home, "checkpoints")), $"a run was started; {result}");
        Assert.False(Directory.Exists(temp.Combine("out")), $"the output folder was created; {result}");
    }

    [Theory]
    [InlineData("--schedules=growlength,bogus", "error: --schedules: unknown schedule 'bogus'")]
    [InlineData("--schedules=fixed-max,fixed-max", "error: --schedules: schedule 'fixed-max' is listed twice")]
    [InlineData("--tokens=100", "error: --tokens: 100 tokens is less than one step")]
    [InlineData("--budget=soon", "error: --budget: 'soon' is not a duration")]
    [InlineData("--repeats=0", "error: --repeats:")]
    [InlineData("--eval-points=0", "error: --eval-points:")]
    [InlineData("--schedule.maxLength=4096", "error: schedule.")]
    [InlineData("--budgets=1m,soon", "error: --budgets: 'soon' is not a duration")]
    [InlineData("--budgets=1m,,2m", "error: --budgets: '1m,,2m' has an empty entry")]
    [InlineData("--budgets=1m,60s", "error: --budgets: 60s is listed twice")]
    [InlineData("--budgets=0.000001s,1m", "error: --budgets: 0.000001 s is shorter than one training step")]
    public void BadComparisonSettingsAreNamed(string setting, string expected) =>
        AssertRejected(Compare(60, "--preset", "tiny", "--out", temp.Combine("out"), setting), expected);

    [Theory]
    [InlineData("--budget", "1m", "error: --budgets: give --budgets (a sweep) or --budget, not both")]
    [InlineData("--tokens", "1M", "error: --budgets: give --budgets (a sweep) or --tokens, not both")]
    public void ASweepWithASingleBudgetIsRefused(string option, string value, string expected) =>
        AssertRejected(Compare(60, "--preset", "tiny", "--out", temp.Combine("out"), "--budgets", "1m,2m", option, value), expected);

    [Fact]
    public void BothATimeAndATokenBudgetAreRefused() =>
        AssertRejected(Compare(60, "--preset", "tiny", "--out", temp.Combine("out"), "--budget", "1m", "--tokens", "1M"), "error: --tokens: give --budget (time) or --tokens, not both");

    [Fact]
    public void ATimeBudgetShorterThanOneStepIsRefusedBeforeAnythingStarts() =>
        // A microsecond is shorter than any step on any machine: the compare preset's first step (4,096 tokens at length
        // 128 on the 3 M-parameter demo model, about 80 GFLOP) is a forward and backward of hundreds of libtorch
        // operations, and dispatching one costs about that much alone (the step takes 0.7 s on a 2-core CPU).
        AssertRejected(Compare(120, "--out", temp.Combine("out"), "--budget", "0.000001s"), "error: --budget: 0.000001 s is shorter than one training step");
}
