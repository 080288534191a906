using System.Diagnostics;
using GrowLength.Grains;
using Spectre.Console;

namespace GrowLength.Client.Cli;

/// <summary>Follows a run through its coordinator until it completes, stops or fails: every stage transition and
/// checkpoint as a line, and a status line (stage, length, tokens/s, loss, ETA, workers).</summary>
/// <remarks>On a terminal the status line is a live progress bar; when output is redirected it is printed every few
/// seconds, so CI logs stay readable. Progress comes from polling Status (and Steps for the per-step losses): the
/// coordinator keeps no subscriber list, and a poll survives a client reconnect or a silo restart unchanged.</remarks>
internal sealed class RunWatcher(IAnsiConsole console, ClusterConnection cluster, string runId)
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(300);
    private readonly IScheduleCoordinatorGrain grain = cluster.Grains.GetGrain<IScheduleCoordinatorGrain>(runId);
    private readonly SortedDictionary<long, StepRecord> records = [];
    private int shownTransitions;
    private long shownCheckpoint = -1;

    /// <summary>Status lines when output is redirected, seconds apart.</summary>
    public double StatusIntervalSeconds { get; init; } = 5;

    /// <summary>The step records seen, by step (the last loss of each stage for the final table).</summary>
    public IReadOnlyDictionary<long, StepRecord> Records => records;

    /// <summary>Transitions and checkpoints already in <paramref name="start"/> are not printed again (a resumed or attached run).</summary>
    public void SkipHistory(RunStatus start)
    {
        shownTransitions = start.Transitions.Length;
        shownCheckpoint = start.LastCheckpointStep;
    }

    /// <summary>Watches until the run is no longer running. When <paramref name="interrupt"/> fires: with
    /// <paramref name="stopOnInterrupt"/> the run is asked to stop gracefully and watched to its checkpoint; without, the
    /// watch ends at once (the run goes on). Returns the last status and whether the interrupt fired.</summary>
    public async Task<(RunStatus Status, bool Interrupted)> Watch(CancellationToken interrupt, bool stopOnInterrupt)
    {
        var status = await ConnectionRead(() => grain.Status());
        bool stopAsked = false;
        var sinceLine = Stopwatch.StartNew();
        ProgressTask? bar = null;

        async Task<RunStatus> Loop()
        {
            while (true)
            {
                await Catch(status);
                if (status.Lifecycle is not (RunLifecycle.Running or RunLifecycle.Stopping or RunLifecycle.Created)) break;
                if (interrupt.IsCancellationRequested && !stopAsked)
                {
                    if (!stopOnInterrupt) break;
                    stopAsked = true;
                    console.MarkupLine("[yellow]stopping: the workers finish the current step and checkpoint[/]");
                    try
                    {
                        await grain.Stop();
                    }
                    catch (RunRequestException)
                    {
                        // It completed or failed in the meantime; the loop sees which.
                    }
                }
                var line = StatusLine(status);
                if (bar is not null)
                {
                    bar.Description = Markup.Escape(line);
                    bar.Value = Math.Min(1, status.BudgetFraction);
                }
                else if (sinceLine.Elapsed.TotalSeconds >= StatusIntervalSeconds)
                {
                    console.WriteLine(line);
                    sinceLine.Restart();
                }
                try
                {
                    await Task.Delay(Poll, interrupt.IsCancellationRequested ? CancellationToken.None : interrupt);
                }
                catch (OperationCanceledException)
                {
                    // The interrupt: handled at the top of the loop.
                }
                status = await ConnectionRead(() => grain.Status());
            }
            return status;
        }

        if (console.Profile.Capabilities.Interactive)
        {
            await console.Progress().AutoClear(true)
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn())
                .StartAsync(async ctx =>
                {
                    bar = ctx.AddTask(Markup.Escape(StatusLine(status)), maxValue: 1.0);
                    status = await Loop();
                });
        }
        else
        {
            status = await Loop();
        }
        console.WriteLine(StatusLine(status));
        return (status, interrupt.IsCancellationRequested);
    }

    /// <summary>Prints what happened since the last poll: new step records, stage transitions and checkpoints, in order.</summary>
    private async Task Catch(RunStatus status)
    {
        long from = records.Count == 0 ? 0 : records.Keys.Last() + 1;
        foreach (var r in await ConnectionRead(() => grain.Steps(from))) records[r.Step] = r;
        for (; shownTransitions < status.Transitions.Length; shownTransitions++)
        {
            var t = status.Transitions[shownTransitions];
            console.MarkupLine($"[bold]stage {t.Stage}[/]: length [cyan]{t.Length}[/] from step {t.Step} ({t.Tokens:N0} tokens, {t.ElapsedSeconds:F1} s)");
        }
        if (status.LastCheckpointStep > shownCheckpoint)
        {
            // Several checkpoints may land between two polls; the checkpoint grain lists those it keeps.
            var kept = await ConnectionRead(() => cluster.Grains.GetGrain<ICheckpointGrain>(runId).List());
            foreach (var c in kept.Where(c => c.Step > shownCheckpoint && c.Step <= status.LastCheckpointStep).OrderBy(c => c.Step))
                console.MarkupLine($"[grey]checkpoint at step {c.Step}: {Markup.Escape(c.Folder)}[/]");
            shownCheckpoint = status.LastCheckpointStep;
        }
    }

    private static Task<T> ConnectionRead<T>(Func<Task<T>> call) => ClusterConnection.Read(call);

    public static string StatusLine(RunStatus s) =>
        $"step {s.Step} stage {s.Stage} len {s.Length} | loss {Loss(s)} | {s.TokensPerSecond:N0} tok/s | {s.BudgetFraction:P0} | ETA {FormatEta(s.EtaSeconds)} | {s.Workers.Length} worker{(s.Workers.Length == 1 ? "" : "s")} | {s.Lifecycle}";

    // Right after a transition the status already names the new length while its last loss is still the old length's.
    private static string Loss(RunStatus s)
    {
        if (double.IsNaN(s.Loss)) return "-";
        var at = s.Recent.Length > 0 ? s.Recent[^1].Length : s.Length;
        return at == s.Length ? s.Loss.ToString("F4") : $"{s.Loss:F4} (at {at})";
    }

    public static string FormatEta(double seconds) =>
        double.IsFinite(seconds) ? TimeSpan.FromSeconds(Math.Round(seconds)).ToString(@"hh\:mm\:ss") : "--:--:--";
}
