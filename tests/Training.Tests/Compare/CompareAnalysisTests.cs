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
        Assert.Equal(3.0, g.SpeedUp.Mean, 9);
        Assert.Equal(2.0, g.SpeedUp.Min, 9);
        Assert.Equal(4.0, g.SpeedUp.Max, 9);
        Assert.Equal(2, g.Reached);
        Assert.Equal((1.5 + 1.6) / 2, g.FinalLoss.Mean, 9);
        Assert.Equal(0, summaries.Single(s => s.Schedule == "fixed-min").Reached);
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
        Assert.Contains("| growlength | 1 | 1,000 | 1.8000 | 6.050 | 40.0 | 2.50x | 1/1 |", md);
        Assert.Contains("| 128 → 2048 | 2.5000 | 2.4000 | -0.1000 |", md);
        Assert.Contains("E 12.18 / N 9.03", md);
        Assert.Contains("![loss-vs-time](loss-vs-time.png)", md);
        var json = System.Text.Json.Nodes.JsonNode.Parse(report.ToJson())!;
        Assert.Equal(2.5, (double)json["targets"]![1]!["speedUp"]!, 9);
        Assert.Equal("ntkAware", (string)json["runs"]![0]!["final"]![2]!["mode"]!);
    }
}
