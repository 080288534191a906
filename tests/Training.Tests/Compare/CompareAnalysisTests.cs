using GrowLength.Training.Compare;
using GrowLength.Training.Evaluation;
using GrowLength.Training.Model;

namespace GrowLength.Training.Tests.Compare;

public sealed class CompareAnalysisTests
{
    private static CompareRunResult Run(string schedule, int repeat, (double Seconds, double Loss)[] curve, LengthChange[]? lengths = null, StepLoss[]? steps = null) =>
        new(schedule, repeat, 1000 + repeat, $"{schedule}-r{repeat}", 10, 1000, curve[^1].Seconds, 2048,
            curve.Select((p, i) => new CurvePoint(i, i * 100, p.Seconds, p.Loss)).ToList(),
            lengths ?? [new LengthChange(0, 2048, 0, 0, 0)], steps ?? [], [], 2048);

    [Fact]
    public void TheTimeToATargetIsInterpolatedBetweenTheStraddlingPoints()
    {
        var curve = Run("g", 1, [(0, 5.0), (10, 3.0), (20, 2.0), (30, 1.5)]).Curve;
        Assert.Equal(15.0, CompareAnalysis.SecondsToReach(curve, 2.5)!.Value, 9);  // halfway from 3.0 at 10 s to 2.0 at 20 s
        Assert.Equal(20.0, CompareAnalysis.SecondsToReach(curve, 2.0)!.Value, 9);  // exactly on a point
        Assert.Equal(0.0, CompareAnalysis.SecondsToReach(curve, 6.0)!.Value, 9);   // below the target from the start
        Assert.Null(CompareAnalysis.SecondsToReach(curve, 1.0));                   // never reached
    }

    [Fact]
    public void TheFirstCrossingCountsEvenWhenTheLossRisesAgain()
    {
        var curve = Run("g", 1, [(0, 5.0), (10, 2.0), (20, 2.6), (30, 1.9)]).Curve;
        Assert.Equal(10.0 * (5.0 - 2.5) / 3.0, CompareAnalysis.SecondsToReach(curve, 2.5)!.Value, 9);
    }

    [Fact]
    public void SpeedUpsArePairedWithTheSameRepeatsBaseline()
    {
        var runs = new[]
        {
            Run("fixed-max", 1, [(0, 5.0), (50, 3.0), (100, 2.0)]),
            Run("growlength", 1, [(0, 5.0), (25, 2.0), (100, 1.5)]),
            Run("fixed-max", 2, [(0, 5.0), (100, 2.2)]),
            Run("growlength", 2, [(0, 5.0), (50, 2.2), (100, 1.6)]),
            Run("fixed-min", 1, [(0, 5.0), (100, 4.0)]),
        };
        var targets = CompareAnalysis.TargetTimes(runs);
        var g1 = targets.Single(t => t.Schedule == "growlength" && t.Repeat == 1);
        Assert.Equal(2.0, g1.TargetLoss);
        Assert.Equal(25.0, g1.SecondsToTarget!.Value, 9);
        Assert.Equal(4.0, g1.SpeedUp!.Value, 9);
        var g2 = targets.Single(t => t.Schedule == "growlength" && t.Repeat == 2);
        Assert.Equal(2.0, g2.SpeedUp!.Value, 9);
        Assert.Equal(1.0, targets.Single(t => t.Schedule == "fixed-max" && t.Repeat == 1).SpeedUp!.Value, 9);
        var never = targets.Single(t => t.Schedule == "fixed-min");
        Assert.Null(never.SecondsToTarget);
        Assert.Null(never.SpeedUp);

        var summaries = CompareAnalysis.Summaries(runs, targets);
        var g = summaries.Single(s => s.Schedule == "growlength");
        Assert.Equal(2, g.Repeats);
        Assert.Equal(Math.Sqrt(8), g.SpeedUp.Mean, 9); // the geometric mean of 4x and 2x
        Assert.Equal(2.0, g.SpeedUp.Min, 9);
        Assert.Equal(4.0, g.SpeedUp.Max, 9);
        Assert.Equal(2, g.Reached);
        Assert.Equal((1.5 + 1.6) / 2, g.FinalLoss.Mean, 9);
        Assert.Equal(0, summaries.Single(s => s.Schedule == "fixed-min").Reached);
    }

    [Fact]
    public void TheSpeedUpIntervalIsOverThePerRepeatLogRatios()
    {
        // Three repeats, each baseline reaching its own final loss at 100 s; growlength reaches it at 50, 25 and 40 s:
        // per-repeat speed-ups 2, 4 and 2.5, whatever the other repeats' baselines did.
        var runs = new List<CompareRunResult>();
        foreach (var (repeat, target, seconds) in new[] { (1, 2.0, 50.0), (2, 2.3, 25.0), (3, 1.9, 40.0) })
        {
            runs.Add(Run("fixed-max", repeat, [(0, 5.0), (100, target)]));
            runs.Add(Run("growlength", repeat, [(0, 5.0), (seconds, target), (100, target - 0.2)]));
        }
        var g = CompareAnalysis.Summaries(runs, CompareAnalysis.TargetTimes(runs)).Single(s => s.Schedule == "growlength");
        double[] logs = [Math.Log(2), Math.Log(4), Math.Log(2.5)];
        var mean = logs.Average();
        var se = Math.Sqrt(logs.Sum(x => (x - mean) * (x - mean)) / 2 / 3);
        var t = 4.302653; // t(0.975, 2)
        Assert.Equal(3, g.SpeedUp.Count);
        Assert.Equal(Math.Exp(mean), g.SpeedUp.Mean, 9);
        Assert.Equal(Math.Exp(mean - t * se), g.SpeedUp.Low, 5);
        Assert.Equal(Math.Exp(mean + t * se), g.SpeedUp.High, 5);
        Assert.Equal(3, g.Sustained);
        Assert.Equal(g.SpeedUp, g.SustainedSpeedUp);
        // The final loss's interval is an ordinary t interval over the three final losses.
        var finals = Spread.Of([2.0 - 0.2, 2.3 - 0.2, 1.9 - 0.2]);
        Assert.Equal(finals, g.FinalLoss);
        Assert.Equal(Math.Exp(finals.Low), g.FinalPerplexity.Low, 12);
    }

    [Fact]
    public void ACurveThatDipsBelowTheTargetAndRisesAgainIsNotSustained()
    {
        var dips = Run("fixed-min", 1, [(0, 5.0), (10, 2.4), (20, 1.9), (30, 2.2), (40, 2.1)]).Curve;
        var stays = Run("growlength", 1, [(0, 5.0), (10, 2.4), (20, 1.9), (30, 1.95), (40, 1.8)]).Curve;
        Assert.False(CompareAnalysis.StaysAtOrBelow(dips, 2.0));
        Assert.True(CompareAnalysis.StaysAtOrBelow(stays, 2.0));
        Assert.False(CompareAnalysis.StaysAtOrBelow(stays, 1.0)); // never reached
        Assert.True(CompareAnalysis.StaysAtOrBelow(stays, 1.8));  // reached at the last point: nothing after it rises
        // Both reach the target at the same time: "first reached" cannot tell them apart.
        Assert.Equal(CompareAnalysis.SecondsToReach(dips, 2.0), CompareAnalysis.SecondsToReach(stays, 2.0));
    }

    [Fact]
    public void ARiseWithinTheEvaluationsStandardErrorStillCountsAsStayingBelow()
    {
        CurvePoint[] noisy = [new(0, 0, 0, 5.0, 0.05), new(1, 100, 10, 1.95, 0.05), new(2, 200, 20, 2.03, 0.05), new(3, 300, 30, 1.9, 0.05)];
        Assert.True(CompareAnalysis.StaysAtOrBelow(noisy, 2.0));     // 2.03 is within 0.05 of the target
        Assert.False(CompareAnalysis.StaysAtOrBelow(noisy, 1.97));   // 2.03 is 0.06 above this one
        // Without a standard error nothing is forgiven.
        Assert.False(CompareAnalysis.StaysAtOrBelow([.. noisy.Select(p => p with { StandardError = double.NaN })], 2.0));
        Assert.Equal(0.0, CompareAnalysis.Tolerance(noisy[0] with { StandardError = double.NaN }));
    }

    [Fact]
    public void BothSpeedUpsAreReportedAndTheSustainedOneLeavesOutRunsThatRoseAgain()
    {
        var runs = new[]
        {
            Run("fixed-max", 1, [(0, 5.0), (100, 2.0)]),
            Run("fixed-min", 1, [(0, 5.0), (20, 2.0), (60, 2.5), (100, 2.6)]),
            Run("fixed-max", 2, [(0, 5.0), (100, 2.0)]),
            Run("fixed-min", 2, [(0, 5.0), (25, 2.0), (100, 1.9)]),
        };
        var targets = CompareAnalysis.TargetTimes(runs);
        var first = targets.Single(t => t is { Schedule: "fixed-min", Repeat: 1 });
        Assert.Equal(5.0, first.SpeedUp!.Value, 9);
        Assert.False(first.Sustained);
        Assert.Null(first.SustainedSpeedUp);
        Assert.True(targets.Single(t => t is { Schedule: "fixed-min", Repeat: 2 }).Sustained);
        Assert.All(targets.Where(t => t.Schedule == "fixed-max"), t => Assert.True(t.Sustained));

        var m = CompareAnalysis.Summaries(runs, targets).Single(s => s.Schedule == "fixed-min");
        Assert.Equal((2, 1), (m.Reached, m.Sustained));
        Assert.Equal(Math.Sqrt(5.0 * 4.0), m.SpeedUp.Mean, 9);
        Assert.Equal(1, m.SustainedSpeedUp.Count);
        Assert.Equal(4.0, m.SustainedSpeedUp.Mean, 9);

        var settings = new CompareSettings("c", DateTimeOffset.UnixEpoch, "test", "tiny", 1000, "bytes", "100 s of training", 512, 2048, 4,
            ["fixed-max", "fixed-min"], 2, 1, 1e-2);
        var report = CompareReport.Of(settings, runs);
        var md = report.ToMarkdown([]);
        Assert.Contains("| fixed-min | 2 | 1,000 | 2.2500 [-2.1972, 6.6972] | 9.488 [0.111, 810.111] | 22.5 [-9.3, 54.3] | 4.47x [1.08x, 18.46x] | 2/2 | 4.00x (n=1) | 1/2 |", md);
        Assert.Contains("| fixed-min | 1 | 1001 | 10 | 1,000 | 100.0 | 2.6000 | 20.0 | 5.00x | no |", md);
        Assert.Contains("| fixed-min | 1,000 | 1.9000–2.6000 | 6.686–13.464 | 20.0–25.0 | 4.00–5.00x | 4.00x |", md);
        Assert.Contains("\"sustained\"", md);
        Assert.Contains("Student's t", md);
        Assert.Contains("log(speed-up)", md);
        var json = System.Text.Json.Nodes.JsonNode.Parse(report.ToJson())!;
        var summary = json["summaries"]!.AsArray().Single(x => (string)x!["schedule"]! == "fixed-min")!;
        Assert.Equal(1, (int)summary["sustained"]!);
        Assert.Equal(4.0, (double)summary["sustainedSpeedUp"]!["mean"]!, 9);
        Assert.Equal(m.SpeedUp.Low, (double)summary["speedUp"]!["low"]!, 12);
        Assert.Equal(2, (int)summary["speedUp"]!["count"]!);
        Assert.Equal(5.0, (double)summary["speedUp"]!["max"]!, 9);
        Assert.False((bool)json["targets"]!.AsArray().Single(t => (string)t!["schedule"]! == "fixed-min" && (int)t["repeat"]! == 1)!["sustained"]!);
    }

    [Fact]
    public void WithoutAFixedMaxBaselineThereAreNoSpeedUps()
    {
        var runs = new[] { Run("growlength", 1, [(0, 5.0), (10, 2.0)]), Run("linear", 1, [(0, 5.0), (10, 2.1)]) };
        Assert.Empty(CompareAnalysis.TargetTimes(runs));
        Assert.All(CompareAnalysis.Summaries(runs, []), s => Assert.Equal(0, s.SpeedUp.Count));
    }

    [Fact]
    public void TransitionLossesAverageTheStepsOnEachSide()
    {
        var lengths = new[] { new LengthChange(0, 128, 0, 0, 0), new LengthChange(1, 256, 4, 400, 8), new LengthChange(2, 512, 8, 800, 20) };
        var steps = new[] { 3.0, 2.8, 2.6, 2.4, 2.3, 2.2, 2.1, 2.0, 1.9, 1.85 }.Select((loss, i) => new StepLoss(i, i < 4 ? 128 : i < 8 ? 256 : 512, loss)).ToArray();
        var run = Run("growlength", 1, [(0, 5.0), (20, 2.0)], lengths, steps);
        var t = CompareAnalysis.Transitions(run, window: 2);
        Assert.Equal(2, t.Count);
        Assert.Equal((128, 256, 4L), (t[0].FromLength, t[0].ToLength, t[0].Step));
        Assert.Equal((2.6 + 2.4) / 2, t[0].Before, 9);
        Assert.Equal((2.3 + 2.2) / 2, t[0].After, 9);
        Assert.Equal(2.4, t[0].LastBefore);
        Assert.Equal(2.3, t[0].FirstAfter);
        Assert.Equal(t[0].After - t[0].Before, t[0].Jump, 12);
        // Only one step after the last change: the mean is over what exists.
        Assert.Equal((1.9 + 1.85) / 2, t[1].After, 9);
    }

    [Fact]
    public void TransitionLossesUseTheValidationPointsAtTheLengthChangesWhenARunHasThem()
    {
        var lengths = new[] { new LengthChange(0, 128, 0, 0, 0), new LengthChange(1, 256, 4, 400, 8), new LengthChange(2, 512, 8, 800, 20) };
        var steps = new[] { 3.0, 2.8, 2.6, 2.4, 2.3, 2.2, 2.1, 2.0, 1.9, 1.85 }.Select((loss, i) => new StepLoss(i, i < 4 ? 128 : i < 8 ? 256 : 512, loss)).ToArray();
        CurvePoint At(long step, double loss, double se, int offset = -1) => new(step, step * 100, step * 2.5, loss, se) { TransitionOffset = offset };
        var curve = new[]
        {
            At(0, 5.0, 0.05), At(4, 2.50, 0.03, 0), At(5, 2.56, 0.04, 1), At(6, 2.45, 0.04, 2),
            At(8, 2.20, 0.02, 0), At(9, 2.18, 0.02, 1), At(10, 2.10, 0.02), // the run ended before a second step at 512
        };
        var run = Run("growlength", 1, [(0, 5.0)], lengths, steps) with { Curve = curve };
        var t = CompareAnalysis.Transitions(run, window: 2);

        Assert.Equal(2, t.Count);
        Assert.All(t, x => Assert.Equal(TransitionSource.Validation, x.Source));
        Assert.Equal((4L, 128, 256), (t[0].Step, t[0].FromLength, t[0].ToLength));
        Assert.Equal((2.50, 2.56, 2.45), (t[0].Before, t[0].After, t[0].AfterSecond));
        Assert.Equal((0.03, 0.04, 0.04), (t[0].BeforeStandardError, t[0].AfterStandardError, t[0].AfterSecondStandardError));
        Assert.Equal(0.06, t[0].Jump, 12);
        Assert.Equal(0.05, t[0].JumpStandardError, 12); // √(0.03² + 0.04²)
        Assert.Equal((2.4, 2.3), (t[0].LastBefore, t[0].FirstAfter));
        Assert.Equal((2.20, 2.18), (t[1].Before, t[1].After));
        Assert.True(double.IsNaN(t[1].AfterSecond), "step 10 is a regular point, not the second after the change");

        // An old run (no transition points) in the same report falls back to the training loss, labelled as such.
        var old = Run("growlength", 2, [(0, 5.0), (20, 2.0)], lengths, steps);
        Assert.All(CompareAnalysis.Transitions(old, window: 2), x => Assert.Equal(TransitionSource.TrainingLoss, x.Source));
        var settings = new CompareSettings("growlength compare", DateTimeOffset.UnixEpoch, "test", "cpu-demo", 3_000_000, "bytes",
            "120 s of training", 4096, 2048, 64, ["growlength"], 2, 1234, 3e-3);
        var md = CompareReport.Of(settings, [run, old]).ToMarkdown([]);
        Assert.Contains("| growlength | 1 | 4 | 128 → 256 | 2.5000 ± 0.0300 | 2.5600 ± 0.0400 | 2.4500 ± 0.0400 | +0.0600 ± 0.0500 |", md);
        Assert.Contains("| growlength | 1 | 8 | 256 → 512 | 2.2000 ± 0.0200 | 2.1800 ± 0.0200 | – | -0.0200 ± 0.0283 |", md);
        Assert.Contains("on the same 64 held-out windows (eval.atTransitions)", md);
        Assert.Contains("Training loss, for runs without validation points at their length changes", md);
        Assert.Contains("| growlength | 2 | 4 | 128 → 256 | 2.6000 | 2.2000 | -0.4000 | 2.4000 | 2.3000 |", md); // the report's 3 steps a side
        var json = System.Text.Json.Nodes.JsonNode.Parse(CompareReport.Of(settings, [run]).ToJson())!;
        Assert.Equal("validation", (string)json["transitions"]![0]!["source"]!);
        Assert.Equal(0.05, (double)json["transitions"]![0]!["jumpStandardError"]!, 12);
        Assert.Equal(1, (int)json["runs"]![0]!["curve"]![2]!["transitionOffset"]!);
        Assert.Equal(0.04, (double)json["runs"]![0]!["curve"]![2]!["standardError"]!, 12);
    }

    [Fact]
    public void TheReportNamesEverySectionAndMarksTheModesBeyondTheTrainedLength()
    {
        EvalResult[] final = [new(2048, RopeScaling.Extrapolate, 2.0, 4, false), new(4096, RopeScaling.Extrapolate, 2.5, 4, true), new(4096, RopeScaling.NtkAware, 2.2, 4, true)];
        var runs = new[]
        {
            Run("fixed-max", 1, [(0, 5.0), (100, 2.0)]) with { Final = final },
            Run("growlength", 1, [(0, 5.0), (40, 2.0), (100, 1.8)],
                [new LengthChange(0, 128, 0, 0, 0), new LengthChange(1, 2048, 5, 500, 50)],
                [new StepLoss(4, 128, 2.5), new StepLoss(5, 2048, 2.4)]) with { Final = final },
        };
        var settings = new CompareSettings("growlength compare --budget 2m", DateTimeOffset.UnixEpoch, "test", "cpu-demo", 3_000_000, "bytes",
            "120 s of training", 16384, 2048, 16, ["fixed-max", "growlength"], 1, 1234, 3e-3);
        var report = CompareReport.Of(settings, runs);
        var md = report.ToMarkdown(["loss-vs-time.png"]);
        Assert.Contains("growlength compare --budget 2m", md);
        Assert.Contains("| growlength | 1 | 1,000 | 1.8000 (n=1) | 6.050 (n=1) | 40.0 (n=1) | 2.50x (n=1) | 1/1 | 2.50x (n=1) | 1/1 |", md);
        Assert.Contains("## Final validation loss per context length (mean and 95% interval over the repeats, RoPE extrapolate)", md);
        Assert.Contains("| growlength | 2.0000 (n=1) | 2.5000 (n=1) |", md);
        Assert.Contains("| 128 → 2048 | 2.5000 | 2.4000 | -0.1000 |", md);
        Assert.Contains("E 12.18 / N 9.03", md);
        Assert.Contains("![loss-vs-time](loss-vs-time.png)", md);
        var json = System.Text.Json.Nodes.JsonNode.Parse(report.ToJson())!;
        Assert.Equal(2.5, (double)json["targets"]![1]!["speedUp"]!, 9);
        Assert.Equal("ntkAware", (string)json["runs"]![0]!["final"]![2]!["mode"]!);
    }
}
