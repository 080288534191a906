using System.Globalization;
using System.Text;
using System.Text.Json;

namespace GrowLength.Training.Compare;

/// <summary>One budget of a sweep: training seconds per run, the sub-folder its comparison is written to, and that comparison.</summary>
public sealed record SweepBudget(double Seconds, string Folder, CompareReport Report);

/// <summary>One schedule at one budget of a sweep: the numbers its budget's comparison summarises.</summary>
/// <param name="Folder">the budget's sub-folder (relative to the sweep's), holding its compare.md.</param>
/// <param name="Reached">n of <see cref="SpeedUp"/>: repeats that reached the baseline's final loss.</param>
/// <param name="Sustained">n of <see cref="SustainedSpeedUp"/>: repeats that reached it and stayed at or below it.</param>
public sealed record SweepRow(double BudgetSeconds, string Folder, string Schedule, int Runs, Spread FinalLoss, Spread SpeedUp,
    int Reached, Spread SustainedSpeedUp, int Sustained);

/// <summary>The smallest budget (training seconds per run) at which the method's speed-up interval lies wholly above 1x;
/// null when no budget of the sweep shows it.</summary>
public sealed record Crossover(string Schedule, double? FirstReachedSeconds, double? SustainedSeconds);

/// <summary>A budget sweep: every arm at every budget, summarised per budget and arm, with the budget where GrowLength
/// starts to win; written as sweep.json and sweep.md.</summary>
/// <param name="Budgets">training seconds per run, ascending.</param>
public sealed record SweepReport(CompareSettings Settings, IReadOnlyList<double> Budgets, IReadOnlyList<SweepRow> Rows, Crossover Crossover)
{
    /// <summary>The rule <see cref="Crossover"/> follows, for the report.</summary>
    public const string CrossoverRule = "the smallest budget at which every repeat of the schedule reached the target (for the sustained "
        + "figure: reached it and stayed at or below it), there are at least two repeats, and the lower end of the speed-up's 95% interval is above 1x";

    /// <summary>The sweep over <paramref name="budgets"/> (any order), each summarised by its own comparison.</summary>
    public static SweepReport Of(CompareSettings settings, IReadOnlyList<SweepBudget> budgets)
    {
        var rows = budgets.OrderBy(b => b.Seconds).SelectMany(b => b.Report.Summaries.Select(x =>
            new SweepRow(b.Seconds, b.Folder, x.Schedule, x.Repeats, x.FinalLoss, x.SpeedUp, x.Reached, x.SustainedSpeedUp, x.Sustained))).ToList();
        return new SweepReport(settings, [.. budgets.Select(b => b.Seconds).Order()], rows,
            new Crossover(CompareArm.Method, CrossoverOf(rows, sustained: false), CrossoverOf(rows, sustained: true)));
    }

    /// <summary>The smallest budget at which <paramref name="schedule"/>'s speed-up (first reached, or sustained) is
    /// above 1x with 95% confidence by <see cref="CrossoverRule"/>; null when none is.</summary>
    public static double? CrossoverOf(IReadOnlyList<SweepRow> rows, bool sustained, string schedule = CompareArm.Method)
    {
        foreach (var row in rows.Where(r => r.Schedule == schedule).OrderBy(r => r.BudgetSeconds))
        {
            var (speedUp, n) = sustained ? (row.SustainedSpeedUp, row.Sustained) : (row.SpeedUp, row.Reached);
            // A repeat that never reached the target (or rose above it again) would pull the speed-up down; an interval
            // over the others alone would claim more than the runs show.
            if (n == row.Runs && speedUp.HasInterval && speedUp.Low > 1) return row.BudgetSeconds;
        }
        return null;
    }

    /// <summary>The sweep as JSON (NaN where a number does not exist).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, CompareReport.JsonOptions);

    /// <summary>The sweep as Markdown: the table per budget and schedule, the method, the crossover, the plots.</summary>
    public string ToMarkdown(IReadOnlyList<string> plots)
    {
        var s = Settings;
        var md = new StringBuilder();
        md.AppendLine("# GrowLength budget sweep").AppendLine();
        md.AppendLine("```").AppendLine(s.Command).AppendLine("```").AppendLine();
        md.AppendLine($"- started {s.Started:yyyy-MM-dd HH:mm} UTC on {s.Machine}");
        md.AppendLine($"- model {s.Model} ({s.Parameters:N0} parameters), tokenizer {s.Tokenizer}, seed {s.Seed} (+ repeat − 1), peak learning rate {F(s.PeakLearningRate, "G3")}");
        md.AppendLine($"- budgets per run: {s.Budget}; {s.GlobalBatchTokens:N0} tokens per step; {s.Repeats} repeat(s) of each schedule at each budget, "
            + "run repeat by repeat (within a repeat every budget, within a budget every schedule), so the machine's drift reaches every arm alike");
        md.AppendLine($"- validation: loss at length {s.CurveLength} on the same {s.Windows} held-out windows for every run");
        md.AppendLine("- each budget's full comparison: " + string.Join(", ", Rows.Select(r => r.Folder).Distinct().Select(f => $"[{f}]({f}/compare.md)")));
        md.AppendLine();

        md.AppendLine($"## Speed-up over {CompareArm.Baseline} against the budget (mean and 95% interval over the repeats)").AppendLine();
        md.AppendLine($"| budget | schedule | runs | final loss @{s.CurveLength} | speed-up, first reached | reached | speed-up, sustained | sustained |");
        md.AppendLine("|---:|---|---:|---:|---:|---:|---:|---:|");
        foreach (var r in Rows)
            md.AppendLine($"| {F(r.BudgetSeconds, "0.###")} s | {r.Schedule} | {r.Runs} | {r.FinalLoss.Text("F4")} | {r.SpeedUp.Text("F2", "x")} | "
                + $"{r.Reached}/{r.Runs} | {r.SustainedSpeedUp.Text("F2", "x")} | {r.Sustained}/{r.Runs} |");
        md.AppendLine();
        md.AppendLine($"Interval: {Spread.Method}; n=1 has none. Speed-up: the same repeat's {CompareArm.Baseline} time to its own final loss "
            + $"over this schedule's time to reach that loss, then {Spread.RatioMethod}. \"First reached\" is over the repeats that reached "
            + "the target; \"sustained\" over only those that stayed at or below it at every later validation point.");
        md.AppendLine();

        md.AppendLine("## Crossover").AppendLine();
        var c = Crossover;
        md.AppendLine($"Where {c.Schedule} starts to reach {CompareArm.Baseline}'s final loss sooner with 95% confidence: {CrossoverRule}.").AppendLine();
        md.AppendLine($"- first reached: {Where(c.FirstReachedSeconds)}");
        md.AppendLine($"- sustained: {Where(c.SustainedSeconds)}");
        md.AppendLine();

        if (plots.Count > 0)
        {
            md.AppendLine("## Plots").AppendLine();
            foreach (var plot in plots) md.AppendLine($"![{Path.GetFileNameWithoutExtension(plot)}]({plot})").AppendLine();
        }
        return md.ToString();
    }

    private string Where(double? seconds) =>
        seconds is { } b ? $"{F(b, "0.###")} s of training per run"
        : !Rows.Any(r => r.Schedule == Crossover.Schedule) ? $"none (the sweep has no {Crossover.Schedule} arm)"
        : !Rows.Any(r => r.Schedule == CompareArm.Baseline) ? $"none (the sweep has no {CompareArm.Baseline} baseline)"
        : Settings.Repeats < 2 ? "none (one repeat gives no interval; use --repeats 3 or more)"
        : "none";

    private static string F(double value, string format) =>
        double.IsFinite(value) ? value.ToString(format, CultureInfo.InvariantCulture) : "–";
}
