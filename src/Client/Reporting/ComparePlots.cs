using GrowLength.Training.Compare;
using ScottPlot;

namespace GrowLength.Client.Reporting;

/// <summary>The comparison's PNG plots: validation loss against training time and against tokens, and sequence length
/// against time; one colour per schedule, one line per repeat.</summary>
internal static class ComparePlots
{
    private const int Width = 900;
    private const int Height = 560;

    /// <summary>Writes the plots into <paramref name="folder"/>; returns their file names.</summary>
    public static IReadOnlyList<string> Write(CompareReport report, string folder)
    {
        var runs = report.Runs;
        var target = report.Targets.Select(t => t.TargetLoss).Distinct().ToList();
        var files = new List<string>();
        var curveLength = report.Settings.CurveLength;

        files.Add(Save(folder, "loss-vs-time.png", LossPlot(runs, $"Validation loss at length {curveLength} against training time", "training time (s)",
            p => p.Seconds, target)));
        files.Add(Save(folder, "loss-vs-tokens.png", LossPlot(runs, $"Validation loss at length {curveLength} against tokens", "training tokens (millions)",
            p => p.Tokens / 1e6, target)));
        files.Add(Save(folder, "length-vs-time.png", LengthPlot(runs)));
        return files;
    }

    private static Plot LossPlot(IReadOnlyList<CompareRunResult> runs, string title, string xLabel, Func<CurvePoint, double> x, IReadOnlyList<double> targets)
    {
        var plot = new Plot();
        foreach (var (schedule, color, group) in BySchedule(runs))
        {
            bool first = true;
            foreach (var run in group)
            {
                var line = plot.Add.Scatter(run.Curve.Select(x).ToArray(), run.Curve.Select(p => p.Loss).ToArray(), color);
                line.LineWidth = 2;
                line.MarkerSize = 4;
                if (first) line.LegendText = group.Count > 1 ? $"{schedule} (×{group.Count})" : schedule;
                first = false;
            }
        }
        foreach (var t in targets)
        {
            var h = plot.Add.HorizontalLine(t, 1, Colors.Gray, LinePattern.Dashed);
            if (t == targets[0]) h.LegendText = $"{CompareArm.Baseline} final loss";
        }
        // The untrained model's point (about ln V) would squash the curves; show from the best loss to a little above
        // the worst point after the first quarter of each run.
        var losses = runs.SelectMany(r => r.Curve.Skip(Math.Max(1, r.Curve.Count / 4)).Select(p => p.Loss)).Where(double.IsFinite).ToList();
        if (losses.Count > 0)
        {
            double low = runs.SelectMany(r => r.Curve).Min(p => p.Loss), high = losses.Max();
            var pad = Math.Max(0.02, (high - low) * 0.08);
            plot.Axes.SetLimitsY(low - pad, high + pad);
        }
        Label(plot, title, xLabel, "validation loss (nats/token)");
        return plot;
    }

    private static Plot LengthPlot(IReadOnlyList<CompareRunResult> runs)
    {
        var plot = new Plot();
        foreach (var (schedule, color, group) in BySchedule(runs))
        {
            // Repeats change length at nearly the same times; the first repeat stands for its schedule.
            var run = group[0];
            var xs = new List<double>();
            var ys = new List<double>();
            for (int i = 0; i < run.Lengths.Count; i++)
            {
                double end = i + 1 < run.Lengths.Count ? run.Lengths[i + 1].Seconds : run.Seconds;
                xs.Add(run.Lengths[i].Seconds);
                ys.Add(run.Lengths[i].Length);
                xs.Add(end);
                ys.Add(run.Lengths[i].Length);
            }
            var line = plot.Add.Scatter(xs.ToArray(), ys.ToArray(), color);
            line.LineWidth = 2;
            line.MarkerSize = 0;
            line.LegendText = schedule;
        }
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        Label(plot, "Training sequence length against training time", "training time (s)", "sequence length (tokens)");
        return plot;
    }

    private static IEnumerable<(string Schedule, Color Color, List<CompareRunResult> Runs)> BySchedule(IReadOnlyList<CompareRunResult> runs)
    {
        var palette = new ScottPlot.Palettes.Category10();
        int i = 0;
        foreach (var group in runs.GroupBy(r => r.Schedule))
            yield return (group.Key, palette.GetColor(i++), group.ToList());
    }

    private static void Label(Plot plot, string title, string xLabel, string yLabel)
    {
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        plot.ShowLegend(Alignment.UpperRight);
    }

    private static string Save(string folder, string name, Plot plot)
    {
        plot.SavePng(Path.Combine(folder, name), Width, Height);
        return name;
    }
}
