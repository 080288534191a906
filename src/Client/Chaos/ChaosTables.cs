using System.Globalization;
using Spectre.Console;

namespace GrowLength.Client.Chaos;

/// <summary>The summary `growlength chaos` prints at the end: the actions with their figures, the kill statistics, each
/// silo's memory, the ledger and how the run ended.</summary>
internal static class ChaosTables
{
    public static void Write(IAnsiConsole console, ChaosReport r)
    {
        var actions = new Table().Title("Chaos actions")
            .AddColumns("#", "at (s)", "step", "action", "silo", "ranks", "next step after (s)", "detected after (s)", "recovery (s)", "tokens retrained", "workers", "note");
        foreach (var a in r.Actions)
        {
            actions.AddRow(
                $"{a.Number}", F(a.AtSeconds), $"{a.Step}", Markup.Escape($"{a.Kind.ToString().ToLowerInvariant()}: {a.Description}"),
                a.Silo is { } s ? $"{s} (port {a.Port})" : "", string.Join(",", a.Ranks), F(a.SecondsToNextStep), F(a.DetectionSeconds), F(a.RecoverySeconds),
                a.TokensRetrained is { } t ? $"{t:N0}" : "", a.WorldBefore is { } b ? $"{b} → {a.WorldAfter}" : "", Markup.Escape(a.Skipped is null ? "" : $"skipped: {a.Skipped}"));
        }
        console.Write(actions);

        var k = r.Kills;
        console.MarkupLine($"kills survived: [bold]{k.Survived}[/] of {k.Kills}; kill → next completed step: median {F(k.MedianSecondsToNextStep)} s, worst {F(k.WorstSecondsToNextStep)} s; "
            + $"detection: median {F(k.MedianDetectionSeconds)} s, worst {F(k.WorstDetectionSeconds)} s; tokens retrained per kill: "
            + (k.TokensRetrainedPerKill.Count == 0 ? "-" : string.Join(", ", k.TokensRetrainedPerKill.Select(t => t is { } v ? v.ToString("N0", CultureInfo.InvariantCulture) : "?"))));

        var memory = new Table().Title("Silo resident memory").AddColumns("silo", "port", "pid", "fate", "start (MiB)", "end (MiB)");
        foreach (var m in r.Memory)
            memory.AddRow($"{m.Silo}{(m.Primary ? " (primary)" : "")}", $"{m.Port}", $"{m.Pid}", m.Fate, MiB(m.StartBytes), MiB(m.EndBytes));
        console.Write(memory);

        console.MarkupLine(r.Ledger is { } l
            ? l.Exact
                ? $"ledger: [green]exact[/]: {l.Steps:N0} steps, {l.Tokens:N0} tokens, {l.TokensRetrained:N0} retrained, {l.Epochs} epochs"
                : $"ledger: [red]not exact[/]: {Markup.Escape(l.Problem ?? "?")} ({l.Steps:N0} steps, {l.Tokens:N0} tokens, {l.Epochs} epochs)"
            : $"ledger: [red]not read[/]: {Markup.Escape(r.LedgerError ?? "?")}");
        console.MarkupLine($"run [bold]{Markup.Escape(r.RunId)}[/]: {r.Lifecycle} at step {r.Step}{(r.Reason is null ? "" : $" ({Markup.Escape(r.Reason)})")}, "
            + $"loss {F(r.FinalLoss, "F4")}, {r.Recoveries} recoveries; {r.WallSeconds:F0} s in all; files in {Markup.Escape(r.Folder)}");
    }

    private static string F(double? value, string format = "F1") => value is { } v ? v.ToString(format, CultureInfo.InvariantCulture) : "-";

    private static string MiB(long? bytes) => bytes is { } b ? (b / 1048576.0).ToString("F0", CultureInfo.InvariantCulture) : "-";
}
