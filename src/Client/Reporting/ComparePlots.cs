using GrowLength.Training.Compare;
using ScottPlot;

namespace GrowLength.Client.Reporting;

/// <summary>The comparison's PNG plots: validation loss against training time (per schedule the mean over the repeats with
/// a band, and each run's points) and against tokens (one line per repeat), and sequence length against time; one colour
/// per schedule.</summary>
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

        files.Add(Save(folder, "loss-vs-time.png", LossBandPlot(runs, $"Validation loss at length {curveLength} against training time", target)));
        files.Add(Save(folder, "loss-vs-tokens.png", LossPlot(runs, $"Validation loss at length {curveLength} against tokens", "training tokens (millions)",
            p => p.Tokens / 1e6, target)));
        files.Add(Save(folder, "length-vs-time.png", LengthPlot(runs)));
        return files;
    }

    /// <summary>Per schedule, the mean of its repeats' curves on a common time grid (each interpolated linearly) with a
    /// band: the 95% t interval from three repeats, the min–max range with two; the legend says which.</summary>
    private static Plot LossBandPlot(IReadOnlyList<CompareRunResult> runs, string title, IReadOnlyList<double> targets)
    {
        var plot = new Plot();
        foreach (var (schedule, color, group) in BySchedule(runs))
        {
            var band = CurveBand.Of([.. group.Select(r => r.Curve)]);
            if (band is not null && band.Kind != BandKind.None)
            {
                var fill = plot.Add.FillY(band.Seconds, band.Low, band.High);
                fill.FillColor = color.WithAlpha(0.2);
                fill.LineWidth = 0;
            }
            if (band is not null)
            {
                var mean = plot.Add.Scatter(band.Seconds, band.Mean, color);
                mean.LineWidth = 2;
                mean.MarkerSize = 0;
                mean.LegendText = band.Kind switch
                {
                    BandKind.Interval95 => $"{schedule} (mean, 95% t interval, n={band.Count})",
                    BandKind.MinMax => $"{schedule} (mean, min–max, n={band.Count})",
                    _ => schedule,
                };
            }
            // The measured points themselves, so the band never hides where the evaluations were.
            foreach (var run in group)
            {
                var points = plot.Add.Scatter(run.Curve.Select(p => p.Seconds).ToArray(), run.Curve.Select(p => p.Loss).ToArray(), color);
                points.LineWidth = 0;
                points.MarkerSize = 4;
                if (band is null && run == group[0]) points.LegendText = schedule;
            }
        }
        Finish(plot, runs, targets, title, "training time (s)");
        return plot;
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
        Finish(plot, runs, targets, title, xLabel);
        return plot;
    }

    /// <summary>The baseline's target lines, y-limits that keep the curves readable, and the labels.</summary>
    private static void Finish(Plot plot, IReadOnlyList<CompareRunResult> runs, IReadOnlyList<double> targets, string title, string xLabel)
    {
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
