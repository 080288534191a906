using System.Globalization;
using GrowLength.Training.Compare;
using ScottPlot;

namespace GrowLength.Client.Reporting;

/// <summary>A budget sweep's plot: each schedule's speed-up over the fixed-max baseline against the budget, with its 95%
/// interval as bars, and a line at 1x. Both axes are logarithmic.</summary>
internal static class SweepPlots
{
    /// <summary>The plot's file name in the sweep's folder.</summary>
    public const string FileName = "speedup-vs-budget.png";

    private const int Width = 900;
    private const int Height = 560;

    /// <summary>Writes the plot into <paramref name="folder"/>; returns its file name.</summary>
    public static string Write(SweepReport sweep, string folder)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        int colour = 0;
        // Budgets grow geometrically (1m, 2m, 4m, …): log10 of the seconds spaces them evenly; the ticks say the seconds.
        var budgets = sweep.Budgets;
        var spacing = budgets.Count > 1 ? Math.Log10(budgets[^1] / budgets[0]) / (budgets.Count - 1) : 0.3;
        foreach (var group in sweep.Rows.GroupBy(r => r.Schedule))
        {
            var color = palette.GetColor(colour++);
            if (group.Key == CompareArm.Baseline) continue; // 1x by definition: the line below
            // The sustained figure sits a little to the right of the first-reached one, so their bars do not overlap.
            Series(plot, group.ToList(), r => r.SpeedUp, color, 0, LinePattern.Solid, $"{group.Key} (first reached)");
            Series(plot, group.ToList(), r => r.SustainedSpeedUp, color, spacing * 0.06, LinePattern.Dashed, $"{group.Key} (sustained)");
        }
        // A speed-up is a ratio and its interval is symmetric in log(speed-up): on a linear axis one wide interval from three
        // repeats (0.1x to 20x) flattened every other figure against the 1x line.
        var one = plot.Add.HorizontalLine(0, 1, Colors.Gray, LinePattern.Dashed);
        one.LegendText = $"1x ({CompareArm.Baseline})";

        var ticks = new ScottPlot.TickGenerators.NumericManual();
        foreach (var b in budgets) ticks.AddMajor(Math.Log10(b), b.ToString("0.###", CultureInfo.InvariantCulture));
        plot.Axes.Bottom.TickGenerator = ticks;
        var low = Math.Log10(budgets[0]) - spacing / 2;
        var high = Math.Log10(budgets[^1]) + spacing / 2;
        plot.Axes.SetLimitsX(low, high);
        plot.Axes.Left.TickGenerator = RatioTicks(sweep);

        var reps = sweep.Settings.Repeats;
        plot.Title($"Speed-up over {CompareArm.Baseline} to its final loss at length {sweep.Settings.CurveLength}, by budget");
        plot.XLabel("training budget per run (s, log scale)");
        plot.YLabel(reps >= 2 ? $"speed-up (log scale; geometric mean, 95% interval, n = {reps})" : "speed-up (log scale; one repeat, no interval)");
        plot.ShowLegend(Alignment.UpperLeft);
        plot.SavePng(Path.Combine(folder, FileName), Width, Height);
        return FileName;
    }

    private static void Series(Plot plot, IReadOnlyList<SweepRow> rows, Func<SweepRow, Spread> pick, Color color, double shift,
        LinePattern pattern, string legend)
    {
        var points = rows.Select(r => (X: Math.Log10(r.BudgetSeconds) + shift, S: pick(r))).Where(p => p.S.Count > 0).ToList();
        if (points.Count == 0) return;
        var line = plot.Add.Scatter(points.Select(p => p.X).ToArray(), points.Select(p => Math.Log10(p.S.Mean)).ToArray(), color);
        line.LineWidth = 2;
        line.LinePattern = pattern;
        line.MarkerSize = 7;
        line.LegendText = legend;
        var bars = points.Where(p => p.S.HasInterval).ToList();
        if (bars.Count == 0) return;
        var zero = bars.Select(_ => 0.0).ToArray();
        var error = new ScottPlot.Plottables.ErrorBar(
            bars.Select(p => p.X).ToArray(), bars.Select(p => Math.Log10(p.S.Mean)).ToArray(), zero, zero,
            bars.Select(p => Math.Log10(p.S.High / p.S.Mean)).ToArray(), bars.Select(p => Math.Log10(p.S.Mean / p.S.Low)).ToArray())
        { Color = color };
        plot.Add.Plottable(error);
    }

    /// <summary>Ticks at the powers of two (…, 0.5x, 1x, 2x, 4x, …) that span every figure and interval plotted, at their log10.</summary>
    private static ScottPlot.TickGenerators.NumericManual RatioTicks(SweepReport sweep)
    {
        var values = sweep.Rows.SelectMany(r => new[] { r.SpeedUp, r.SustainedSpeedUp }).Where(s => s.Count > 0)
            .SelectMany(s => s.HasInterval ? new[] { s.Low, s.Mean, s.High } : [s.Mean]).Where(v => v > 0 && double.IsFinite(v)).Append(1.0).ToList();
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        for (int e = (int)Math.Floor(Math.Log2(values.Min())); e <= (int)Math.Ceiling(Math.Log2(values.Max())); e++)
        {
            var ratio = Math.Pow(2, e);
            ticks.AddMajor(Math.Log10(ratio), ratio.ToString("0.###", CultureInfo.InvariantCulture) + "x");
        }
        return ticks;
    }
}
