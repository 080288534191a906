using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using GrowLength.Training.Model;

namespace GrowLength.Training.Compare;

/// <summary>What a comparison was asked to do, for the report's header.</summary>
/// <param name="Budget">the per-run budget in words ("120 s of training" or "4,000,000 tokens").</param>
public sealed record CompareSettings(string Command, DateTimeOffset Started, string Machine, string Model, long Parameters,
    string Tokenizer, string Budget, long GlobalBatchTokens, int CurveLength, int Windows, IReadOnlyList<string> Schedules,
    int Repeats, long Seed, double PeakLearningRate);

/// <summary>A finished comparison: its settings, runs and the numbers computed from them; written as JSON and Markdown.</summary>
public sealed record CompareReport(CompareSettings Settings, IReadOnlyList<CompareRunResult> Runs,
    IReadOnlyList<ScheduleSummary> Summaries, IReadOnlyList<TargetTime> Targets, IReadOnlyList<TransitionLoss> Transitions)
{
    /// <summary>Length changes per run above which the Markdown leaves a schedule's transitions to the JSON (the warm-ups change length often).</summary>
    public const int MaxTransitionsInTable = 8;

    /// <summary>The report of <paramref name="runs"/>, analysed.</summary>
    public static CompareReport Of(CompareSettings settings, IReadOnlyList<CompareRunResult> runs)
    {
        var targets = CompareAnalysis.TargetTimes(runs);
        return new CompareReport(settings, runs, CompareAnalysis.Summaries(runs, targets), targets,
            runs.SelectMany(r => CompareAnalysis.Transitions(r)).ToList());
    }

    /// <summary>The JSON shape of the comparison's files: camelCase, indented, NaN written as "NaN".</summary>
    internal static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    /// <summary>The report as JSON (NaN where a number does not exist).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>The report as Markdown: summary with intervals and ranges, runs, loss and perplexity per length, loss
    /// around length changes, plots.</summary>
    public string ToMarkdown(IReadOnlyList<string> plots)
    {
        var s = Settings;
        var md = new StringBuilder();
        md.AppendLine("# GrowLength comparison").AppendLine();
        md.AppendLine("```").AppendLine(s.Command).AppendLine("```").AppendLine();
        md.AppendLine($"- started {s.Started:yyyy-MM-dd HH:mm} UTC on {s.Machine}");
        md.AppendLine($"- model {s.Model} ({s.Parameters:N0} parameters), tokenizer {s.Tokenizer}, seed {s.Seed} (+ repeat − 1), peak learning rate {F(s.PeakLearningRate, "G3")}");
        md.AppendLine($"- budget per run: {s.Budget}; {s.GlobalBatchTokens:N0} tokens per step at every length; {s.Repeats} repeat(s) of each schedule");
        md.AppendLine($"- validation: loss at length {s.CurveLength} on the same {s.Windows} held-out windows for every run; time is training time (sum of step times), evaluation and checkpoints excluded");
        md.AppendLine();

        var hasBaseline = Targets.Count > 0;
        md.AppendLine("## Summary (mean and 95% interval over the repeats)").AppendLine();
        md.AppendLine(hasBaseline
            ? $"| schedule | runs | tokens | final loss @{s.CurveLength} | perplexity @{s.CurveLength} | s to {CompareArm.Baseline}'s final loss | speed-up, first reached | reached | speed-up, sustained | sustained |"
            : $"| schedule | runs | tokens | final loss @{s.CurveLength} | perplexity @{s.CurveLength} |");
        md.AppendLine(hasBaseline ? "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|" : "|---|---:|---:|---:|---:|");
        foreach (var x in Summaries)
        {
            md.Append($"| {x.Schedule} | {x.Repeats} | {F(x.Tokens.Mean, "N0")} | {x.FinalLoss.Text("F4")} | {x.FinalPerplexity.Text("F3")} |");
            if (hasBaseline)
                md.Append($" {x.SecondsToTarget.Text("F1")} | {x.SpeedUp.Text("F2", "x")} | {x.Reached}/{x.Repeats} | {x.SustainedSpeedUp.Text("F2", "x")} | {x.Sustained}/{x.Repeats} |");
            md.AppendLine();
        }
        md.AppendLine();
        md.AppendLine($"Interval: {Spread.Method}; n is the number of runs a cell is computed from, and a cell from one run says n=1 "
            + "and has no interval.");
        if (hasBaseline)
            md.AppendLine($"Speed-up: {CompareArm.Baseline}'s time to its own final loss over this schedule's time to reach that loss, paired by "
                + $"repeat (same seed), then {Spread.RatioMethod}. \"First reached\" is over the repeats whose validation loss reached "
                + "the target (the reached column is its n); \"sustained\" is over only those whose every later validation point stayed "
                + "at or below the target (within the point's standard error when the evaluation reports one, else exactly), its n in the "
                + "sustained column. A first-reached speed-up without the sustained one is a curve that passed the target and rose above it again.");
        md.AppendLine();
        md.AppendLine("### Range over the repeats (min–max)").AppendLine();
        md.AppendLine(hasBaseline
            ? $"| schedule | tokens | final loss @{s.CurveLength} | perplexity @{s.CurveLength} | s to {CompareArm.Baseline}'s final loss | speed-up, first reached | speed-up, sustained |"
            : $"| schedule | tokens | final loss @{s.CurveLength} | perplexity @{s.CurveLength} |");
        md.AppendLine(hasBaseline ? "|---|---:|---:|---:|---:|---:|---:|" : "|---|---:|---:|---:|");
        foreach (var x in Summaries)
        {
            md.Append($"| {x.Schedule} | {R(x.Tokens, "N0")} | {R(x.FinalLoss, "F4")} | {R(x.FinalPerplexity, "F3")} |");
            if (hasBaseline) md.Append($" {R(x.SecondsToTarget, "F1")} | {R(x.SpeedUp, "F2", "x")} | {R(x.SustainedSpeedUp, "F2", "x")} |");
            md.AppendLine();
        }
        md.AppendLine();

        md.AppendLine("## Runs").AppendLine();
        md.AppendLine($"| schedule | repeat | seed | steps | tokens | train s | final loss @{s.CurveLength} | s to target | speed-up | stays below |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var r in Runs)
        {
            var t = Targets.FirstOrDefault(x => x.Schedule == r.Schedule && x.Repeat == r.Repeat);
            md.AppendLine($"| {r.Schedule} | {r.Repeat} | {r.Seed} | {r.Steps} | {r.Tokens:N0} | {F(r.Seconds, "F1")} | {F(r.FinalLoss, "F4")} | "
                + $"{(t is null ? "" : t.SecondsToTarget is { } st ? F(st, "F1") : "not reached")} | {(t?.SpeedUp is { } su ? F(su, "F2") + "x" : "")} | "
                + $"{(t?.SecondsToTarget is null ? "" : t.Sustained ? "yes" : "no")} |");
        }
        md.AppendLine();

        WriteLossPerLength(md);
        WritePerplexity(md);
        WriteTransitions(md);

        if (plots.Count > 0)
        {
            md.AppendLine("## Plots").AppendLine();
            foreach (var plot in plots) md.AppendLine($"![{Path.GetFileNameWithoutExtension(plot)}]({plot})").AppendLine();
        }
        return md.ToString();
    }

    private void WriteLossPerLength(StringBuilder md)
    {
        var lengths = Summaries.SelectMany(x => x.FinalByLength).Select(l => l.Length).Distinct().Order().ToList();
        if (lengths.Count == 0) return;
        md.AppendLine($"## Final validation loss per context length (mean and 95% interval over the repeats, RoPE {CompareAnalysis.SummaryMode.ToString().ToLowerInvariant()})").AppendLine();
        md.AppendLine("| schedule | " + string.Join(" | ", lengths) + " |");
        md.AppendLine("|---|" + string.Concat(lengths.Select(_ => "---:|")));
        foreach (var x in Summaries)
        {
            var cells = lengths.Select(length => x.FinalByLength.FirstOrDefault(l => l.Length == length) is { } l ? l.Loss.Text("F4") : "");
            md.AppendLine($"| {x.Schedule} | {string.Join(" | ", cells)} |");
        }
        md.AppendLine();
    }

    private void WritePerplexity(StringBuilder md)
    {
        var lengths = Runs.SelectMany(r => r.Final).Select(e => e.Length).Distinct().Order().ToList();
        if (lengths.Count == 0) return;
        md.AppendLine("## Perplexity per context length (final model, mean over the repeats)").AppendLine();
        md.AppendLine("Beyond a run's longest trained length each RoPE mode is shown: E extrapolation, I interpolation, N NTK-aware.").AppendLine();
        md.AppendLine("| schedule | trained to | " + string.Join(" | ", lengths) + " |");
        md.AppendLine("|---|---:|" + string.Concat(lengths.Select(_ => "---:|")));
        foreach (var group in Runs.GroupBy(r => r.Schedule))
        {
            var cells = lengths.Select(length =>
            {
                var results = group.SelectMany(r => r.Final).Where(e => e.Length == length).ToList();
                if (results.Count == 0) return "";
                if (!results.Any(e => e.BeyondTrained)) return F(results.Average(e => e.Perplexity), "F2");
                return string.Join(" / ", results.GroupBy(e => e.Mode).Select(m => $"{ModeLetter(m.Key)} {F(m.Average(e => e.Perplexity), "F2")}"));
            });
            md.AppendLine($"| {group.Key} | {string.Join(", ", group.Select(r => r.TrainedLength).Distinct())} | {string.Join(" | ", cells)} |");
        }
        md.AppendLine();
    }

    private void WriteTransitions(StringBuilder md)
    {
        var shown = Transitions.Where(t => Runs.First(r => r.Schedule == t.Schedule && r.Repeat == t.Repeat).Lengths.Count - 1 <= MaxTransitionsInTable).ToList();
        if (shown.Count == 0) return;
        md.AppendLine("## Loss around each length change").AppendLine();
        md.AppendLine("A loss at a longer length is expected to be lower (more context per prediction), so a jump up is what would show a disruption. "
            + (shown.Count < Transitions.Count ? "Schedules that change length more often are in the JSON." : "")).AppendLine();
        var validation = shown.Where(t => t.Source == TransitionSource.Validation).ToList();
        if (validation.Count > 0)
        {
            md.AppendLine($"Validation loss at length {Settings.CurveLength} on the same {Settings.Windows} held-out windows (eval.atTransitions), ± its standard error "
                + "over the windows: after the last step at the old length, after the first and the second step at the new one. The jump is +1 step − before, "
                + "± √(se² + se²); both are measured on the same windows, so that overstates the noise of the difference.").AppendLine();
            md.AppendLine("| schedule | repeat | step | length | before | +1 step | +2 steps | jump |");
            md.AppendLine("|---|---:|---:|---|---:|---:|---:|---:|");
            foreach (var t in validation)
                md.AppendLine($"| {t.Schedule} | {t.Repeat} | {t.Step} | {t.FromLength} → {t.ToLength} | {Pm(t.Before, t.BeforeStandardError, "F4")} | "
                    + $"{Pm(t.After, t.AfterStandardError, "F4")} | {Pm(t.AfterSecond, t.AfterSecondStandardError, "F4")} | {Pm(t.Jump, t.JumpStandardError, "+0.0000;-0.0000")} |");
            md.AppendLine();
        }
        var training = shown.Where(t => t.Source == TransitionSource.TrainingLoss).ToList();
        if (training.Count > 0)
        {
            md.AppendLine($"Training loss, for runs without validation points at their length changes: mean of the {training[0].Window} steps before and the first "
                + $"{training[0].Window} steps after the change.").AppendLine();
            md.AppendLine("| schedule | repeat | step | length | before | after | change | last step before | first step after |");
            md.AppendLine("|---|---:|---:|---|---:|---:|---:|---:|---:|");
            foreach (var t in training)
                md.AppendLine($"| {t.Schedule} | {t.Repeat} | {t.Step} | {t.FromLength} → {t.ToLength} | {F(t.Before, "F4")} | {F(t.After, "F4")} | {F(t.Jump, "+0.0000;-0.0000")} | {F(t.LastBefore, "F4")} | {F(t.FirstAfter, "F4")} |");
            md.AppendLine();
        }
    }

    // "2.3745 ± 0.0123": a loss with its standard error, the error left out where it is unknown.
    private static string Pm(double value, double standardError, string format) =>
        double.IsFinite(standardError) ? $"{F(value, format)} ± {F(standardError, "F4")}" : F(value, format);

    private static string ModeLetter(RopeScaling mode) => mode switch
    {
        RopeScaling.Extrapolate => "E",
        RopeScaling.Interpolate => "I",
        _ => "N",
    };

    internal static string F(double value, string format) =>
        double.IsFinite(value) ? value.ToString(format, CultureInfo.InvariantCulture) : "–";

    /// <summary>The range; one value is just that value.</summary>
    private static string R(Spread s, string format, string unit = "") =>
        s.Count == 0 ? "–"
        : s.Count == 1 || F(s.Min, format) == F(s.Max, format) ? F(s.Min, format) + unit
        : $"{F(s.Min, format)}–{F(s.Max, format)}{unit}";
}
