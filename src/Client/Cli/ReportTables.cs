using GrowLength.Training.Evaluation;
using Spectre.Console;

namespace GrowLength.Client.Cli;

/// <summary>The end-of-run tables: tokens/s per stage and perplexity per context length and RoPE mode.</summary>
internal static class ReportTables
{
    public static void WriteStages(IAnsiConsole console, RunSummary summary)
    {
        var table = new Table().Title("Throughput per stage").AddColumns("stage", "length", "steps", "tokens", "seconds", "tokens/s", "last loss");
        foreach (var s in summary.Stages)
            table.AddRow($"{s.Stage}", $"{s.Length}", $"{s.Steps}", $"{s.Tokens:N0}", $"{s.Seconds:F1}", $"{s.TokensPerSecond:N0}", $"{s.LastLoss:F4}");
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
                cells.Add(r is null ? "" : $"{r.Perplexity:F3} (loss {r.Loss:F4})");
            }
            table.AddRow(cells.ToArray());
        }
        console.Write(table);
    }
}
