using System.Diagnostics;
using GrowLength.Training.Engine;
using GrowLength.Training.Evaluation;
using Spectre.Console;

namespace GrowLength.Client.Cli;

/// <summary>Shows a run's progress: every stage transition as a line, and a status line (stage, length, tokens/s, loss, ETA).</summary>
/// <remarks>On a terminal the status line is a live progress bar; when output is redirected it is printed every few seconds.</remarks>
internal sealed class ConsoleProgress(IAnsiConsole console, RunSummary summary, double statusIntervalSeconds = 5) : ITrainingObserver
{
    private readonly Stopwatch sinceStatus = Stopwatch.StartNew();
    private double smoothedTokensPerSecond;
    private ProgressTask? bar;

    /// <summary>Runs <paramref name="work"/> with a live bar on a terminal, or plain lines otherwise.</summary>
    public T Show<T>(string title, Func<T> work)
    {
        if (!console.Profile.Capabilities.Interactive) return work();
        T result = default!;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn())
            .Start(ctx =>
            {
                bar = ctx.AddTask(title, maxValue: 1.0);
                result = work();
                bar.Value = 1.0;
            });
        bar = null;
        return result;
    }

    public void OnStageStarted(StageTransition t) =>
        console.MarkupLine($"[bold]stage {t.Stage}[/]: length [cyan]{t.Length}[/] from step {t.Step} ({t.Tokens:N0} tokens, {t.ElapsedSeconds:F1} s)");

    public void OnStep(StepMetrics m)
    {
        summary.Add(m);
        smoothedTokensPerSecond = smoothedTokensPerSecond == 0 ? m.TokensPerSecond : 0.9 * smoothedTokensPerSecond + 0.1 * m.TokensPerSecond;
        var status = Status(m);
        if (bar is not null)
        {
            bar.Description = Markup.Escape(status);
            bar.Value = m.BudgetFraction;
        }
        else if (sinceStatus.Elapsed.TotalSeconds >= statusIntervalSeconds || m.BudgetFraction >= 1)
        {
            console.WriteLine(status);
            sinceStatus.Restart();
        }
    }

    public void OnCheckpoint(long step, string folder, double seconds) =>
        console.MarkupLine($"[grey]checkpoint at step {step} ({seconds * 1000:F0} ms): {Markup.Escape(folder)}[/]");

    public void OnEvaluation(long step, long tokens, double elapsedSeconds, IReadOnlyList<EvalResult> results)
    {
        foreach (var r in results.Where(r => r.Mode == Training.Model.RopeScaling.Extrapolate))
            console.MarkupLine($"[grey]eval at step {step}: length {r.Length} loss {r.Loss:F4} ppl {r.Perplexity:F2}[/]");
    }

    private string Status(StepMetrics m)
    {
        var remainingFraction = 1 - m.BudgetFraction;
        var eta = m.BudgetFraction > 0 ? TimeSpan.FromSeconds(m.ElapsedSeconds / m.BudgetFraction * remainingFraction) : TimeSpan.Zero;
        return $"step {m.Step + 1} stage {m.Stage} len {m.Length} | loss {m.Loss:F4} | {smoothedTokensPerSecond:N0} tok/s | lr {m.LearningRate:E2} | {m.BudgetFraction:P0} | ETA {eta:hh\\:mm\\:ss}";
    }
}
