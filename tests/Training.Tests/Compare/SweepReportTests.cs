using System.Text.Json.Nodes;
using GrowLength.Training.Compare;

namespace GrowLength.Training.Tests.Compare;

public sealed class SweepReportTests
{
    [Fact]
    public void RunsGoRepeatByRepeatThenBudgetThenArm()
    {
        var order = CompareOrder.Runs(repeats: 2, budgets: 2, arms: 3).ToList();
        Assert.Equal(12, order.Count);
        Assert.Equal([(1, 0, 0), (1, 0, 1), (1, 0, 2), (1, 1, 0), (1, 1, 1), (1, 1, 2), (2, 0, 0)], order.Take(7));
        Assert.Equal((2, 1, 2), order[^1]);
        Assert.Equal(order.Count, order.Distinct().Count());
    }

    private static CompareRunResult Run(string schedule, int repeat, params (double Seconds, double Loss)[] curve) =>
        new(schedule, repeat, 1000 + repeat, $"{schedule}-r{repeat}", 10, 1000, curve[^1].Seconds, 64,
            [.. curve.Select((p, i) => new CurvePoint(i, i * 100, p.Seconds, p.Loss))], [new LengthChange(0, 64, 0, 0, 0)], [], [], 64);

    private static CompareSettings Settings(string budget, int repeats) =>
        new("growlength compare --budgets 10s,20s", DateTimeOffset.UnixEpoch, "test", "tiny", 1000, "bytes", budget, 512, 64, 4,
            ["fixed-max", "growlength"], repeats, 1, 1e-2);

    /// <summary>A budget where every baseline reaches its final loss 2.0 at <paramref name="seconds"/> and growlength
    /// reaches it at seconds over each of <paramref name="speedUps"/> (then stays below).</summary>
    private static SweepBudget Budget(double seconds, params double[] speedUps)
    {
        var runs = new List<CompareRunResult>();
        for (int r = 1; r <= speedUps.Length; r++)
        {
            runs.Add(Run("fixed-max", r, (0, 5.0), (seconds, 2.0)));
            runs.Add(Run("growlength", r, (0, 5.0), (seconds / speedUps[r - 1], 2.0), (seconds, 1.9)));
        }
        return new SweepBudget(seconds, $"budget-{seconds}s", CompareReport.Of(Settings($"{seconds} s of training", speedUps.Length), runs));
    }

    [Fact]
    public void TheCrossoverIsTheSmallestBudgetWhoseIntervalIsAboveOne()
    {
        // At 10 s the speed-ups straddle 1x (interval below 1 at its low end); at 20 s and 40 s they are all well above.
        var sweep = SweepReport.Of(Settings("10 s, 20 s, 40 s of training", 3), [Budget(40, 2.0, 2.1, 1.9), Budget(10, 0.8, 1.3, 1.0), Budget(20, 1.5, 1.6, 1.55)]);
        Assert.Equal([10.0, 20.0, 40.0], sweep.Budgets);
        Assert.Equal([10.0, 10.0, 20.0, 20.0, 40.0, 40.0], sweep.Rows.Select(r => r.BudgetSeconds));
        var at10 = sweep.Rows.Single(r => r is { BudgetSeconds: 10, Schedule: "growlength" });
        Assert.True(at10.SpeedUp.Low < 1);
        Assert.Equal(Spread.OfRatios([0.8, 1.3, 1.0]).Mean, at10.SpeedUp.Mean, 9);
        Assert.Equal(20.0, sweep.Crossover.FirstReachedSeconds);
        Assert.Equal(20.0, sweep.Crossover.SustainedSeconds);

        var md = sweep.ToMarkdown([SweepPlotName]);
        Assert.Contains("- first reached: 20 s of training per run", md);
        Assert.Contains("| 20 s | growlength | 3 |", md);
        Assert.Contains("[budget-10s](budget-10s/compare.md)", md);
        Assert.Contains($"![speedup-vs-budget]({SweepPlotName})", md);
        Assert.Contains("Student's t", md);

        var json = JsonNode.Parse(sweep.ToJson())!;
        Assert.Equal(20.0, (double)json["crossover"]!["firstReachedSeconds"]!);
        var row = json["rows"]!.AsArray().Single(r => (double)r!["budgetSeconds"]! == 40 && (string)r["schedule"]! == "growlength")!;
        Assert.Equal(Spread.OfRatios([2.0, 2.1, 1.9]).Low, (double)row["speedUp"]!["low"]!, 9);
        Assert.Equal(3, (int)row["speedUp"]!["count"]!);
        Assert.Equal(3, (int)row["sustained"]!);
        Assert.True(double.IsFinite((double)row["finalLoss"]!["high"]!));
    }

    private const string SweepPlotName = "speedup-vs-budget.png";

    [Fact]
    public void ARepeatThatNeverReachedTheTargetOrOneRepeatRulesACrossoverOut()
    {
        var missed = Budget(20, 3.0, 3.1, 2.9);
        // Repeat 3 of growlength never reaches the baseline's loss: the two that did cannot speak for all three.
        var runs = missed.Report.Runs.Select(r => r is { Schedule: "growlength", Repeat: 3 } ? Run("growlength", 3, (0, 5.0), (20, 2.5)) : r).ToList();
        missed = missed with { Report = CompareReport.Of(missed.Report.Settings, runs) };
        var sweep = SweepReport.Of(Settings("20 s of training", 3), [missed]);
        Assert.Equal(2, sweep.Rows.Single(r => r.Schedule == "growlength").Reached);
        Assert.Null(sweep.Crossover.FirstReachedSeconds);
        Assert.Contains("- first reached: none", sweep.ToMarkdown([]));

        var single = SweepReport.Of(Settings("20 s of training", 1), [Budget(20, 5.0)]);
        Assert.Null(single.Crossover.FirstReachedSeconds);
        Assert.Contains("none (one repeat gives no interval", single.ToMarkdown([]));
        Assert.Contains("5.00x (n=1)", single.ToMarkdown([]));
    }

    [Fact]
    public void TheSustainedCrossoverNeedsEveryRepeatToStayBelow()
    {
        var b = Budget(20, 2.0, 2.2, 2.1);
        // Repeat 2 passes the target at 10 s but ends above it.
        var runs = b.Report.Runs.Select(r => r is { Schedule: "growlength", Repeat: 2 } ? Run("growlength", 2, (0, 5.0), (10, 2.0), (20, 2.3)) : r).ToList();
        var sweep = SweepReport.Of(Settings("20 s of training", 3), [b with { Report = CompareReport.Of(b.Report.Settings, runs) }]);
        var row = sweep.Rows.Single(r => r.Schedule == "growlength");
        Assert.Equal((3, 2), (row.Reached, row.Sustained));
        Assert.Equal(20.0, sweep.Crossover.FirstReachedSeconds);
        Assert.Null(sweep.Crossover.SustainedSeconds);
    }
}
