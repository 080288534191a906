using GrowLength.Grains;
using GrowLength.Training.Evaluation;
using Spectre.Console;

namespace GrowLength.Client.Reporting;

/// <summary>The tables the program prints: tokens/s per stage, perplexity per context length and RoPE mode, run status and its workers.</summary>
internal static class ReportTables
{
    public static void WriteStages(IAnsiConsole console, IReadOnlyList<StageTotals> stages)
    {
        var table = new Table().Title("Throughput per stage").AddColumns("stage", "length", "steps", "tokens", "seconds", "tokens/s", "last loss");
        foreach (var s in stages)
            table.AddRow($"{s.Stage}", $"{s.Length}", $"{s.Steps}", $"{s.Tokens:N0}", $"{s.Seconds:F1}", $"{s.TokensPerSecond:N0}", double.IsNaN(s.LastLoss) ? "" : $"{s.LastLoss:F4}");
        console.Write(table);
    }

    public static void WriteEvaluation(IAnsiConsole console, IReadOnlyList<EvalResult> results)
    {
        var modes = results.Select(r => r.Mode).Distinct().ToList();
        var table = new Table().Title("Validation perplexity per context length").AddColumn("length");
        foreach (var mode in modes) table.AddColumn(mode.ToString());
        foreach (var group in results.GroupBy(r => r.Length))
        {
            var cells = new List<string> { group.First().BeyondTrained ? $"{group.Key} (beyond trained)" : $"{group.Key}" };
            foreach (var mode in modes)
            {
                var r = group.FirstOrDefault(x => x.Mode == mode) ?? (group.First().BeyondTrained ? null : group.First());
                cells.Add(r is null ? "" : $"{r.Perplexity:F3} (loss {r.Loss:F4}{PlusMinus(r.StandardError)})");
            }
            table.AddRow(cells.ToArray());
        }
        console.Write(table);
    }

    /// <summary>" ± 0.0123", the standard error of a validation loss; nothing when it is unknown.</summary>
    public static string PlusMinus(double standardError) => double.IsFinite(standardError) ? $" ± {standardError:F4}" : "";

    /// <summary>The status grid; <paramref name="validation"/> is the run's latest validation-loss point, if any.</summary>
    public static void WriteStatus(IAnsiConsole console, RunStatus s, EvaluationRecord? validation)
    {
        var grid = new Grid().AddColumn().AddColumn();
        void Row(string name, string value) => grid.AddRow(new Text(name), new Text(value));
        Row("run", s.RunId);
        Row("state", s.Reason is null ? $"{s.Lifecycle}" : $"{s.Lifecycle}: {s.Reason}");
        Row("progress", $"step {s.Step}, stage {s.Stage}, length {s.Length}, {s.Tokens:N0} tokens ({s.BudgetFraction * 100:F1}% of the budget)");
        Row("loss", double.IsNaN(s.Loss) ? "(no step seen since the coordinator started)" : $"{s.Loss:F4}");
        if (validation is { } v)
            Row("validation", $"loss {v.Loss:F4}{PlusMinus(v.StandardError)}, perplexity {Math.Exp(v.Loss):F3} at length {v.Length}, step {v.Steps} ({v.Windows} windows)");
        Row("speed", $"{s.TokensPerSecond:N0} tokens/s recently; {s.ElapsedSeconds:F1} s trained; ETA {RunWatcher.FormatEta(s.EtaSeconds)}");
        Row("checkpoint", s.LastCheckpointStep < 0 ? "none yet" : $"step {s.LastCheckpointStep}");
        Row("stages", string.Join(", ", s.Transitions.Select(t => $"{t.Length} from step {t.Step}")));
        Row("workers", WorkersSummary(s));
        var recent = s.Events.TakeLast(3).ToList();
        for (int i = 0; i < recent.Count; i++) Row(i == 0 ? "recent events" : "", $"{recent[i].TimeUtc.ToLocalTime():HH:mm:ss} {recent[i].Message}");
        console.Write(grid);
        if (s.Workers.Length > 0) WriteWorkers(console, s.Workers);
    }

    /// <summary>"2 of target 3 (min 1, max 4); recoveries: 1, last 4.5 s": the epoch's workers against what the run grows
    /// back to, and how often it healed itself. Bounds the coordinator did not report (0) are left out rather than guessed.</summary>
    public static string WorkersSummary(RunStatus s)
    {
        var text = s.TargetWorkers > 0 ? $"{s.WorldSize} of target {s.TargetWorkers}" : $"{s.WorldSize}";
        var bounds = new List<string>();
        if (s.MinWorkers > 0) bounds.Add($"min {s.MinWorkers}");
        if (s.MaxWorkers > 0) bounds.Add($"max {s.MaxWorkers}");
        if (bounds.Count > 0) text += $" ({string.Join(", ", bounds)})";
        if (s.Recoveries > 0)
            text += double.IsFinite(s.LastRecoverySeconds)
                ? $"; recoveries: {s.Recoveries}, last {s.LastRecoverySeconds:F1} s"
                : $"; recoveries: {s.Recoveries}";
        return text;
    }

    /// <summary>One row per worker the coordinator knows: the epoch's members and those it just lost or is adding.</summary>
    public static void WriteWorkers(IAnsiConsole console, IReadOnlyList<WorkerInfo> workers)
    {
        var table = new Table().Title("Workers").AddColumns("rank", "worker", "silo", "device", "state");
        foreach (var w in workers)
            table.AddRow($"{w.Rank}", w.Worker < 0 ? "-" : $"{w.Worker}", Markup.Escape(w.Silo), Markup.Escape(w.Device), StateMarkup(w.State));
        console.Write(table);
    }

    private static string StateMarkup(WorkerState state) => state switch
    {
        WorkerState.Lost or WorkerState.Failed => $"[red]{state}[/]",
        WorkerState.Joining or WorkerState.Aborted => $"[yellow]{state}[/]",
        _ => $"{state}",
    };

    public static void WriteList(IAnsiConsole console, IReadOnlyList<RunStatus> runs)
    {
        var table = new Table().Title("Runs").AddColumns("run", "state", "step", "stage", "length", "tokens", "budget");
        foreach (var s in runs)
            table.AddRow(Markup.Escape(s.RunId), $"{s.Lifecycle}", $"{s.Step}", $"{s.Stage}", $"{s.Length}", $"{s.Tokens:N0}", $"{s.BudgetFraction:P0}");
        console.Write(table);
    }
}
