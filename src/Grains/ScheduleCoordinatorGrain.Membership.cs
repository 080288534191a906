using System.Text.Json;
using GrowLength.Grains.Hosting;
using GrowLength.Grains.Placement;
using GrowLength.Training.Checkpoints;
using GrowLength.Training.Engine;
using GrowLength.Training.Evaluation;
using GrowLength.Training.Run;
using Microsoft.Extensions.Logging;

namespace GrowLength.Grains;

/// <summary>The coordinator's membership half: which workers train the run, and what happens when one is lost, joins or
/// leaves. A lost worker is noticed from cluster membership (its silo declared dead), from a step that passes its
/// deadline, from a failed exchange, or from the worker itself leaving. While at least the run's minimum of workers
/// survive, they go on from the last committed step in a new epoch (no update was half applied: a step is applied only
/// once every rank reported it) and the aborted step is trained again with its rows dealt over them; when fewer survive,
/// the run reloads its last checkpoint as soon as enough device slots are free. Between steps, workers on free slots are
/// added up to the target, copying the state from a live peer.</summary>
public sealed partial class ScheduleCoordinatorGrain
{
    /// <summary>How often membership, deadlines, free slots and a waiting reload are checked.</summary>
    private static readonly TimeSpan TickPeriod = TimeSpan.FromSeconds(1);

    /// <summary>How long a member may take to answer whether its loop is alive.</summary>
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(3);

    /// <summary>The deadline of a step with no recent step to derive one from (the first of a run or of an epoch).</summary>
    private static readonly TimeSpan FirstStepDeadline = TimeSpan.FromSeconds(180);

    /// <summary>The least a derived deadline allows, and its multiple of the slowest recent step.</summary>
    private static readonly TimeSpan MinimumStepDeadline = TimeSpan.FromSeconds(30);
    private const double DeadlineOverSlowestStep = 10;

    /// <summary>How long rank 0 may take over a validation point before its workers are checked.</summary>
    private static readonly TimeSpan EvaluationDeadline = TimeSpan.FromMinutes(15);

    /// <summary>A step given up this many times with every worker alive fails the run: it is not the membership.</summary>
    private const int MaxRetriesPerStep = 5;

    /// <summary>How long a joiner may take to prepare (model, preflight at the longest length, data) before it is dropped.</summary>
    private static readonly TimeSpan JoinDeadline = TimeSpan.FromMinutes(10);

    /// <summary>How long a worker's start may take before its silo is passed over. The start itself only starts a thread,
    /// but the worker's activation waits while Orleans' grain directory holds the hash ranges a silo that died without a
    /// word owned (<c>RangeLeaseDuration</c>, 30 s, less the failure-detection time: 18 s with <see cref="MembershipProbes"/>),
    /// and a start on a silo that has just joined once took over 10 s under load. Within <see cref="IWorkerGrain.Start"/>'s
    /// response timeout.</summary>
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(40);

    /// <summary>How long a silo that refused a worker (its slots busy with another run) is passed over.</summary>
    private static readonly TimeSpan BusySiloPause = TimeSpan.FromSeconds(30);

    private readonly Dictionary<long, WorkerInfo> joining = [];
    private readonly Dictionary<long, DateTime> joiningSince = [];
    private readonly HashSet<long> ready = [];
    private readonly HashSet<long> joinedThisEpoch = [];
    private readonly Dictionary<string, DateTime> busyUntil = [];
    private long donor = -1;
    private PendingRecovery? recovering;
    private (long Step, int Count) aborts = (-1, 0);
    private DateTime? stepStartedAt;
    private DateTime? evaluationAskedAt;
    private IGrainTimer? ticker;
    private bool regrouping;
    private bool waitingLogged;

    /// <summary>This activation replaced one whose silo stopped mid-run, and no step has completed since.</summary>
    private bool reactivated;

    /// <summary>A loss being recovered from: when it was noticed and what it cost, until the next step completes.</summary>
    private sealed record PendingRecovery(DateTime NoticedUtc, string Cause, int[] Ranks, int WorldBefore, long TokensRetrained);

    // ---- membership checks ----

    private void StartTicker() =>
        ticker ??= this.RegisterGrainTimer(OnTick, new GrainTimerCreationOptions(TickPeriod, TickPeriod) { Interleave = true, KeepAlive = true });

    private void StopTicker()
    {
        ticker?.Dispose();
        ticker = null;
    }

    private async Task OnTick(CancellationToken cancellation)
    {
        if (!IsActive)
        {
            StopTicker();
            return;
        }
        var gone = S.Workers.Where(w => w.State == WorkerState.Training && cluster.IsGone(w.Silo)).ToList();
        if (gone.Count > 0)
        {
            await Recover($"silo {gone[0].Silo} was declared dead", [.. gone.Select(w => w.Worker)]);
            return;
        }
        // A joiner whose silo died, or that did not get ready in time, gives its slot back to the next attempt.
        var stale = joining.Where(j => cluster.IsGone(j.Value.Silo) || DateTime.UtcNow - joiningSince[j.Key] > JoinDeadline).Select(j => j.Key).ToList();
        foreach (var id in stale)
        {
            joining.Remove(id);
            joiningSince.Remove(id);
            ready.Remove(id);
        }
        if (stale.Count > 0) await AbortWorkers(stale, "it did not join in time");
        var now = DateTime.UtcNow;
        if (stepStartedAt is { } started && now - started > StepDeadline())
        {
            await Regroup($"step {S.Training.Progress.Step} passed its deadline of {StepDeadline().TotalSeconds:F0} s");
            return;
        }
        if (evaluationAskedAt is { } asked && now - asked > EvaluationDeadline)
        {
            await Regroup($"the validation point at step {S.Training.Progress.Step} took over {EvaluationDeadline.TotalMinutes:F0} min");
            return;
        }
        if (S.Workers.Count == 0)
        {
            if (S.Lifecycle == RunLifecycle.Stopping)
                await Finished(RunLifecycle.Stopped, $"stopped while waiting for device slots; resume continues from the checkpoint at step {S.LastCheckpointStep}");
            else await TryReload();
            return;
        }
        if (S.Lifecycle == RunLifecycle.Running && S.Workers.Count + joining.Count < S.TargetWorkers) await StartJoiners();
    }

    /// <summary>Asks every training member whether its loop is alive: the dead ones are lost; when none is, the step in
    /// flight is given up on every rank and trained again by the same workers.</summary>
    private async Task Regroup(string cause)
    {
        if (regrouping || !IsActive) return;
        regrouping = true;
        try
        {
            var epoch = S.Epoch;
            var members = S.Workers.Where(w => w.State == WorkerState.Training).ToList();
            var alive = await Task.WhenAll(members.Select(async w =>
            {
                try
                {
                    var status = await Worker(w.Worker).Status().WaitAsync(ProbeTimeout);
                    return status.Running && status.Worker == w.Worker;
                }
                catch (Exception)
                {
                    return false;
                }
            }));
            if (S.Epoch != epoch || !IsActive) return;
            var lost = members.Where((w, i) => !alive[i]).Select(w => w.Worker).ToList();
            if (reactivated && members.Count == 0)
            {
                await Interrupted();
                return;
            }
            if (reactivated && lost.Count < members.Count)
                Record(RunEventKind.Interrupted, $"the coordinator's silo stopped; it reactivated on {RuntimeIdentity} at step {S.Training.Progress.Step} and carries the run on with {members.Count - lost.Count} of {members.Count} workers");
            if (lost.Count > 0)
            {
                await Recover(cause, lost);
                return;
            }
            if (members.Count == 0) return;
            var step = S.Training.Progress.Step;
            aborts = aborts.Step == step ? (step, aborts.Count + 1) : (step, 1);
            if (aborts.Count > MaxRetriesPerStep)
            {
                await Fail($"step {step} was given up {MaxRetriesPerStep} times with every worker alive; the last time: {cause}");
                return;
            }
            recovering ??= new PendingRecovery(DateTime.UtcNow, cause, [], members.Count, 0);
            logger.LogWarning("Run {Run}: step {Step} is given up and trained again by the same {Workers} workers: {Cause}", RunId, step, members.Count, cause);
            await NewEpoch(members, [], () => (RunEventKind.StepRetried, $"step {step} given up on every rank ({cause}); the same {members.Count} workers train it again",
                new RecoveryInfo(cause, [], members.Count, members.Count, double.NaN, 0)));
        }
        finally
        {
            regrouping = false;
        }
    }

    /// <summary>Members <paramref name="lost"/> are gone: the survivors go on in a new epoch, or the run reloads its last checkpoint.</summary>
    private async Task Recover(string cause, IReadOnlyCollection<long> lost)
    {
        if (!IsActive) return;
        var before = S.Workers.Count;
        var ranks = S.Workers.Where(w => lost.Contains(w.Worker)).Select(w => w.Rank).ToArray();
        if (ranks.Length == 0) return;
        metrics.RecordWorkerLost(RunId, ranks.Length);
        foreach (var rank in ranks) SetWorker(rank, WorkerState.Lost);
        var survivors = S.Workers.Where(w => w.State == WorkerState.Training).ToList();
        var done = S.Workers.Where(w => w.State == WorkerState.Done).ToList();
        logger.LogWarning("Run {Run}: lost worker(s) at rank {Ranks} ({Cause}); {Survivors} survive", RunId, string.Join(", ", ranks), cause, survivors.Count);
        if (survivors.Count == 0 && done.Any(w => w.Rank == 0) && S.Pending?.Kind is OrderKind.Finish or OrderKind.Stop)
        {
            // The last order was carried out by rank 0 (the checkpoint is written): the loss changes nothing.
            var completed = S.Pending.Kind == OrderKind.Finish;
            await Finished(completed ? RunLifecycle.Completed : RunLifecycle.Stopped, completed ? "completed" : $"stopped with a checkpoint at step {S.LastCheckpointStep}");
            return;
        }
        if ((reactivated || lifetime.ApplicationStopping.IsCancellationRequested) && survivors.Count == 0)
        {
            // The coordinator's silo goes down (or went down) with every worker: the whole cluster, or the one program that
            // held the run, stopped. Training resumes when an operator says so, not whenever someone next asks for the
            // run's status on a silo started for that.
            await Interrupted();
            return;
        }
        var message = $"lost worker{(ranks.Length == 1 ? "" : "s")} at rank {string.Join(", ", ranks)} ({cause})";
        if (survivors.Count >= Math.Max(1, S.MinWorkers))
        {
            recovering ??= new PendingRecovery(DateTime.UtcNow, cause, ranks, before, 0);
            await NewEpoch(survivors, [], () => (RunEventKind.WorkerLost,
                $"{message}; {survivors.Count} worker{(survivors.Count == 1 ? "" : "s")} go on from step {S.Training.Progress.Step}",
                new RecoveryInfo(cause, ranks, before, survivors.Count, double.NaN, 0)));
            return;
        }
        await Reload(message, cause, ranks, before, survivors);
    }

    /// <summary>The run stopped with its coordinator and no worker is left: Failed, resumable from its last checkpoint.</summary>
    private Task Interrupted()
    {
        var from = S.LastCheckpointStep >= 0 ? $"the checkpoint at step {S.LastCheckpointStep}" : "step 0 (no checkpoint was committed)";
        return Fail($"interrupted at step {S.Training.Progress.Step}: the silo coordinating the run stopped and no worker survived; resume continues from {from}",
            RunEventKind.Interrupted);
    }

    /// <summary>Too few workers with the state survive: they are stopped and the run rolls back to its last checkpoint,
    /// reloaded onto new workers as soon as enough slots are free.</summary>
    private async Task Reload(string message, string cause, int[] ranks, int before, List<WorkerInfo> survivors)
    {
        var choice = await GrainFactory.GetGrain<ICheckpointGrain>(RunId).Choose();
        if (Unreloadable(choice) is { } why)
        {
            // Reloading nothing would start the run over from step 0 on its own: it stops and says why instead.
            await Fail(CannotReload(message, why));
            return;
        }
        var latest = choice.Latest;
        var tokensBefore = S.Training.Progress.Tokens;
        await AbortWorkers([.. survivors.Select(w => w.Worker)], $"{message}: the run reloads its last checkpoint");
        S.Epoch++;
        S.Workers = [];
        await RollBackTo(latest);
        var retrained = tokensBefore - S.Training.Progress.Tokens;
        recovering = new PendingRecovery(recovering?.NoticedUtc ?? DateTime.UtcNow, cause, ranks, before, retrained);
        reports.Clear();
        stepStartedAt = null;
        evaluationAskedAt = null;
        Signal();
        var from = latest is null ? "step 0 (no checkpoint was committed)" : $"the checkpoint at step {latest.Step}";
        await Publish(RunEventKind.Reloading, $"{message}; {survivors.Count} survive, fewer than the minimum of {Math.Max(1, S.MinWorkers)}: the run reloads {from} when {Math.Max(1, S.MinWorkers)} device slot(s) are free",
            recovery: new RecoveryInfo(cause, ranks, before, 0, double.NaN, retrained));
        waitingLogged = false;
        await TryReload();
    }

    /// <summary>Starts the run's workers from its (rolled back) state once enough slots are free.</summary>
    private async Task TryReload()
    {
        // Slots first: the checkpoint grain hashes the checkpoint's files to name the latest, which is not for every tick.
        if (FreeSlots().Count >= Math.Max(1, S.MinWorkers))
        {
            CheckpointRecord? latest = null;
            if (S.LastCheckpointStep >= 0)
            {
                var choice = await GrainFactory.GetGrain<ICheckpointGrain>(RunId).Choose();
                if (Unreloadable(choice) is { } why)
                {
                    await Fail(CannotReload($"the run waited at step {S.Training.Progress.Step} to reload", why));
                    return;
                }
                latest = choice.Latest!;
                // The checkpoint rolled back to stopped verifying while the run waited for slots: the newest that does.
                if (latest.Step != S.LastCheckpointStep) await RollBackTo(latest);
            }
            if (await Launch(latest)) return;
        }
        if (!waitingLogged) logger.LogWarning("Run {Run} waits for {Min} free device slot(s) to reload", RunId, Math.Max(1, S.MinWorkers));
        waitingLogged = true;
    }

    /// <summary>Why the run cannot go back to a checkpoint, or null when it can: it has checkpoint records and none
    /// verifies, or it committed one that is no longer recorded. A run that never recorded one begins at step 0 (null).</summary>
    private string? Unreloadable(CheckpointChoice choice) =>
        choice.Latest is not null ? null
        : choice.NoneUsable ? $"no recorded checkpoint verifies, so it would start over from step 0: {choice.RefusalList()}"
        : S.LastCheckpointStep >= 0 ? $"the checkpoint of step {S.LastCheckpointStep} the run committed is no longer recorded, so it would start over from step 0"
        : null;

    private string CannotReload(string message, string why) =>
        $"{message}; the run cannot reload a checkpoint: {why}. Restore a checkpoint's files and `growlength resume {RunId}`, "
        + $"or `growlength resume {RunId} --start-over` begins again from step 0";

    /// <summary>Rolls the run's state back to <paramref name="latest"/> (step 0 when null) for a resume or a reload.</summary>
    private async Task RollBackTo(CheckpointRecord? latest)
    {
        if (latest is null)
        {
            logger.LogWarning("Run {Run} has no recorded checkpoint; it starts again from step 0", RunId);
            S.Control = RunControl.Initial;
            S.Evaluations.Clear();
            (S.LastPointStep, S.LastPointSeconds) = (-1, 0);
        }
        else
        {
            var state = latest.StateJson is { } json
                ? JsonSerializer.Deserialize<TrainingState>(json, RunSpecJson.Options)!
                : await InputErrors.OffScheduler(() => TrainingCheckpoint.ReadState(
                    CheckpointHandle.OfVerified(latest.Folder, CheckpointManifest.Parse(latest.ManifestJson, latest.Folder))));
            S.Control = RunControl.ResumedFrom(state);
            // The steps after the checkpoint are trained again; their evaluations would be of a model that no longer exists.
            S.Evaluations.RemoveAll(e => e.Steps > latest.Step);
            // The checkpoint's step has its point already, or is not on the cadence.
            (S.LastPointStep, S.LastPointSeconds) = (latest.Step, state.Progress.ElapsedSeconds);
            logger.LogInformation("Run {Run} rolls back to the checkpoint at step {Step}", RunId, latest.Step);
        }
        (S.EvaluationDue, S.EvaluationDueOnCadence, S.EvaluationDueTransition) = (-1, true, ValidationCadence.NoTransition);
        decided = null;
    }

    /// <summary>The first step after a loss completed: how long it took from the loss being noticed, and what it cost.</summary>
    private async Task Recovered(PendingRecovery r)
    {
        var seconds = (DateTime.UtcNow - r.NoticedUtc).TotalSeconds;
        S.Recoveries++;
        S.LastRecoverySeconds = seconds;
        metrics.RecordRecovery(RunId, seconds, r.TokensRetrained);
        await Publish(RunEventKind.Recovered,
            $"recovered: step {S.Training.Progress.Step - 1} completed {seconds:F1} s after the loss was noticed, on {S.Workers.Count} worker{(S.Workers.Count == 1 ? "" : "s")}; {r.TokensRetrained:N0} tokens trained again",
            recovery: new RecoveryInfo(r.Cause, r.Ranks, r.WorldBefore, S.Workers.Count, seconds, r.TokensRetrained));
    }

    /// <summary>Moves the run to a new epoch with <paramref name="members"/> (keeping their order) followed by
    /// <paramref name="joiners"/>: every rank gets its new rank with its next order, and a step of the old epoch still in
    /// flight is given up on every rank. The event that says why is recorded with the change, before any step of the new
    /// epoch can complete (so a Recovered never precedes the loss it recovers from), and told before the old members are.</summary>
    private async Task NewEpoch(IReadOnlyList<WorkerInfo> members, IReadOnlyList<WorkerInfo> joiners, Func<(RunEventKind Kind, string Message, RecoveryInfo Recovery)> why)
    {
        var old = S.Workers.Select(w => w.Worker).ToList();
        S.Epoch++;
        S.Workers = [.. members.Concat(joiners).Select((w, rank) => w with { Rank = rank, State = WorkerState.Training })];
        reports.Clear();
        stepStartedAt = null;
        decided = null;
        joinedThisEpoch.Clear();
        foreach (var j in joiners) joinedThisEpoch.Add(j.Worker);
        donor = joiners.Count > 0 ? members[0].Worker : -1;
        var (kind, message, recovery) = why();
        var e = Record(kind, message, recovery: recovery);
        metrics.RecordWorldSize(RunId, S.Workers.Count);
        Signal();
        var epoch = S.Epoch;
        logger.LogInformation("Run {Run} epoch {Epoch}: {Workers} workers ({Ids})", RunId, epoch, S.Workers.Count, string.Join(", ", S.Workers.Select(w => w.Worker)));
        await Announce(e);
        await Task.WhenAll(old.Select(async w =>
        {
            try
            {
                await Worker(w).EndEpoch(epoch).WaitAsync(ProbeTimeout);
            }
            catch (Exception)
            {
                // A worker that cannot hear it is lost, or gives the step up at its deadline.
            }
        }));
    }

    /// <summary>Between steps: ready joiners are added up to the target, or members beyond it leave. True when the epoch changed.</summary>
    private async Task<bool> AtStepBoundary()
    {
        if (S.Lifecycle != RunLifecycle.Running || Controller.IsComplete(S.Training.Progress)) return false;
        var before = S.Workers.Count;
        if (ready.Count > 0 && before < S.TargetWorkers)
        {
            var joiners = ready.Take(S.TargetWorkers - before).Select(id => joining[id]).ToList();
            foreach (var j in joiners)
            {
                ready.Remove(j.Worker);
                joining.Remove(j.Worker);
                joiningSince.Remove(j.Worker);
            }
            var ranks = Enumerable.Range(before, joiners.Count).ToArray();
            await NewEpoch([.. S.Workers], joiners, () => (RunEventKind.Rescaled,
                $"{joiners.Count} worker{(joiners.Count == 1 ? "" : "s")} joined at step {S.Training.Progress.Step}: {before} → {S.Workers.Count} workers",
                new RecoveryInfo("join", ranks, before, S.Workers.Count, double.NaN, 0)));
            return true;
        }
        if (before > S.TargetWorkers)
        {
            var leaving = S.Workers.Skip(S.TargetWorkers).ToList();
            await NewEpoch([.. S.Workers.Take(S.TargetWorkers)], [], () => (RunEventKind.Rescaled,
                $"{leaving.Count} worker{(leaving.Count == 1 ? "" : "s")} left at step {S.Training.Progress.Step}: {before} → {S.Workers.Count} workers",
                new RecoveryInfo("scale", [.. leaving.Select(w => w.Rank)], before, S.Workers.Count, double.NaN, 0)));
            await AbortWorkers([.. leaving.Select(w => w.Worker)], $"the run was scaled to {S.TargetWorkers} workers");
            return true;
        }
        return false;
    }

    // ---- starting workers ----

    /// <summary>Start or resume asked for by a client: fewer free slots than the run's minimum is bad input, and leaves the run as it was.</summary>
    private async Task LaunchRequested(CheckpointRecord? resume)
    {
        var folder = S.CheckpointFolder;
        await Task.Run(() => CheckWritable(folder));
        var before = S.Lifecycle;
        var failedStarts = new List<string>();
        if (!await Launch(resume, failedStarts))
        {
            S.Lifecycle = before;
            // The slots were there but their workers did not start: say why, or the user adds slots that were never missing.
            var why = failedStarts.Count == 0 ? "" : $"; {failedStarts.Count} worker start(s) failed ({string.Join("; ", failedStarts)})";
            throw new RunRequestException("--workers",
                $"the cluster has {FreeSlots().Count} free device slot(s){why}; the run needs at least {Math.Max(1, S.MinWorkers)} (--min-workers). Add a silo or slots (GrowLength:DeviceSlots), or ask for fewer.");
        }
    }

    /// <summary>Starts up to the target's workers (at least the minimum) on free slots in a new epoch and a new history;
    /// false, with nothing left running, when too few could be started (each failed start's reason added to
    /// <paramref name="failedStarts"/>).</summary>
    private async Task<bool> Launch(CheckpointRecord? resume, List<string>? failedStarts = null)
    {
        var min = Math.Max(1, S.MinWorkers);
        for (int attempt = 0; attempt < 3; attempt++)
        {
            var slots = FreeSlots().Take(S.TargetWorkers).ToList();
            if (slots.Count < min) return false;
            var epoch = ++S.Epoch;
            var ids = slots.Select(_ => S.NextWorker++).ToList();
            var membership = new Membership(epoch, [.. ids]);
            var before = (S.Lifecycle, S.Reason, S.TimelineEpoch);
            // Running and listed before they start: a fast loop asks for its first order (and may report) while the other
            // starts are still under way.
            S.Workers = [.. ids.Select((id, rank) => new WorkerInfo(rank, slots[rank].ToString(), "", WorkerState.Training, id))];
            S.Lifecycle = RunLifecycle.Running;
            S.Reason = null;
            S.TimelineEpoch = epoch;
            reports.Clear();
            decided = null;
            joinedThisEpoch.Clear();
            stepStartedAt = null;
            if (S.Training.Progress.Step == 0 && S.LastPointStep < 0 && ValidationCadence.IsDue(Spec.Eval, 0, 0, null))
                (S.EvaluationDue, S.EvaluationDueOnCadence, S.EvaluationDueTransition) = (0, true, ValidationCadence.NoTransition);
            var spec = S.SpecJson!;
            var started = await Task.WhenAll(ids.Select((id, rank) => StartOn(slots[rank],
                new WorkerAssignment(RunId, id, membership, spec, S.CheckpointFolder, resume, options.Value.GradientChunkBytes, S.FolderToken))));
            failedStarts?.AddRange(started.Select(s => s.Problem).OfType<string>());
            if (S.Epoch != epoch || !IsActive)
            {
                // The run moved on (a worker failed, a loss, a stop) while the workers started: they are not its workers.
                await AbortWorkers([.. ids.Where((id, rank) => started[rank].Info is not null)], "the run moved on while its workers started");
                return false;
            }
            if (started.All(s => s.Info is not null))
            {
                S.Workers = [.. S.Workers.Select((w, rank) => w with { Silo = started[rank].Info!.Silo, Device = started[rank].Info!.Device })];
                metrics.RecordWorldSize(RunId, S.Workers.Count);
                Signal();
                StartTicker();
                var silos = string.Join(", ", S.Workers.Select(w => w.Silo).Distinct());
                await Publish(RunEventKind.Started, $"epoch {epoch}: {ids.Count} worker{(ids.Count == 1 ? "" : "s")} on {silos}, from step {S.Training.Progress.Step}");
                logger.LogInformation("Run {Run} epoch {Epoch}: {Workers} workers on {Silos}", RunId, epoch, ids.Count, silos);
                return true;
            }
            (S.Lifecycle, S.Reason, S.TimelineEpoch) = before;
            // Some slots were taken by another run: free what did start and try the slots that are left.
            S.Workers = [];
            await AbortWorkers([.. ids.Where((id, rank) => started[rank].Info is not null)], "not enough workers could be started");
        }
        return false;
    }

    /// <summary>Starts joiners on free slots: each prepares, then waits to be added at a step boundary.</summary>
    private async Task StartJoiners()
    {
        var wanted = S.TargetWorkers - S.Workers.Count - joining.Count;
        foreach (var silo in FreeSlots().Take(wanted).ToList())
        {
            var id = S.NextWorker++;
            // Listed before its start answers, so its slot counts as taken and its ready call is heard; and not awaited, so
            // a slow start (a silo that has just joined) holds neither the membership checks nor the run's steps.
            joining[id] = new WorkerInfo(-1, silo.ToString(), "", WorkerState.Joining, id);
            joiningSince[id] = DateTime.UtcNow;
            _ = StartJoiner(silo, id);
        }
        await Persist();
    }

    private async Task StartJoiner(SiloAddress silo, long id)
    {
        var asked = DateTime.UtcNow;
        var (info, _) = await StartOn(silo, new WorkerAssignment(RunId, id, null, S.SpecJson!, S.CheckpointFolder, null, options.Value.GradientChunkBytes, S.FolderToken));
        var seconds = (DateTime.UtcNow - asked).TotalSeconds;
        if (info is not null && joining.ContainsKey(id))
        {
            joining[id] = info with { State = WorkerState.Joining, Rank = -1 };
            logger.LogInformation("Run {Run}: worker {Worker} starts on {Silo} to join (its start took {Seconds:F1} s)", RunId, id, info.Silo, seconds);
            return;
        }
        // Refused, too slow, or no longer wanted (the run ended or moved on meanwhile): a start that lands late must not
        // leave a loop holding the slot.
        joining.Remove(id);
        joiningSince.Remove(id);
        ready.Remove(id);
        await AbortWorkers([id], info is null ? "its start failed or did not answer in time" : "the run no longer waits for it");
    }

    /// <summary>Starts a worker on <paramref name="silo"/>; no info but a problem (and the silo passed over for a while)
    /// when it refuses or does not answer in time.</summary>
    private async Task<(WorkerInfo? Info, string? Problem)> StartOn(SiloAddress silo, WorkerAssignment assignment)
    {
        Task<WorkerInfo> call;
        // Placement reads the silo from the request context of the worker's first call.
        RequestContext.Set(DeviceSlotPlacement.SiloHintKey, silo.ToParsableString());
        try
        {
            call = Worker(assignment.Worker).Start(assignment);
        }
        finally
        {
            RequestContext.Remove(DeviceSlotPlacement.SiloHintKey);
        }
        try
        {
            // A silo that died and is not declared dead yet may not answer until it is.
            return (await call.WaitAsync(StartTimeout), null);
        }
        catch (Exception e)
        {
            busyUntil[silo.ToString()] = DateTime.UtcNow + BusySiloPause;
            var problem = e is TimeoutException ? $"no answer within {StartTimeout.TotalSeconds:F0} s" : e.Message;
            logger.LogWarning("Run {Run}: could not start worker {Worker} on {Silo}: {Problem}", RunId, assignment.Worker, silo, problem);
            return (null, $"worker {assignment.Worker} on {silo}: {problem}");
        }
    }

    /// <summary>Free device slots, one entry per slot, in placement order (silos sorted by address): each active silo's
    /// slots less this run's members and joiners on it, less silos that refused a worker lately.</summary>
    private List<SiloAddress> FreeSlots()
    {
        var now = DateTime.UtcNow;
        var used = S.Workers.Where(w => w.State == WorkerState.Training).Select(w => w.Silo).Concat(joining.Values.Select(j => j.Silo))
            .GroupBy(s => s).ToDictionary(g => g.Key, g => g.Count());
        var free = new List<SiloAddress>();
        foreach (var (silo, slots) in cluster.Active())
        {
            var name = silo.ToString();
            if (busyUntil.TryGetValue(name, out var until) && until > now) continue;
            for (int i = used.GetValueOrDefault(name); i < slots; i++) free.Add(silo);
        }
        return free;
    }

    // ---- settings ----

    private TimeSpan StepDeadline()
    {
        if (S.StepDeadlineSeconds > 0) return TimeSpan.FromSeconds(S.StepDeadlineSeconds);
        var slowest = recent.TakeLast(20).Select(r => r.StepSeconds).DefaultIfEmpty(double.NaN).Max();
        return double.IsNaN(slowest) ? FirstStepDeadline : TimeSpan.FromSeconds(Math.Max(MinimumStepDeadline.TotalSeconds, DeadlineOverSlowestStep * slowest));
    }

    private void SetWorkerBounds(StartRun request)
    {
        var min = request.MinWorkers > 0 ? request.MinWorkers : 1;
        var max = request.MaxWorkers > 0 ? request.MaxWorkers : request.Workers;
        CheckWorkerBounds(request.Workers, min, max, maxGiven: true);
        if (request.StepDeadlineSeconds < 0 || double.IsNaN(request.StepDeadlineSeconds))
            throw new RunRequestException("--step-deadline", $"must be 0 (derived from recent steps) or a number of seconds (is {request.StepDeadlineSeconds}).");
        (S.TargetWorkers, S.MinWorkers, S.MaxWorkers, S.StepDeadlineSeconds) = (request.Workers, min, max, request.StepDeadlineSeconds);
    }

    private static void CheckWorkerBounds(int workers, int min, int max, bool maxGiven)
    {
        if (workers < 1) throw new RunRequestException("--workers", $"must be at least 1 (is {workers}); `growlength stop` ends a run.");
        if (min < 1) throw new RunRequestException("--min-workers", $"must be at least 1 (is {min}).");
        if (min > workers) throw new RunRequestException("--min-workers", $"{min} is above --workers {workers}.");
        if (max < workers)
            throw new RunRequestException(maxGiven ? "--max-workers" : "--workers", maxGiven
                ? $"{max} is below --workers {workers}."
                : $"{workers} is above the run's --max-workers {max}; give --max-workers too.");
    }

    /// <summary>Progress the ledger has beyond the state file (written at most every few seconds between checkpoints).</summary>
    private async Task CatchUpFromLedger()
    {
        var path = LedgerPath;
        var entries = await InputErrors.OffScheduler(() => RunLedger.Read(path));
        var last = entries.LastOrDefault(e => e.Epoch >= S.TimelineEpoch);
        if (last is not null && last.After.Progress.Step > S.Training.Progress.Step)
        {
            logger.LogInformation("Run {Run}: the ledger has steps up to {Step} beyond the state's {Saved}", RunId, last.After.Progress.Step, S.Training.Progress.Step);
            S.Control = new RunControl(last.After, S.LastCheckpointStep, null);
        }
        if (S.Pending is { } pending && pending.Step != S.Training.Progress.Step) S.Control = S.Control with { Pending = null };
        var records = await GrainFactory.GetGrain<ICheckpointGrain>(RunId).List();
        var newest = records.Where(r => r.Epoch >= S.TimelineEpoch && r.Step <= S.Training.Progress.Step).Select(r => r.Step).DefaultIfEmpty(-1).Max();
        if (newest > S.LastCheckpointStep) S.Control = RunController.Committed(S.Control, newest);
    }
}
