using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using GrowLength.Client.Commands;
using GrowLength.Grains;
using GrowLength.Training.Run;

namespace GrowLength.Client.Chaos;

/// <summary>Carries out a chaos plan: starts the silo processes, trains the run through them, kills, terminates and
/// adds silos as the plan says, measures what the run did after each action, and reports. Every silo it started is
/// killed when it is disposed, also after an exception or when the program is ended.</summary>
/// <param name="say">hears each line worth printing (actions, run events, progress); called from several threads.</param>
internal sealed class ChaosRunner(ChaosSettings settings, Action<string> say) : IAsyncDisposable
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(200);

    /// <summary>How long an action waits for its rank to be placed (a run starting, or recovering) before it is skipped.</summary>
    private static readonly TimeSpan RankWait = TimeSpan.FromSeconds(60);

    /// <summary>How long a graceful stop may take: the workers finish the step and write a checkpoint.</summary>
    private static readonly TimeSpan StopDeadline = TimeSpan.FromSeconds(180);

    /// <summary>How long a silo told to leave may take to go before it is killed.</summary>
    private static readonly TimeSpan LeaveDeadline = TimeSpan.FromSeconds(90);

    private static readonly TimeSpan ProgressEvery = TimeSpan.FromSeconds(5);

    /// <summary>How often a cluster that keeps failing to answer is said again.</summary>
    private static readonly TimeSpan FailureEvery = TimeSpan.FromSeconds(30);

    private readonly List<ChaosSilo> silos = [];
    private readonly List<ChaosActionRecord> actions = [];
    private readonly SortedDictionary<long, RunEvent> events = [];
    private readonly HashSet<long> claimed = [];
    private readonly Dictionary<int, long> sequenceAt = [], lostSequence = [];
    private readonly Dictionary<int, long> hostingSince = [];
    private readonly HashSet<int> sampledAfterTraining = [];
    private readonly Stopwatch clock = new();
    private int nextSilo;
    private volatile bool finished;
    private bool exitHooked;

    /// <summary>Runs the plan to the run's end (or the plan's duration, a stall or <paramref name="stop"/>, after which it
    /// stops the run gracefully) and reports. Bad input found by the cluster throws RunRequestException.</summary>
    public async Task<ChaosReport> Run(CancellationToken stop)
    {
        var startedUtc = DateTime.UtcNow;
        clock.Start();
        AppDomain.CurrentDomain.ProcessExit += KillAllOnExit;
        exitHooked = true;
        var folders = settings.Folders;
        Directory.CreateDirectory(folders.Root);
        say($"chaos folder {folders.Root} (state, checkpoints, silo-N.log)");

        // The first silo gets the lowest silo port: placement lays device slots out in silo-address order, so rank 0 lands
        // on it. With development clustering it is the primary, which is never killed, and the other ranks are on silos
        // chaos may kill; with PostgreSQL it is a silo like the others.
        var ports = Enumerable.Range(0, settings.Silos).Select(_ => (Silo: FreePort(), Gateway: FreePort())).OrderBy(p => p.Silo).ToList();
        var primary = Launch(ports[0].Silo, ports[0].Gateway, null);
        await Ready(primary, stop);
        var others = ports.Skip(1).Select(p => Launch(p.Silo, p.Gateway, primary)).ToList();
        await Task.WhenAll(others.Select(s => Ready(s, stop)));

        var gateways = Snapshot().Select(s => $"127.0.0.1:{s.GatewayPort}").ToList();
        await using var connection = await ClusterConnection.Open(gateways, folders.Root, 1, tls: null, stop);
        var grain = connection.Grains.GetGrain<IScheduleCoordinatorGrain>(settings.RunId);
        var spec = settings.Spec;
        say($"{Stamp()} creating run {settings.RunId} (a corpus not in the cache is packed first)");
        await grain.Create(new CreateRun(RunSpecJson.ToJson(spec))).WaitAsync(stop);
        var status = await grain.Start(settings.Start).WaitAsync(stop);
        var runStart = clock.Elapsed;
        say($"run {settings.RunId}: {settings.Start.Workers} workers (min {Bound(settings.Start.MinWorkers, 1)}, max {Bound(settings.Start.MaxWorkers, settings.Start.Workers)}) "
            + $"on {settings.Silos} silos; budget {(spec.Budget.IsTokens ? $"{spec.Budget.Tokens:N0} tokens" : $"{spec.Budget.Seconds:N0} s")}; plan: {settings.Plan.Describe()}");

        var outcome = await Drive(grain, status, runStart, stop);
        status = outcome.Status;
        if (outcome.EndEarly && status.Lifecycle is RunLifecycle.Created or RunLifecycle.Running or RunLifecycle.Stopping)
            status = await StopRun(grain, status);
        await CatchUpEvents(grain, all: true);
        MatchFigures(status);

        foreach (var silo in Snapshot().Where(s => s.IsRunning)) silo.EndResidentBytes = ResidentMemory.Of(silo.Pid);
        LedgerSummary? ledger = null;
        string? ledgerError = null;
        try
        {
            ledger = await ClusterConnection.Read(() => grain.Ledger());
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            ledgerError = e.Message.Split('\n')[0].Trim();
        }
        finished = true;
        return Report(startedUtc, status, ledger, ledgerError, outcome);
    }

    private sealed record Outcome(RunStatus Status, bool EndEarly, bool DurationReached, bool Stalled, bool Interrupted);

    /// <summary>Polls the run every 200 ms and carries out the plan until the run ends, the plan's duration passes, the run
    /// stalls or <paramref name="stop"/> is signalled.</summary>
    private async Task<Outcome> Drive(IScheduleCoordinatorGrain grain, RunStatus status, TimeSpan runStart, CancellationToken stop)
    {
        var plan = settings.Plan;
        var script = new Queue<ScriptedAction>(plan.Script);
        var kills = plan.Random?.Schedule() ?? [];
        int nextKill = 0;
        var restarts = new List<(TimeSpan At, int Kill)>();
        TimeSpan? waitingSince = null;
        var lastChange = clock.Elapsed;
        var lastProgress = TimeSpan.Zero;
        (long Step, RunLifecycle Lifecycle) seen = (status.Step, status.Lifecycle);
        var stall = TimeSpan.FromSeconds(settings.StallSeconds);
        TimeSpan? failingSince = null;
        var lastFailureShown = TimeSpan.Zero;
        while (true)
        {
            if (stop.IsCancellationRequested) return new Outcome(status, true, false, false, true);
            var now = clock.Elapsed;
            var (s, error) = await TryStatus(grain);
            if (error is not null && (failingSince is null || now - lastFailureShown >= FailureEvery))
            {
                failingSince ??= now;
                lastFailureShown = now;
                say($"{Stamp()} no status from the cluster for {(now - failingSince.Value).TotalSeconds:F0} s: {error}");
            }
            if (s is not null)
            {
                if (failingSince is not null) say($"{Stamp()} the cluster answers again after {(now - failingSince.Value).TotalSeconds:F1} s");
                failingSince = null;
                status = s;
                if ((s.Step, s.Lifecycle) != seen)
                {
                    seen = (s.Step, s.Lifecycle);
                    lastChange = now;
                }
                SampleTrainedSilos(s);
                if (s.Events.Any(e => e.Sequence > LastSequence)) await CatchUpEvents(grain, all: false);
                MatchFigures(s);
                if (s.Lifecycle is RunLifecycle.Completed or RunLifecycle.Failed or RunLifecycle.Stopped)
                {
                    SkipRemaining(script, s, $"the run ended ({s.Lifecycle}) at step {s.Step}");
                    return new Outcome(s, false, false, false, false);
                }
                if (now - lastProgress >= ProgressEvery)
                {
                    lastProgress = now;
                    say($"{Stamp()} {RunLine(s)}");
                }

                // The script: every item whose step the run reached, in order; a kill or leave whose rank is not placed
                // yet waits for it (bounded), holding the items after it.
                while (script.Count > 0 && script.Peek().AtStep <= s.Step)
                {
                    var item = script.Peek();
                    if (item.Kind == ChaosActionKind.Join)
                    {
                        Join(item.Text, s);
                    }
                    else
                    {
                        var worker = s.Workers.FirstOrDefault(w => w.Rank == item.Rank && w.State == WorkerState.Training);
                        var silo = worker is null ? null : SiloOf(worker);
                        if (silo is null)
                        {
                            waitingSince ??= now;
                            if (now - waitingSince < RankWait) break;
                            Skip(item.Kind, item.Text, s, $"no live silo of this chaos run hosted rank {item.Rank} within {RankWait.TotalSeconds:F0} s");
                        }
                        else if (silo.IsPrimary)
                        {
                            Skip(item.Kind, item.Text, s, $"rank {item.Rank} is on silo 0, the primary, which holds the cluster's membership and is never {(item.Kind == ChaosActionKind.Kill ? "killed" : "stopped")}", silo);
                        }
                        else
                        {
                            Act(item.Kind, item.Text, silo, s);
                        }
                    }
                    waitingSince = null;
                    script.Dequeue();
                }

                // Random kills, each on a non-primary silo hosting a worker, and their replacements.
                var sinceStart = now - runStart;
                while (nextKill < kills.Count && sinceStart.TotalSeconds >= kills[nextKill].AtSeconds)
                {
                    var kill = kills[nextKill++];
                    var what = $"random kill {nextKill}";
                    var candidates = Snapshot().Where(x => !x.IsPrimary && x.IsRunning && x.Fate is null && s.Workers.Any(w => Active(w) && SiloOf(w) == x)).ToList();
                    if (candidates.Count == 0)
                    {
                        Skip(ChaosActionKind.Kill, what, s, "no silo but the primary hosts a worker");
                        continue;
                    }
                    Act(ChaosActionKind.Kill, what, candidates[kill.Choose(candidates.Count)], s);
                    if (plan.Random!.RestartAfterSeconds is { } after) restarts.Add((now + TimeSpan.FromSeconds(after), nextKill));
                }
                foreach (var due in restarts.Where(r => r.At <= now).ToList())
                {
                    restarts.Remove(due);
                    Join($"restart after random kill {due.Kill}", s);
                }
            }
            // Also while the cluster does not answer: the plan's time is up either way.
            if (plan.DurationSeconds is { } duration && (now - runStart).TotalSeconds >= duration)
            {
                say($"{Stamp()} the plan's {duration:0.#} s are over: stopping run {settings.RunId} gracefully");
                SkipRemaining(script, status, $"the plan's duration ended at step {status.Step}");
                return new Outcome(status, true, true, false, false);
            }
            if (now - lastChange > stall)
            {
                say($"{Stamp()} no step completed and no change for {stall.TotalSeconds:F0} s: giving up on run {settings.RunId}");
                SkipRemaining(script, status, $"the run stalled at step {status.Step}");
                return new Outcome(status, true, false, true, false);
            }
            try
            {
                await Task.Delay(Poll, stop);
            }
            catch (OperationCanceledException)
            {
                // Signalled: the loop's first line ends it.
            }
        }
    }

    /// <summary>Kills or terminates <paramref name="silo"/> and records it.</summary>
    private void Act(ChaosActionKind kind, string description, ChaosSilo silo, RunStatus s)
    {
        var ranks = s.Workers.Where(w => Active(w) && SiloOf(w) == silo).Select(w => w.Rank).Order().ToList();
        var record = Record(kind, description, s, silo, ranks);
        if (kind == ChaosActionKind.Kill)
        {
            silo.Fate = "killed";
            silo.Kill();
            say($"{Stamp()} step {s.Step}: {description}: SIGKILL silo {silo.Index} (pid {silo.Pid}, port {silo.SiloPort}, ranks {string.Join(",", ranks)})");
            return;
        }
        silo.Fate = "left";
        silo.Terminate();
        say($"{Stamp()} step {s.Step}: {description}: SIGTERM silo {silo.Index} (pid {silo.Pid}, port {silo.SiloPort}, ranks {string.Join(",", ranks)})");
        _ = Task.Run(async () =>
        {
            if (await silo.WaitForExit(LeaveDeadline)) return;
            if (!finished) say($"{Stamp()} silo {silo.Index} did not leave within {LeaveDeadline.TotalSeconds:F0} s of SIGTERM (action {record.Number}); killing it");
            silo.Kill();
        });
    }

    /// <summary>Starts one more silo in the background (the loop keeps polling) and records it.</summary>
    private void Join(string description, RunStatus s)
    {
        var primary = Snapshot()[0];
        var silo = Launch(FreePort(), FreePort(), primary);
        var record = Record(ChaosActionKind.Join, description, s, silo, []);
        say($"{Stamp()} step {s.Step}: {description}: starting silo {silo.Index} (pid {silo.Pid}, port {silo.SiloPort})");
        var began = clock.Elapsed;
        _ = Task.Run(async () =>
        {
            try
            {
                await Ready(silo, CancellationToken.None);
                if (!finished) say($"{Stamp()} silo {silo.Index} joined after {(clock.Elapsed - began).TotalSeconds:F1} s");
            }
            catch (Exception e) when (!finished)
            {
                Update(record.Number, r => r with { Skipped = $"the silo did not start: {e.Message}" });
                say($"{Stamp()} silo {silo.Index} did not start: {e.Message}");
            }
            catch
            {
                // The chaos run ended while the silo was starting; it is killed with the others.
            }
        });
    }

    private ChaosActionRecord Record(ChaosActionKind kind, string description, RunStatus s, ChaosSilo? silo, IReadOnlyList<int> ranks)
    {
        lock (actions)
        {
            var record = new ChaosActionRecord(actions.Count + 1, kind, description, silo?.Index, silo?.SiloPort, silo?.Pid, ranks,
                DateTime.UtcNow, Seconds(clock.Elapsed), s.Step);
            actions.Add(record);
            sequenceAt[record.Number] = Math.Max(LastSequence, s.Events.Length == 0 ? 0 : s.Events.Max(e => e.Sequence));
            return record;
        }
    }

    private void Skip(ChaosActionKind kind, string description, RunStatus s, string why, ChaosSilo? silo = null)
    {
        var record = Record(kind, description, s, silo, []);
        Update(record.Number, r => r with { Skipped = why });
        say($"{Stamp()} step {s.Step}: {description}: skipped: {why}");
    }

    private void SkipRemaining(Queue<ScriptedAction> script, RunStatus s, string why)
    {
        while (script.TryDequeue(out var item)) Skip(item.Kind, item.Text, s, why);
    }

    private void Update(int number, Func<ChaosActionRecord, ChaosActionRecord> change)
    {
        lock (actions) actions[number - 1] = change(actions[number - 1]);
    }

    /// <summary>Fills in each carried-out action's figures from the status (the next completed step) and the run's events:
    /// the first WorkerLost after a kill or leave (one naming the silo's ranks first), the Recovered after that, and the
    /// last growing Rescaled once a joined silo hosts a training worker. An event serves one action only.</summary>
    private void MatchFigures(RunStatus s)
    {
        var now = DateTime.UtcNow;
        lock (actions)
        {
            for (int i = 0; i < actions.Count; i++)
            {
                var a = actions[i];
                if (!a.Done) continue;
                if (a.SecondsToNextStep is null && s.Step > a.Step)
                {
                    a = a with { SecondsToNextStep = Seconds(now - a.TimeUtc) };
                    if (a.Kind != ChaosActionKind.Join) say($"{Stamp()} step {s.Step} completed {a.SecondsToNextStep:F1} s after action {a.Number} ({a.Description})");
                }
                var after = events.Values.Where(e => e.Sequence > sequenceAt[a.Number] && !claimed.Contains(e.Sequence)).ToList();
                if (a.Kind == ChaosActionKind.Join)
                {
                    // The growth that counts is the one that gave the joined silo a worker: a growth before it may re-add a
                    // worker elsewhere (a survivor that a regroup under load took for lost, say).
                    if (a.WorldAfter is null && s.Workers.Any(w => w.State == WorkerState.Training && SiloAddressText.Port(w.Silo) == a.Port)
                        && after.LastOrDefault(e => e.Kind == RunEventKind.Rescaled && e.Recovery is { } r && r.WorldAfter > r.WorldBefore) is { } grown)
                    {
                        claimed.Add(grown.Sequence);
                        a = a with { WorldBefore = grown.Recovery!.WorldBefore, WorldAfter = grown.Recovery.WorldAfter };
                    }
                }
                else
                {
                    if (!lostSequence.ContainsKey(a.Number))
                    {
                        var lost = after.Where(e => e.Kind == RunEventKind.WorkerLost).ToList();
                        var match = lost.FirstOrDefault(e => e.Recovery?.Ranks.Intersect(a.Ranks).Any() == true) ?? lost.FirstOrDefault();
                        if (match is not null)
                        {
                            claimed.Add(match.Sequence);
                            lostSequence[a.Number] = match.Sequence;
                            a = a with { DetectionSeconds = Seconds(match.TimeUtc - a.TimeUtc), WorldBefore = match.Recovery?.WorldBefore, WorldAfter = match.Recovery?.WorldAfter };
                        }
                    }
                    if (lostSequence.TryGetValue(a.Number, out var lostAt) && a.TokensRetrained is null
                        && after.FirstOrDefault(e => e.Kind == RunEventKind.Recovered && e.Sequence > lostAt && !claimed.Contains(e.Sequence)) is { } recovered)
                    {
                        claimed.Add(recovered.Sequence);
                        var seconds = recovered.Recovery?.SecondsToNextStep;
                        a = a with { RecoverySeconds = seconds is { } x && double.IsFinite(x) ? Math.Round(x, 3) : null, TokensRetrained = recovered.Recovery?.TokensRetrained ?? 0 };
                    }
                }
                actions[i] = a;
            }
        }
    }

    private long LastSequence
    {
        get { lock (actions) return events.Count == 0 ? 0 : events.Keys.Max(); }
    }

    /// <summary>Reads the events after the last one seen (or all the coordinator keeps) and prints the new ones.</summary>
    private async Task CatchUpEvents(IScheduleCoordinatorGrain grain, bool all)
    {
        RunEvent[] fresh;
        try
        {
            fresh = await ClusterConnection.Read(() => grain.Events(all ? 0 : LastSequence));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return; // the coordinator is moving (its silo was killed); the next poll asks again
        }
        var last = LastSequence;
        lock (actions)
        {
            foreach (var e in fresh) events[e.Sequence] = e;
        }
        foreach (var e in fresh.Where(e => e.Sequence > last).OrderBy(e => e.Sequence))
            say($"{Stamp()} event: {e.Message}");
    }

    /// <summary>The run's status, or why the cluster does not answer now (a silo just died; the coordinator may be
    /// moving): the loop tries again at the next poll, and the stall limit bounds how long.</summary>
    private static async Task<(RunStatus? Status, string? Error)> TryStatus(IScheduleCoordinatorGrain grain)
    {
        try
        {
            return (await ClusterConnection.Read(() => grain.Status()), null);
        }
        catch (Exception e) when (e is not OperationCanceledException and not RunRequestException)
        {
            // Orleans puts the inner exception's stack into some messages: the first line says enough.
            return (null, $"{e.GetType().Name}: {e.Message.Split('\n')[0].Trim()}");
        }
    }

    /// <summary>Asks the run to stop gracefully and waits for it to end, at most <see cref="StopDeadline"/>.</summary>
    private async Task<RunStatus> StopRun(IScheduleCoordinatorGrain grain, RunStatus status)
    {
        try
        {
            status = await grain.Stop();
        }
        catch (Exception e)
        {
            say($"{Stamp()} stop: {e.Message.Split('\n')[0].Trim()}");
        }
        var deadline = clock.Elapsed + StopDeadline;
        while (status.Lifecycle is not (RunLifecycle.Stopped or RunLifecycle.Completed or RunLifecycle.Failed) && clock.Elapsed < deadline)
        {
            await Task.Delay(Poll);
            status = (await TryStatus(grain)).Status ?? status;
        }
        say($"{Stamp()} {RunLine(status)}");
        return status;
    }

    /// <summary>Samples, once, the memory of each silo whose worker has completed a step: the model and step buffers are in
    /// place by then, so start and end compare like with like.</summary>
    private void SampleTrainedSilos(RunStatus s)
    {
        foreach (var w in s.Workers.Where(Active))
        {
            if (SiloOf(w) is not { } silo) continue;
            if (!hostingSince.TryGetValue(silo.Index, out var since)) hostingSince[silo.Index] = since = s.Step;
            if (s.Step > since && sampledAfterTraining.Add(silo.Index)) silo.StartResidentBytes = ResidentMemory.Of(silo.Pid) ?? silo.StartResidentBytes;
        }
    }

    private ChaosReport Report(DateTime startedUtc, RunStatus status, LedgerSummary? ledger, string? ledgerError, Outcome outcome)
    {
        List<ChaosActionRecord> done;
        lock (actions) done = [.. actions];
        var memory = Snapshot().Select(s => new SiloMemory(s.Index, s.SiloPort, s.Pid, s.IsPrimary, s.Fate ?? (s.IsRunning ? "running" : "exited"),
            s.StartResidentBytes, s.EndResidentBytes)).ToList();
        return new ChaosReport(settings.RunId, settings.Folders.Root, settings.Plan.Describe(), settings.Silos, settings.Start.Workers,
            Bound(settings.Start.MinWorkers, 1), startedUtc, Seconds(clock.Elapsed), done, KillStatistics.Of(done), memory,
            ledger, ledgerError, status.Lifecycle, status.Reason, status.Step, double.IsFinite(status.Loss) ? status.Loss : null, status.Recoveries,
            outcome.DurationReached, outcome.Stalled, outcome.Interrupted);
    }

    private ChaosSilo Launch(int siloPort, int gatewayPort, ChaosSilo? primary)
    {
        lock (silos)
        {
            // In the list before it can fail, so it is killed with the others whatever happens next.
            var silo = ChaosSilo.Launch(nextSilo++, siloPort, gatewayPort, primary, settings.Folders, settings.Postgres);
            silos.Add(silo);
            return silo;
        }
    }

    private async Task Ready(ChaosSilo silo, CancellationToken cancel)
    {
        await silo.Ready(cancel);
        silo.StartResidentBytes = ResidentMemory.Of(silo.Pid);
        if (!finished) say($"{Stamp()} silo {silo.Index}{(silo.IsPrimary ? " (primary)" : "")} started: pid {silo.Pid}, silo port {silo.SiloPort}, gateway {silo.GatewayPort}");
    }

    private List<ChaosSilo> Snapshot()
    {
        lock (silos) return [.. silos];
    }

    private ChaosSilo? SiloOf(WorkerInfo worker)
    {
        var port = SiloAddressText.Port(worker.Silo);
        lock (silos) return silos.FirstOrDefault(s => s.SiloPort == port);
    }

    private static bool Active(WorkerInfo w) => w.State is WorkerState.Training or WorkerState.Joining;

    private static int Bound(int value, int whenZero) => value == 0 ? whenZero : value;

    private string Stamp() => string.Create(CultureInfo.InvariantCulture, $"[{clock.Elapsed.TotalSeconds,7:F1} s]");

    private static double Seconds(TimeSpan t) => Math.Round(t.TotalSeconds, 3);

    private static string RunLine(RunStatus s) =>
        $"step {s.Step} stage {s.Stage} len {s.Length} | loss {(double.IsFinite(s.Loss) ? s.Loss.ToString("F4", CultureInfo.InvariantCulture) : "-")} | "
        + $"{s.TokensPerSecond:N0} tok/s | {s.WorldSize} workers (target {s.TargetWorkers}) | {s.Recoveries} recoveries | {s.Lifecycle}";

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private void KillAllOnExit(object? sender, EventArgs e)
    {
        foreach (var silo in Snapshot()) silo.Kill();
    }

    public ValueTask DisposeAsync()
    {
        finished = true;
        if (exitHooked) AppDomain.CurrentDomain.ProcessExit -= KillAllOnExit;
        foreach (var silo in Snapshot()) silo.Dispose();
        return ValueTask.CompletedTask;
    }
}
