using System.Diagnostics;
using GrowLength.Grains;
using Spectre.Console;
using GrowLength.Client.Commands;

namespace GrowLength.Client.Reporting;

/// <summary>Follows a run through its coordinator until it completes, stops or fails: every run event (stage start,
/// checkpoint, stop, failure, a lost worker, a recovery, a rescale) as a line as it happens, and a status line (stage,
/// length, tokens/s, loss, ETA, workers).</summary>
/// <remarks>Events come from the coordinator's broadcast (a <see cref="RunEventSubscription"/>), which wakes the watch at
/// once; each status names the latest event, and what the pushes did not bring (a subscription that lapsed while the
/// coordinator moved) is asked for from the run's kept list; sequence numbers keep a line from printing twice. On a terminal the status line is a live progress bar;
/// when output is redirected it is printed every few seconds, so CI logs stay readable. Progress comes from polling
/// Status (and Steps for the per-step losses), which survives a client reconnect or a silo restart unchanged.</remarks>
internal sealed class RunWatcher(IAnsiConsole console, ClusterConnection cluster, string runId)
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(300);
    private readonly IScheduleCoordinatorGrain grain = cluster.Grains.GetGrain<IScheduleCoordinatorGrain>(runId);
    private readonly SortedDictionary<long, StepRecord> records = [];
    private readonly System.Collections.Concurrent.ConcurrentQueue<RunEvent> pushed = new();
    private readonly SemaphoreSlim arrived = new(0);
    private long shownEvent;

    /// <summary>Status lines when output is redirected, seconds apart.</summary>
    public double StatusIntervalSeconds { get; init; } = 5;

    /// <summary>The step records seen, by step (the last loss of each stage for the final table).</summary>
    public IReadOnlyDictionary<long, StepRecord> Records => records;

    /// <summary>Events already in <paramref name="start"/> are not printed again (a resumed or attached run).</summary>
    public void SkipHistory(RunStatus start) => shownEvent = start.Events.Length == 0 ? 0 : start.Events[^1].Sequence;

    /// <summary>Watches until the run is no longer running. When <paramref name="interrupt"/> fires: with
    /// <paramref name="stopOnInterrupt"/> the run is asked to stop gracefully and watched to its checkpoint; without, the
    /// watch ends at once (the run goes on). Returns the last status and whether the interrupt fired.</summary>
    public async Task<(RunStatus Status, bool Interrupted)> Watch(CancellationToken interrupt, bool stopOnInterrupt)
    {
        await using var subscription = await RunEventSubscription.Start(cluster.Grains, runId, e =>
        {
            pushed.Enqueue(e);
            arrived.Release();
        });
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
                    // Until the next poll, or at once when an event is pushed.
                    await arrived.WaitAsync(Poll, interrupt.IsCancellationRequested ? CancellationToken.None : interrupt);
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

    /// <summary>Prints what happened since the last look: new step records, then every event not yet shown, in order.</summary>
    private async Task Catch(RunStatus status)
    {
        long from = records.Count == 0 ? 0 : records.Keys.Last() + 1;
        foreach (var r in await ConnectionRead(() => grain.Steps(from))) records[r.Step] = r;
        var fresh = new List<RunEvent>();
        while (pushed.TryDequeue(out var e)) fresh.Add(e);
        Show(fresh);
        // The status names the latest event: what the pushes did not bring (a lapsed subscription, a gap) is asked for.
        if (status.Events.Length > 0 && status.Events[^1].Sequence > shownEvent)
        {
            var kept = await ConnectionRead(() => grain.Events(shownEvent));
            // Events older than the kept list are gone for good: the watch goes on from its first.
            if (kept.Length > 0 && kept[0].Sequence > shownEvent + 1) shownEvent = kept[0].Sequence - 1;
            Show(kept);
        }
    }

    /// <summary>Prints the events that follow the last one shown, in sequence; one past a gap waits for the gap to be filled.</summary>
    private void Show(IEnumerable<RunEvent> events)
    {
        foreach (var e in events.Where(e => e.Sequence > shownEvent).DistinctBy(e => e.Sequence).OrderBy(e => e.Sequence))
        {
            if (e.Sequence != shownEvent + 1) break;
            console.MarkupLine(EventLine(e));
            shownEvent = e.Sequence;
        }
    }

    /// <summary>An event as `watch` prints it: stage starts in bold, checkpoints grey, failures red; a lost worker yellow
    /// (red when none is left), a recovery green, a rescale cyan, a reload or a start over yellow, each with its figures after the words.</summary>
    public static string EventLine(RunEvent e) => e.Kind switch
    {
        RunEventKind.StageStarted when e.Stage is { } s =>
            $"[bold]stage {s.Stage}[/]: length [cyan]{s.Length}[/] from step {s.Step} ({s.Tokens:N0} tokens, {s.ElapsedSeconds:F1} s)",
        RunEventKind.CheckpointCommitted => $"[grey]{Markup.Escape(e.Message)}[/]",
        RunEventKind.Failed or RunEventKind.Interrupted => $"[red]{Markup.Escape(e.Message)}[/]",
        RunEventKind.WorkerLost => Colored(e.Recovery is { WorldAfter: 0 } ? "red" : "yellow", e),
        RunEventKind.Recovered => Colored("green", e),
        RunEventKind.Rescaled => Colored("cyan", e),
        RunEventKind.Reloading or RunEventKind.StartedOver => Colored("yellow", e),
        _ => Markup.Escape(e.Message),
    };

    private static string Colored(string color, RunEvent e) =>
        e.Recovery is { } r ? $"[{color}]{Markup.Escape(e.Message)}[/] [grey]({Markup.Escape(RecoveryFigures(e.Kind, r))})[/]" : $"[{color}]{Markup.Escape(e.Message)}[/]";

    /// <summary>The figures of a loss, recovery, rescale or reload that the message's words leave out, e.g. "rank 1 lost;
    /// from 3 to 2 workers" or "4.2 s from detection to the next step; 0 tokens retrained; 2 workers".</summary>
    public static string RecoveryFigures(RunEventKind kind, RecoveryInfo r)
    {
        var parts = new List<string>();
        var ranks = r.Ranks.Length == 0 ? null : $"rank{(r.Ranks.Length == 1 ? "" : "s")} {string.Join(", ", r.Ranks)}";
        var world = r.WorldBefore == r.WorldAfter ? $"{r.WorldAfter} worker{Plural(r.WorldAfter)}" : $"from {r.WorldBefore} to {r.WorldAfter} workers";
        switch (kind)
        {
            case RunEventKind.Recovered:
                if (double.IsFinite(r.SecondsToNextStep)) parts.Add($"{r.SecondsToNextStep:F1} s from detection to the next step");
                parts.Add($"{r.TokensRetrained:N0} tokens retrained");
                parts.Add(world);
                break;
            case RunEventKind.Rescaled:
                // The ranks are those that left when the run shrinks, the new ones when it grows.
                if (ranks is not null) parts.Add(r.WorldAfter > r.WorldBefore ? $"{ranks} joined" : $"{ranks} left");
                parts.Add(world);
                break;
            default:
                if (ranks is not null) parts.Add($"{ranks} lost");
                parts.Add(world);
                if (r.TokensRetrained > 0) parts.Add($"{r.TokensRetrained:N0} tokens to retrain");
                break;
        }
        return string.Join("; ", parts);
    }

    private static string Plural(int count) => count == 1 ? "" : "s";

    private static Task<T> ConnectionRead<T>(Func<Task<T>> call) => ClusterConnection.Read(call);

    public static string StatusLine(RunStatus s) =>
        $"step {s.Step} stage {s.Stage} len {s.Length} | loss {Loss(s)} | {s.TokensPerSecond:N0} tok/s | {s.BudgetFraction:P0} | ETA {FormatEta(s.EtaSeconds)} | {Workers(s)} | {s.Lifecycle}";

    // The epoch's size, not the worker list's: that also names workers just lost or still joining.
    private static string Workers(RunStatus s) =>
        s.TargetWorkers > 0 && s.TargetWorkers != s.WorldSize
            ? $"{s.WorldSize} of {s.TargetWorkers} workers"
            : $"{s.WorldSize} worker{Plural(s.WorldSize)}";

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
