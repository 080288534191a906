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
