using System.Text.Json;
using GrowLength.Grains.Hosting;
using GrowLength.Grains.Placement;
using GrowLength.Grains.Storage;
using GrowLength.Training.Checkpoints;
using GrowLength.Training.Data;
using GrowLength.Training.Engine;
using GrowLength.Training.Evaluation;
using GrowLength.Training.Run;
using GrowLength.Training.Schedules;
using GrowLength.Training.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Utilities;

namespace GrowLength.Grains;

/// <summary>A run's coordinator: a thin shell over the run's <see cref="RunController"/>. It persists the loop's state,
/// hands each decided order to the workers' pull requests (epoch-stamped), folds their reports through the loop (each
/// committed step first written to the run's ledger), and broadcasts every run event once to its observers. It also
/// keeps the run's membership: it notices lost workers (membership, step deadlines, failed exchanges), moves the
/// survivors to a new epoch, reloads the last checkpoint when none survive, and grows or shrinks the run to its target
/// at step boundaries (<see cref="ScheduleCoordinatorGrain"/>'s recovery half). No training logic lives here.
/// Reentrant: a plan request waits for the previous step's last report, which must get in. Placed on the silo of its
/// first caller: the gateway a client started the run through, or a surviving worker's silo when it reactivates.</summary>
[Reentrant]
[Orleans.Placement.PreferLocalPlacement]
public sealed partial class ScheduleCoordinatorGrain(
    [PersistentState("run", GrowLengthStorage.Name)] IPersistentState<CoordinatorState> store,
    IOptions<GrowLengthSiloOptions> options,
    ILogger<ScheduleCoordinatorGrain> logger,
    ILoggerFactory loggers,
    ClusterSlots cluster,
    TrainingMetrics metrics,
    Microsoft.Extensions.Hosting.IHostApplicationLifetime lifetime) : Grain, IScheduleCoordinatorGrain
{
    /// <summary>Between checkpoints, progress is written at most this often (status after a crash is at most this old;
    /// the ledger, written at every step, has the rest).</summary>
    public static readonly TimeSpan ProgressWriteInterval = TimeSpan.FromSeconds(10);

    /// <summary>Events kept in the run's state.</summary>
    public const int KeptEvents = 256;

    /// <summary>Events a status carries: enough for a glance; the whole kept list is one Events call away.</summary>
    private const int StatusEvents = 8;

    private static readonly TimeSpan PlanWait = TimeSpan.FromSeconds(5);
    private readonly Dictionary<int, StepReport> reports = [];
    private readonly Queue<StepRecord> recent = new();
    private readonly SemaphoreSlim writeLock = new(1, 1);
    private StateWriter<CoordinatorState>? writer;
    private IGrainTimer? owedWrite;
    private readonly ObserverManager<IRunObserver> observers = new(IScheduleCoordinatorGrain.SubscriptionLifetime, logger);
    private RunController? controller;
    private (long Epoch, long Step, Task<StepOrder> Order)? decided;
    private DateTime lastProgressWrite = DateTime.MinValue;
    private TaskCompletionSource stepDone = NewSignal();

    private CoordinatorState S => store.State;
    private string RunId => this.GetPrimaryKeyString();
    private RunController Controller => controller ??= new RunController(RunSpecJson.Parse(S.SpecJson!, "run spec"));
    private RunSpec Spec => Controller.Spec;
    /// <summary>In the run's checkpoint folder, beside (not among) the checkpoints: storage every silo of the run reaches, so a
    /// coordinator that reactivates on another machine reads the same ledger, and the ledger does not depend on the grain
    /// storage being up (PostgreSQL may be restarting while steps commit).</summary>
    private string LedgerPath => RunLedger.PathIn(S.CheckpointFolder);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (S.Lifecycle is not (RunLifecycle.Running or RunLifecycle.Stopping)) return;
        // The silo that held this coordinator stopped mid-run. The ledger has every step committed since the state was
        // last written; the survivors, if any, wait for the next order.
        await CatchUpFromLedger();
        logger.LogWarning("Run {Run}: the coordinator reactivated at step {Step}; checking its workers", RunId, S.Training.Progress.Step);
        // Settled before the first call is answered: a status right after a crash says what became of the run.
        reactivated = true;
        await Regroup("the coordinator's silo stopped");
        if (IsActive) StartTicker();
    }

    // ---- client API ----

    public async Task<RunStatus> Create(CreateRun request)
    {
        InputErrors.CheckRunId(RunId);
        if (S.Lifecycle != RunLifecycle.None)
            throw new RunRequestException(RunId, $"a run with this id already exists ({S.Lifecycle}); pick another id or resume it.");
        var spec = await InputErrors.OffScheduler(() =>
        {
            var parsed = RunSpecJson.Parse(request.SpecJson, "run spec").Validated();
            options.Value.RunFileRoots().Check(parsed.Data.Path, "data.path");
            return parsed;
        });
        var cache = options.Value.CorpusCacheFolder;
        var limits = options.Value.CorpusLimits;
        var cpu = options.Value.DeviceKind == "cpu";
        // Packs the corpus into this silo's cache and checks it can feed a step; the coordinator itself never reads it.
        var resolved = await InputErrors.OffScheduler(() =>
        {
            // Before the corpus: a model that cannot fit is refused with nothing written, not even a packed corpus. Only a
            // CPU worker's memory is the host's; a GPU's is its own, and its worker's preflight finds that limit.
            if (cpu) TrainingMemory.Check(spec.WithVocabularyOf(TokenizerCatalog.Create(spec.Data.Tokenizer)), HostMemory.Available());
            // Under the corpus code's own category, so the ingest summary shows where data logs are shown (the client shows them).
            using var opened = PreparedRun.Open(spec, cache, loggers.CreateLogger(typeof(CorpusCache)), limits);
            return opened.Spec;
        });
        var folder = Path.GetFullPath(Path.Combine(options.Value.CheckpointFolder, RunId));
        var token = $"{RunId} {Guid.NewGuid():N}";
        await Task.Run(() =>
        {
            CheckWritable(folder);
            RunFolderMarker.Write(folder, token);
        });
        S.FolderToken = token;
        S.SpecJson = RunSpecJson.ToJson(resolved);
        controller = new RunController(resolved);
        S.CheckpointFolder = folder;
        S.Lifecycle = RunLifecycle.Created;
        S.Control = RunControl.Initial;
        await Persist(required: true);
        await GrainFactory.GetGrain<IRunRegistryGrain>(IRunRegistryGrain.Key).Add(RunId);
        logger.LogInformation("Run {Run} created ({Preset}, {Schedule} {Min}→{Max})", RunId, resolved.Model.Preset, resolved.Schedule.Kind, resolved.Schedule.MinLength, resolved.Schedule.MaxLength);
        return Snapshot();
    }

    public async Task<RunStatus> Start(StartRun request)
    {
        RequireKnown();
        if (S.Lifecycle != RunLifecycle.Created)
            throw new RunRequestException(RunId, $"the run is {S.Lifecycle}; only a created run starts (use resume for a stopped or failed one).");
        SetWorkerBounds(request);
        await LaunchRequested(resume: null);
        return Snapshot();
    }

    public async Task<RunStatus> Resume(StartRun request)
    {
        RequireKnown();
        switch (S.Lifecycle)
        {
            case RunLifecycle.Completed:
                throw new RunRequestException(RunId, "the run is completed; there is nothing to resume.");
            case RunLifecycle.Running or RunLifecycle.Stopping:
                throw new RunRequestException(RunId, $"the run is {S.Lifecycle}; stop it before resuming.");
            case RunLifecycle.Created:
                SetWorkerBounds(request);
                await LaunchRequested(resume: null);
                return Snapshot();
        }
        // Verified once, by the checkpoint grain; its record (and the state it carries) is passed on as it is.
        var choice = await GrainFactory.GetGrain<ICheckpointGrain>(RunId).Choose();
        // Both refusals come before anything changes: the run stays as it was.
        if (request.StartOver && choice.Latest is { } usable)
            throw new RunRequestException("--start-over", $"run {RunId} has a checkpoint that verifies, at step {usable.Step}: `growlength resume {RunId}` continues from it. "
                + "--start-over begins again from step 0 only when none does (`growlength run --fresh` starts a new run).");
        if (Unreloadable(choice) is { } why && !request.StartOver)
            throw new RunRequestException(RunId, $"{why}. Restore a checkpoint's files, or `growlength resume {RunId} --start-over` begins again from step 0.");
        SetWorkerBounds(request);
        await RollBackTo(choice.Latest);
        await LaunchRequested(choice.Latest);
        if (request.StartOver)
            await Publish(RunEventKind.StartedOver, "started over from step 0 on request (--start-over): "
                + (choice.Refused.Length > 0 ? $"no recorded checkpoint verified: {choice.RefusalList()}" : "no checkpoint was recorded"));
        return Snapshot();
    }

    public async Task<RunStatus> Stop()
    {
        RequireKnown();
        if (S.Lifecycle != RunLifecycle.Running)
            throw new RunRequestException(RunId, $"the run is {S.Lifecycle}, not running; nothing to stop.");
        if (S.Workers.Count == 0)
        {
            // Waiting for slots to reload: nothing is training, and the checkpoint it would reload is the resume point.
            await Finished(RunLifecycle.Stopped, $"stopped while waiting for device slots; resume continues from the checkpoint at step {S.LastCheckpointStep}");
            return Snapshot();
        }
        S.Lifecycle = RunLifecycle.Stopping;
        await Publish(RunEventKind.StopRequested, "stop asked for: the workers finish the current step and checkpoint");
        Signal();
        return Snapshot();
    }

    public async Task<RunStatus> Scale(ScaleRun request)
    {
        RequireKnown();
        if (S.Lifecycle is not (RunLifecycle.Running or RunLifecycle.Stopping))
            throw new RunRequestException(RunId, S.Lifecycle == RunLifecycle.Completed
                ? "the run is completed; there is nothing to scale."
                : $"the run is {S.Lifecycle}, not running; `growlength resume {RunId} --workers N` sets its workers.");
        var min = request.MinWorkers > 0 ? request.MinWorkers : S.MinWorkers;
        var max = request.MaxWorkers > 0 ? request.MaxWorkers : S.MaxWorkers;
        CheckWorkerBounds(request.Workers, min, max, maxGiven: request.MaxWorkers > 0);
        (S.TargetWorkers, S.MinWorkers, S.MaxWorkers) = (request.Workers, min, max);
        await Persist();
        logger.LogInformation("Run {Run}: target {Workers} workers (min {Min}, max {Max})", RunId, request.Workers, min, max);
        return Snapshot();
    }

    public Task<LedgerSummary> Ledger()
    {
        RequireKnown();
        var path = LedgerPath;
        return InputErrors.OffScheduler(() =>
        {
            var check = RunLedger.Check(path);
            return new LedgerSummary(check.Exact, check.Steps, check.Tokens, check.TokensRetrained, check.Epochs, check.Problem, path);
        });
    }

    public Task<RunStatus> Status()
    {
        RequireKnown();
        return Task.FromResult(Snapshot());
    }

    public Task<StepRecord[]> Steps(long fromStep) => Task.FromResult(recent.Where(r => r.Step >= fromStep).ToArray());

    public Task<EvaluationRecord[]> Evaluations() => Task.FromResult(S.Evaluations.ToArray());

    public Task<RunEvent[]> Events(long afterSequence) => Task.FromResult(S.Events.Where(e => e.Sequence > afterSequence).ToArray());

    public Task Subscribe(IRunObserver observer)
    {
        observers.Subscribe(observer, observer);
        return Task.CompletedTask;
    }

    public Task Unsubscribe(IRunObserver observer)
    {
        observers.Unsubscribe(observer);
        return Task.CompletedTask;
    }

    // ---- worker protocol ----

    public async Task<StepOrder> NextStep(long worker, long epoch, long applied, bool held)
    {
        // Bounded wait: the worker asks again on TimeoutException, so a slow peer never trips the response timeout, and a
        // request whose worker is gone does not hold the activation (and a silo shutdown) for long.
        var deadline = DateTime.UtcNow + PlanWait;
        while (true)
        {
            if (!IsActive) return Aborted($"the run is {S.Lifecycle}");
            var rank = RankOf(worker);
            if (rank < 0 && !joining.ContainsKey(worker)) return Aborted($"worker {worker} is not a member of epoch {S.Epoch}");
            if (rank >= 0 && S.Workers[rank].State == WorkerState.Training)
            {
                var progress = S.Training.Progress.Step;
                // A step reported in this epoch and not folded yet is in flight: the order waits for the other ranks' reports.
                bool inFlight = held && applied == progress && epoch == S.Epoch;
                if (!inFlight)
                {
                    bool apply = held && applied < progress;
                    long at = applied < 0 ? progress : apply ? applied + 1 : applied;
                    if (at != progress)
                    {
                        var reason = $"worker {worker} holds the parameters after step {at}, but the run has completed {progress}";
                        await Recover(reason, [worker]);
                        return Aborted(reason);
                    }
                    bool evaluating = S.EvaluationDue == progress;
                    if (!evaluating || rank == 0)
                    {
                        var currentEpoch = S.Epoch;
                        var order = await DecideOnce(progress);
                        // The membership may have moved on while the order was made durable: ask afresh.
                        if (S.Epoch != currentEpoch || RankOf(worker) != rank) continue;
                        if (evaluating) evaluationAskedAt ??= DateTime.UtcNow;
                        else stepStartedAt ??= DateTime.UtcNow;
                        return order with
                        {
                            Epoch = S.Epoch,
                            Membership = Members,
                            ApplyHeld = apply,
                            Evaluate = evaluating,
                            Donate = worker == donor && joinedThisEpoch.Count > 0,
                            Donor = joinedThisEpoch.Contains(worker) ? donor : -1,
                            DeadlineSeconds = StepDeadline().TotalSeconds,
                        };
                    }
                }
            }
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero) throw new TimeoutException($"step {S.Training.Progress.Step} is not yet reported by every worker; ask again");
            await stepDone.Task.WaitAsync(left).ContinueWith(_ => { }, TaskScheduler.Current);
        }
    }

    public async Task Report(StepReport report)
    {
        if (!IsActive || report.Epoch != S.Epoch) return;
        var plan = S.Pending?.Plan;
        var rank = RankOf(report.Worker);
        // A report of a step given up (an older epoch, a step already folded) is stale: the step is trained again.
        if (plan is null || report.Step != plan.Step || rank < 0 || rank != report.Rank) return;
        reports[rank] = report;
        if (reports.Count < S.Workers.Count) return;

        var all = reports.Values.OrderBy(r => r.Rank).ToArray();
        reports.Clear();
        var fold = Controller.Fold(S.Control, [.. all.Select(r => new RankReport(r.Rank, r.Length, r.LossSum, r.Tokens, r.Seconds, r.ParameterChecksum))]);
        if (fold.Failed)
        {
            await Fail(fold.Failure!);
            return;
        }
        // The ledger line makes the step committed: written before any rank hears it, in this turn (a small append), so no
        // other turn sees the step half folded. A coordinator that restarts reads its progress from here.
        try
        {
            RunLedger.Append(LedgerPath, new LedgerEntry(S.Epoch, plan.Step, plan.Length, plan.StreamOffset, plan.Rows, plan.Tokens,
                [.. all.Select(r => new LedgerShare(r.Rank, r.Worker, r.FirstRow, r.RowStride, r.RowCount))], fold.State.Training));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            await Fail($"could not write the run's ledger {LedgerPath}: {e.Message}");
            return;
        }
        S.Control = fold.State;
        var progress = fold.State.Training.Progress;
        recent.Enqueue(new StepRecord(plan.Step, plan.Stage, plan.Length, fold.Loss, progress.Tokens, plan.Tokens, fold.Seconds, plan.Tokens / fold.Seconds,
            plan.LearningRate, all[0].GradNorm, all.Max(r => r.DataWaitSeconds), all.Max(r => r.ExchangeSeconds),
            all.Select(r => r.ParameterChecksum).ToArray(), all.Select(r => r.Length).ToArray(), all.Min(r => r.ExchangeSeconds),
            all.Min(r => r.ExchangeWorkSeconds)));
        while (recent.Count > options.Value.RecentSteps) recent.Dequeue();
        stepStartedAt = null;
        joinedThisEpoch.Clear();
        aborts = (-1, 0);
        reactivated = false;
        var last = S.LastPointStep >= 0 ? (S.LastPointStep, S.LastPointSeconds) : ((long, double)?)null;
        var complete = Controller.IsComplete(progress);
        var due = Controller.CurvePointDue(S.Training, last, finished: complete);
        // The end has its point even without a curve: it is the run's final validation loss.
        if (complete && S.LastPointStep != progress.Step) due = (due ?? new CurvePointDue(true, ValidationCadence.NoTransition)) with { OnCadence = true };
        if (due is not null) (S.EvaluationDue, S.EvaluationDueOnCadence, S.EvaluationDueTransition) = (progress.Step, due.OnCadence, due.TransitionOffset);
        var recovered = recovering;
        recovering = null;
        // Workers join or leave here, between steps, before any rank hears the next order.
        var epochChanged = await AtStepBoundary();
        if (!epochChanged) Signal();
        if (recovered is { } r) await Recovered(r);
        else if (epochChanged || DateTime.UtcNow - lastProgressWrite >= ProgressWriteInterval) await Persist();
    }

    public async Task StepFailed(long worker, long epoch, long step, string reason)
    {
        if (!IsActive || epoch != S.Epoch) return;
        await Regroup($"worker {RankOf(worker)} gave up step {step}: {reason}");
    }

    public Task JoinReady(long worker)
    {
        if (joining.TryGetValue(worker, out var info))
        {
            ready.Add(worker);
            logger.LogInformation("Run {Run}: worker {Worker} on {Silo} is ready to join at the next step boundary", RunId, worker, info.Silo);
        }
        return Task.CompletedTask;
    }

    public async Task ReportEvaluation(long epoch, long steps, int length, double loss, int windows, double standardError)
    {
        if (!IsActive) return;
        var p = S.Training.Progress;
        if (steps != p.Step)
        {
            // Measured by a rank 0 of a history the run rolled back from, or before a recovery moved the run on.
            logger.LogInformation("Run {Run}: a validation point after step {Steps} arrived at step {Step}; dropped", RunId, steps, p.Step);
            return;
        }
        // A point not due now is a retried report of one recorded already: it keeps its mark and moves no cadence.
        bool due = S.EvaluationDue == steps;
        var transition = due ? S.EvaluationDueTransition
            : S.Evaluations.FirstOrDefault(e => e.Steps == steps)?.TransitionOffset ?? ValidationCadence.NoTransition;
        if (windows > 0 && double.IsFinite(loss))
        {
            S.Evaluations.RemoveAll(e => e.Steps >= steps);
            S.Evaluations.Add(new EvaluationRecord(steps, p.Tokens, p.ElapsedSeconds, length, loss, windows, standardError, transition));
        }
        // Points around length changes leave the regular cadence's spacing as it was.
        if (due && S.EvaluationDueOnCadence) (S.LastPointStep, S.LastPointSeconds) = (steps, p.ElapsedSeconds);
        if (due) (S.EvaluationDue, S.EvaluationDueOnCadence, S.EvaluationDueTransition) = (-1, true, ValidationCadence.NoTransition);
        evaluationAskedAt = null;
        Signal();
        await Persist();
    }

    public async Task CheckpointCommitted(CheckpointRecord record)
    {
        // A checkpoint of a history the run rolled back from is a good checkpoint (the checkpoint grain keeps it), but says
        // nothing about this one.
        if (record.Epoch < S.TimelineEpoch || record.Step > S.Training.Progress.Step || record.Step <= S.LastCheckpointStep) return;
        S.Control = RunController.Committed(S.Control, record.Step);
        // The durable progress is at least this checkpoint's step from now on, whatever happens to the silo.
        await Publish(RunEventKind.CheckpointCommitted, $"checkpoint at step {record.Step}: {record.Folder} ({record.WriteSeconds:F2} s)", record.Step, folder: record.Folder);
        logger.LogInformation("Run {Run}: checkpoint at step {Step} took {Seconds:F2} s", RunId, record.Step, record.WriteSeconds);
    }

    public async Task WorkerDone(long worker, long epoch)
    {
        var rank = RankOf(worker);
        if (!IsActive || rank < 0) return;
        SetWorker(rank, WorkerState.Done);
        if (S.Workers.Any(w => w.State != WorkerState.Done)) return;
        var completed = S.Pending?.Kind == OrderKind.Finish;
        var p = S.Training.Progress;
        await Finished(completed ? RunLifecycle.Completed : RunLifecycle.Stopped,
            completed ? $"completed: {p.Tokens:N0} tokens in {p.Step} steps" : $"stopped at step {p.Step} with a checkpoint at step {S.LastCheckpointStep}");
    }

    public async Task WorkerFailed(long worker, long epoch, string reason, bool leaving)
    {
        if (!IsActive) return;
        if (joining.Remove(worker))
        {
            joiningSince.Remove(worker);
            // A worker that never joined takes nothing with it; the run tries again with the next free slot.
            ready.Remove(worker);
            logger.LogWarning("Run {Run}: worker {Worker} could not join: {Reason}", RunId, worker, reason);
            return;
        }
        var rank = RankOf(worker);
        if (rank < 0) return;
        if (leaving || joinedThisEpoch.Contains(worker))
        {
            await Recover(leaving ? $"worker {rank} left: {reason}" : $"worker {rank} could not join: {reason}", [worker]);
            return;
        }
        // A worker's own failure (out of memory, a checkpoint it cannot write, bad data) would fail again on any member.
        SetWorker(rank, WorkerState.Failed);
        await Fail($"worker {rank}: {reason}");
    }

    // ---- internals ----

    private bool IsActive => S.Lifecycle is RunLifecycle.Running or RunLifecycle.Stopping;

    private Membership Members => new(S.Epoch, [.. S.Workers.Select(w => w.Worker)]);

    private int RankOf(long worker) => S.Workers.FindIndex(w => w.Worker == worker);

    private StepOrder Aborted(string reason) => new(StepOrderKind.Abort, S.Epoch, null, null, -1, Members, Reason: reason);

    private Task<StepOrder> DecideOnce(long step)
    {
        // Every rank gets the same order, and none gets it before a transition it starts is durable.
        if (decided is not { } d || d.Epoch != S.Epoch || d.Step != step) decided = (S.Epoch, step, Decide());
        return decided.Value.Order;
    }

    /// <summary>The loop's order for the next step, made durable (with the stage transition it may start) before any rank gets it.</summary>
    private async Task<StepOrder> Decide()
    {
        var (next, order, started) = Controller.Next(S.Control, stop: S.Lifecycle == RunLifecycle.Stopping);
        S.Control = next;
        if (started is not null)
        {
            await Publish(RunEventKind.StageStarted, $"stage {started.Stage}: length {started.Length} from step {started.Step} ({started.Tokens:N0} tokens, {started.ElapsedSeconds:F1} s)",
                started.Step, new StageInfo(started.Stage, started.Length, started.Step, started.Tokens, started.ElapsedSeconds));
            logger.LogInformation("Run {Run}: stage {Stage} at length {Length} from step {Step}", RunId, started.Stage, started.Length, started.Step);
        }
        else if (order.Kind != OrderKind.Train)
        {
            await Persist();
        }
        var plan = order.Plan is { } p ? new StepPlanMessage(p.Step, p.Stage, p.Length, p.Rows, p.StreamOffset, p.Tokens, p.LearningRate, p.MicroBatchRows) : null;
        var kind = order.Kind switch { OrderKind.Train => StepOrderKind.Train, OrderKind.Finish => StepOrderKind.Finish, _ => StepOrderKind.Stop };
        var checkpoint = order.Checkpoint is { } c ? JsonSerializer.Serialize(c, RunSpecJson.Options) : null;
        return new StepOrder(kind, S.Epoch, plan, checkpoint, order.Step, null);
    }

    private async Task Fail(string reason, RunEventKind kind = RunEventKind.Failed)
    {
        if (S.Lifecycle is RunLifecycle.Failed or RunLifecycle.Completed) return;
        S.Lifecycle = RunLifecycle.Failed;
        S.Reason = reason;
        logger.LogError("Run {Run} failed: {Reason}", RunId, reason);
        Signal();
        StopTicker();
        foreach (var w in S.Workers.Where(w => w.State == WorkerState.Training).ToList()) SetWorker(w.Rank, WorkerState.Aborted);
        await Publish(kind, kind == RunEventKind.Failed ? $"failed at step {S.Training.Progress.Step}: {reason}" : reason);
        await AbortWorkers([.. S.Workers.Select(w => w.Worker), .. joining.Keys], reason);
        joining.Clear();
        joiningSince.Clear();
        ready.Clear();
    }

    /// <summary>The run ends (completed or stopped): the event, the state, and no more membership checks.</summary>
    private async Task Finished(RunLifecycle lifecycle, string message)
    {
        S.Lifecycle = lifecycle;
        StopTicker();
        Signal();
        await Publish(lifecycle == RunLifecycle.Completed ? RunEventKind.Completed : RunEventKind.Stopped, message);
        await AbortWorkers([.. joining.Keys], message);
        joining.Clear();
        joiningSince.Clear();
        ready.Clear();
        logger.LogInformation("Run {Run} {Lifecycle} at step {Step}", RunId, S.Lifecycle, S.Training.Progress.Step);
    }

    /// <summary>Stops the loops of <paramref name="workers"/> (best effort: a worker that cannot be reached has no loop left).</summary>
    private async Task AbortWorkers(IReadOnlyCollection<long> workers, string reason)
    {
        var epoch = S.Epoch;
        await Task.WhenAll(workers.Select(async w =>
        {
            try
            {
                await Worker(w).Abort(epoch, reason).WaitAsync(ProbeTimeout);
            }
            catch (Exception e)
            {
                logger.LogWarning("Could not abort worker {Worker} of {Run}: {Problem}", w, RunId, e.Message);
            }
        }));
    }

    /// <summary>Records an event, makes it and the state durable, then tells every observer once.</summary>
    private async Task Publish(RunEventKind kind, string message, long? step = null, StageInfo? stage = null, string? folder = null, RecoveryInfo? recovery = null)
    {
        var e = Record(kind, message, step, stage, folder, recovery);
        await Announce(e);
    }

    /// <summary>Makes a recorded event (and the state) durable, then tells every observer once.</summary>
    private async Task Announce(RunEvent e)
    {
        await Persist();
        await observers.Notify(o => o.OnRunEvent(e));
    }

    private RunEvent Record(RunEventKind kind, string message, long? step = null, StageInfo? stage = null, string? folder = null, RecoveryInfo? recovery = null)
    {
        var e = new RunEvent((S.Events.Count == 0 ? 0 : S.Events[^1].Sequence) + 1, kind, DateTime.UtcNow, S.Epoch,
            step ?? S.Training.Progress.Step, message, stage, folder, recovery);
        S.Events.Add(e);
        if (S.Events.Count > KeptEvents) S.Events.RemoveRange(0, S.Events.Count - KeptEvents);
        return e;
    }

    private void SetWorker(int rank, WorkerState state)
    {
        if (rank >= 0 && rank < S.Workers.Count) S.Workers[rank] = S.Workers[rank] with { State = state };
    }

    // Reentrant turns may interleave; state writes must not (each write checks the ETag of the one before). A write that
    // fails (the storage is away: PostgreSQL restarting) does not stop the run: the ledger holds every committed step, and
    // the owed state is written again with backoff until the storage is back. Only a run's creation needs its first write.
    private async Task Persist(bool required = false)
    {
        await writeLock.WaitAsync();
        try
        {
            if (required) await Writer.Write();
            else if (!await Writer.TryWrite())
            {
                RetryOwedWrite();
                return;
            }
            lastProgressWrite = DateTime.UtcNow;
            owedWrite?.Dispose();
            owedWrite = null;
        }
        finally
        {
            writeLock.Release();
        }
    }

    private StateWriter<CoordinatorState> Writer => writer ??= new(store, logger, $"the state of run {RunId}");

    /// <summary>Schedules the next try of an owed write (<see cref="StateWriter{T}.RetryDelay"/>): its own timer, not the
    /// membership tick, so the last write of a run that ended during the outage is owed too.</summary>
    private void RetryOwedWrite()
    {
        var delay = Writer.RetryDelay;
        if (owedWrite is null)
            owedWrite = this.RegisterGrainTimer(_ => Persist(), new GrainTimerCreationOptions(delay, delay) { Interleave = true, KeepAlive = true });
        else
            owedWrite.Change(delay, delay);
    }

    private void Signal()
    {
        var signal = stepDone;
        stepDone = NewSignal();
        signal.SetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private IWorkerGrain Worker(long worker) => GrainFactory.GetGrain<IWorkerGrain>(WorkerKeys.For(RunId, worker));

    private void RequireKnown()
    {
        if (S.Lifecycle == RunLifecycle.None)
            throw new RunRequestException(RunId, "no run has this id; create it first (growlength list shows the known runs).");
    }

    private static void CheckWritable(string folder)
    {
        try
        {
            Directory.CreateDirectory(folder);
            var probe = Path.Combine(folder, $".write-probe-{Guid.NewGuid():N}");
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RunRequestException($"{GrowLengthSiloOptions.Section}:CheckpointFolder", $"'{folder}' is not writable ({e.Message}); point it at a writable folder.");
        }
    }

    private RunStatus Snapshot()
    {
        var p = S.Training.Progress;
        var last = recent.TakeLast(10).ToArray();
        double rate = last.Length == 0 ? 0 : last.Sum(r => r.StepTokens) / last.Sum(r => r.StepSeconds);
        double fraction = 0, eta = double.NaN;
        if (S.SpecJson is not null)
        {
            var budget = Spec.Budget;
            fraction = BudgetFraction.Of(p, budget);
            eta = budget.IsTokens ? (rate > 0 ? Math.Max(0, budget.Tokens - p.Tokens) / rate : double.NaN) : Math.Max(0, budget.Seconds - p.ElapsedSeconds);
        }
        return new RunStatus(RunId, S.Lifecycle, S.Reason, p.Step, p.Stage, S.Training.CurrentLength, p.Tokens, fraction, rate,
            recent.Count > 0 ? recent.Last().Loss : double.NaN, eta, p.ElapsedSeconds, S.Epoch, S.Workers.Count, [.. S.Workers, .. joining.Values],
            S.LastCheckpointStep, [.. S.Training.Transitions.Select(t => new StageInfo(t.Stage, t.Length, t.Step, t.Tokens, t.ElapsedSeconds))], [.. last],
            [.. S.Events.TakeLast(StatusEvents)], S.TargetWorkers, S.MinWorkers, S.MaxWorkers, S.Recoveries, S.LastRecoverySeconds);
    }
}
