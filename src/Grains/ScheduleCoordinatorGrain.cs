using System.Text.Json;
using GrowLength.Grains.Hosting;
using GrowLength.Training.Checkpoints;
using GrowLength.Training.Data;
using GrowLength.Training.Engine;
using GrowLength.Training.Run;
using GrowLength.Training.Schedules;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Utilities;

namespace GrowLength.Grains;

/// <summary>A run's coordinator: a thin shell over the run's <see cref="RunController"/>. It persists the loop's state,
/// hands each decided order to the workers' pull requests (epoch-stamped), folds their reports through the loop, and
/// broadcasts every run event once to its observers (workers and watching clients). No training logic lives here.
/// Reentrant: a plan request waits for the previous step's last report, which must get in.</summary>
[Reentrant]
public sealed class ScheduleCoordinatorGrain(
    [PersistentState("run", GrowLengthStorage.Name)] IPersistentState<CoordinatorState> store,
    IOptions<GrowLengthSiloOptions> options,
    ILogger<ScheduleCoordinatorGrain> logger,
    ILoggerFactory loggers) : Grain, IScheduleCoordinatorGrain
{
    /// <summary>Between checkpoints, progress is written at most this often (status after a crash is at most this old,
    /// and never older than the last checkpoint).</summary>
    public static readonly TimeSpan ProgressWriteInterval = TimeSpan.FromSeconds(10);

    /// <summary>Events kept in the run's state.</summary>
    public const int KeptEvents = 256;

    /// <summary>Events a status carries: enough for a glance; the whole kept list is one Events call away.</summary>
    private const int StatusEvents = 8;

    private static readonly TimeSpan PlanWait = TimeSpan.FromSeconds(5);
    private readonly Dictionary<int, StepReport> reports = [];
    private readonly Queue<StepRecord> recent = new();
    private readonly SemaphoreSlim writeLock = new(1, 1);
    private readonly ObserverManager<IRunObserver> observers = new(IScheduleCoordinatorGrain.SubscriptionLifetime, logger);
    private RunController? controller;
    private long decidedStep = -1;
    private Task<StepOrder>? decided;
    private DateTime lastProgressWrite = DateTime.MinValue;
    private TaskCompletionSource stepDone = NewSignal();

    private CoordinatorState S => store.State;
    private string RunId => this.GetPrimaryKeyString();
    private RunController Controller => controller ??= new RunController(RunSpecJson.Parse(S.SpecJson!, "run spec"));
    private RunSpec Spec => Controller.Spec;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (S.Lifecycle is RunLifecycle.Running or RunLifecycle.Stopping)
        {
            // The silo that held this run stopped mid-run: its loops are gone. The state holds the last durable step.
            var from = S.LastCheckpointStep >= 0 ? $"the checkpoint at step {S.LastCheckpointStep}" : "step 0 (no checkpoint was committed)";
            S.Lifecycle = RunLifecycle.Failed;
            S.Reason = $"interrupted at step {S.Training.Progress.Step}: the silo coordinating the run stopped; resume continues from {from}";
            foreach (var w in S.Workers.Where(w => w.State == WorkerState.Training).ToList()) SetWorker(w.Rank, WorkerState.Aborted);
            Record(RunEventKind.Interrupted, S.Reason);
            await store.WriteStateAsync(cancellationToken);
            logger.LogWarning("Run {Run}: {Reason}", RunId, S.Reason);
        }
    }

    // ---- client API ----

    public async Task<RunStatus> Create(CreateRun request)
    {
        InputErrors.CheckRunId(RunId);
        if (S.Lifecycle != RunLifecycle.None)
            throw new RunRequestException(RunId, $"a run with this id already exists ({S.Lifecycle}); pick another id or resume it.");
        var spec = await InputErrors.OffScheduler(() => RunSpecJson.Parse(request.SpecJson, "run spec").Validated());
        var cache = options.Value.CorpusCacheFolder;
        // Packs the corpus into this silo's cache and checks it can feed a step; the coordinator itself never reads it.
        var resolved = await InputErrors.OffScheduler(() =>
        {
            // Under the corpus code's own category, so the ingest summary shows where data logs are shown (the client shows them).
            using var opened = PreparedRun.Open(spec, cache, loggers.CreateLogger(typeof(CorpusCache)));
            return opened.Spec;
        });
        var folder = Path.GetFullPath(Path.Combine(options.Value.CheckpointFolder, RunId));
        await Task.Run(() => CheckWritable(folder));
        S.SpecJson = RunSpecJson.ToJson(resolved);
        controller = new RunController(resolved);
        S.CheckpointFolder = folder;
        S.Lifecycle = RunLifecycle.Created;
        S.Control = RunControl.Initial;
        await Persist();
        await GrainFactory.GetGrain<IRunRegistryGrain>(IRunRegistryGrain.Key).Add(RunId);
        logger.LogInformation("Run {Run} created ({Preset}, {Schedule} {Min}→{Max})", RunId, resolved.Model.Preset, resolved.Schedule.Kind, resolved.Schedule.MinLength, resolved.Schedule.MaxLength);
        return Snapshot();
    }

    public async Task<RunStatus> Start(StartRun request)
    {
        RequireKnown();
        if (S.Lifecycle != RunLifecycle.Created)
            throw new RunRequestException(RunId, $"the run is {S.Lifecycle}; only a created run starts (use resume for a stopped or failed one).");
        await Launch(request.Workers, resume: null);
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
                await Launch(request.Workers, resume: null);
                return Snapshot();
        }
        // Verified once, by the checkpoint grain; its record (and the state it carries) is passed on as it is.
        var latest = await GrainFactory.GetGrain<ICheckpointGrain>(RunId).Latest();
        if (latest is null)
        {
            logger.LogWarning("Run {Run} has no complete checkpoint; resuming from step 0", RunId);
            S.Control = RunControl.Initial;
            S.Evaluations.Clear();
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
            logger.LogInformation("Run {Run} resumes from the checkpoint at step {Step}", RunId, latest.Step);
        }
        await Launch(request.Workers, latest);
        return Snapshot();
    }

    public async Task<RunStatus> Stop()
    {
        RequireKnown();
        if (S.Lifecycle != RunLifecycle.Running)
            throw new RunRequestException(RunId, $"the run is {S.Lifecycle}, not running; nothing to stop.");
        S.Lifecycle = RunLifecycle.Stopping;
        await Publish(RunEventKind.StopRequested, "stop asked for: the workers finish the current step and checkpoint");
        return Snapshot();
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

    public async Task<StepOrder> NextStep(int rank, long epoch, long step)
    {
        // Bounded wait: the worker asks again on TimeoutException, so a slow peer never trips the response timeout, and a
        // request whose worker is gone does not hold the activation (and a silo shutdown) for long.
        var deadline = DateTime.UtcNow + PlanWait;
        while (IsCurrent(epoch) && S.Training.Progress.Step < step)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero) throw new TimeoutException($"step {step - 1} is not yet reported by every worker; ask again");
            await stepDone.Task.WaitAsync(left).ContinueWith(_ => { }, TaskScheduler.Current);
        }
        if (!IsCurrent(epoch)) return new StepOrder(StepOrderKind.Abort, epoch, null, null, -1);
        if (step != S.Training.Progress.Step)
            throw new InvalidOperationException($"worker {rank} asked for step {step}, but the run has completed {S.Training.Progress.Step} steps");
        // Every rank gets the same order, and none gets it before a transition it starts is durable.
        if (decidedStep != step)
        {
            decidedStep = step;
            decided = Decide();
        }
        return await decided!;
    }

    public async Task Report(StepReport report)
    {
        if (!IsCurrent(report.Epoch)) return;
        var plan = S.Pending?.Plan;
        if (plan is null || report.Step != plan.Step)
            throw new InvalidOperationException($"worker {report.Rank} reported step {report.Step}, but step {plan?.Step} is in progress");
        reports[report.Rank] = report;
        if (reports.Count < S.WorldSize) return;

        var all = reports.Values.OrderBy(r => r.Rank).ToArray();
        reports.Clear();
        var fold = Controller.Fold(S.Control, [.. all.Select(r => new RankReport(r.Rank, r.Length, r.LossSum, r.Tokens, r.Seconds, r.ParameterChecksum))]);
        if (fold.Failed)
        {
            await Fail(fold.Failure!);
            return;
        }
        S.Control = fold.State;
        var progress = fold.State.Training.Progress;
        recent.Enqueue(new StepRecord(plan.Step, plan.Stage, plan.Length, fold.Loss, progress.Tokens, plan.Tokens, fold.Seconds, plan.Tokens / fold.Seconds,
            plan.LearningRate, all[0].GradNorm, all.Max(r => r.DataWaitSeconds), all.Max(r => r.ExchangeSeconds),
            all.Select(r => r.ParameterChecksum).ToArray(), all.Select(r => r.Length).ToArray(), all.Min(r => r.ExchangeSeconds)));
        while (recent.Count > options.Value.RecentSteps) recent.Dequeue();
        Signal();
        if (DateTime.UtcNow - lastProgressWrite >= ProgressWriteInterval) await Persist();
    }

    public async Task ReportEvaluation(long epoch, long steps, int length, double loss, int windows)
    {
        if (!IsCurrent(epoch)) return;
        var p = S.Training.Progress;
        if (steps != p.Step)
            throw new InvalidOperationException($"an evaluation after step {steps} arrived when the run has completed {p.Step} steps");
        S.Evaluations.RemoveAll(e => e.Steps >= steps);
        S.Evaluations.Add(new EvaluationRecord(steps, p.Tokens, p.ElapsedSeconds, length, loss, windows));
        await Persist();
    }

    public async Task CheckpointCommitted(CheckpointRecord record)
    {
        // A checkpoint of an earlier epoch is a good checkpoint (the checkpoint grain keeps it), but says nothing about this one.
        if (record.Epoch != S.Epoch || record.Step > S.Training.Progress.Step) return;
        S.Control = RunController.Committed(S.Control, record.Step);
        // The durable progress is at least this checkpoint's step from now on, whatever happens to the silo.
        await Publish(RunEventKind.CheckpointCommitted, $"checkpoint at step {record.Step}: {record.Folder} ({record.WriteSeconds:F2} s)", record.Step, folder: record.Folder);
        logger.LogInformation("Run {Run}: checkpoint at step {Step} took {Seconds:F2} s", RunId, record.Step, record.WriteSeconds);
    }

    public async Task WorkerDone(int rank, long epoch)
    {
        if (!IsCurrent(epoch)) return;
        SetWorker(rank, WorkerState.Done);
        if (S.Workers.Any(w => w.State != WorkerState.Done)) return;
        var completed = S.Pending?.Kind == OrderKind.Finish;
        S.Lifecycle = completed ? RunLifecycle.Completed : RunLifecycle.Stopped;
        var p = S.Training.Progress;
        await Publish(completed ? RunEventKind.Completed : RunEventKind.Stopped,
            completed ? $"completed: {p.Tokens:N0} tokens in {p.Step} steps" : $"stopped at step {p.Step} with a checkpoint at step {S.LastCheckpointStep}");
        logger.LogInformation("Run {Run} {Lifecycle} at step {Step}", RunId, S.Lifecycle, p.Step);
    }

    public async Task WorkerFailed(int rank, long epoch, string reason)
    {
        if (!IsCurrent(epoch)) return;
        SetWorker(rank, WorkerState.Failed);
        await Fail($"worker {rank}: {reason}");
    }

    // ---- internals ----

    private async Task Launch(int workers, CheckpointRecord? resume)
    {
        if (workers < 1) throw new RunRequestException("workers", $"must be at least 1 (is {workers}).");
        // Work off the scheduler gets plain values: grain state may only be touched from the grain's own turns.
        var folder = S.CheckpointFolder;
        await Task.Run(() => CheckWritable(folder));
        S.Epoch++;
        S.WorldSize = workers;
        S.Lifecycle = RunLifecycle.Running;
        S.Reason = null;
        // Listed before they start: a fast loop may report (even finish) while the other starts are still under way.
        S.Workers = [.. Enumerable.Range(0, workers).Select(rank => new WorkerInfo(rank, "", ""))];
        reports.Clear();
        decidedStep = -1;
        decided = null;
        var epoch = S.Epoch;
        var chunk = options.Value.GradientChunkBytes;
        try
        {
            var infos = await Task.WhenAll(Enumerable.Range(0, workers).Select(rank =>
                Worker(rank).Start(new WorkerAssignment(RunId, rank, workers, epoch, S.SpecJson!, folder, resume, chunk))));
            S.Workers = [.. infos.Select(i => i with { State = S.Workers[i.Rank].State })];
        }
        catch (Exception e)
        {
            await Fail($"could not start {workers} workers: {e.Message}");
            throw new RunRequestException("workers", $"could not start {workers} workers: {e.Message}");
        }
        var silos = string.Join(", ", S.Workers.Select(w => w.Silo).Distinct());
        await Publish(RunEventKind.Started, $"epoch {epoch}: {workers} worker{(workers == 1 ? "" : "s")} on {silos}, from step {S.Training.Progress.Step}");
        logger.LogInformation("Run {Run} epoch {Epoch}: {Workers} workers on {Silos}", RunId, epoch, workers, silos);
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
        return new StepOrder(kind, S.Epoch, plan, checkpoint, order.Step);
    }

    private async Task Fail(string reason)
    {
        if (S.Lifecycle is RunLifecycle.Failed or RunLifecycle.Completed) return;
        S.Lifecycle = RunLifecycle.Failed;
        S.Reason = reason;
        logger.LogError("Run {Run} failed: {Reason}", RunId, reason);
        Signal();
        foreach (var w in S.Workers.Where(w => w.State == WorkerState.Training).ToList()) SetWorker(w.Rank, WorkerState.Aborted);
        await Publish(RunEventKind.Failed, $"failed at step {S.Training.Progress.Step}: {reason}");
        var epoch = S.Epoch;
        foreach (var rank in Enumerable.Range(0, S.WorldSize))
        {
            try
            {
                await Worker(rank).Abort(epoch, reason);
            }
            catch (Exception e)
            {
                // Best effort: a worker that cannot be reached has no loop left to abort.
                logger.LogWarning("Could not abort worker {Rank} of {Run}: {Problem}", rank, RunId, e.Message);
            }
        }
    }

    /// <summary>Records an event, makes it and the state durable, then tells every observer once.</summary>
    private async Task Publish(RunEventKind kind, string message, long? step = null, StageInfo? stage = null, string? folder = null)
    {
        var e = Record(kind, message, step, stage, folder);
        await Persist();
        await observers.Notify(o => o.OnRunEvent(e));
    }

    private RunEvent Record(RunEventKind kind, string message, long? step = null, StageInfo? stage = null, string? folder = null)
    {
        var e = new RunEvent((S.Events.Count == 0 ? 0 : S.Events[^1].Sequence) + 1, kind, DateTime.UtcNow, S.Epoch,
            step ?? S.Training.Progress.Step, message, stage, folder);
        S.Events.Add(e);
        if (S.Events.Count > KeptEvents) S.Events.RemoveRange(0, S.Events.Count - KeptEvents);
        return e;
    }

    private void SetWorker(int rank, WorkerState state)
    {
        var i = S.Workers.FindIndex(w => w.Rank == rank);
        if (i >= 0) S.Workers[i] = S.Workers[i] with { State = state };
    }

    // Reentrant turns may interleave; state writes must not (each write checks the ETag of the one before).
    private async Task Persist()
    {
        await writeLock.WaitAsync();
        try
        {
            await store.WriteStateAsync();
            lastProgressWrite = DateTime.UtcNow;
        }
        finally
        {
            writeLock.Release();
        }
    }

    private bool IsCurrent(long epoch) => epoch == S.Epoch && S.Lifecycle is RunLifecycle.Running or RunLifecycle.Stopping;

    private void Signal()
    {
        var signal = stepDone;
        stepDone = NewSignal();
        signal.SetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private IWorkerGrain Worker(int rank) => GrainFactory.GetGrain<IWorkerGrain>(WorkerKeys.For(RunId, rank));

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
            recent.Count > 0 ? recent.Last().Loss : double.NaN, eta, p.ElapsedSeconds, S.Epoch, S.WorldSize, [.. S.Workers],
            S.LastCheckpointStep, [.. S.Training.Transitions.Select(t => new StageInfo(t.Stage, t.Length, t.Step, t.Tokens, t.ElapsedSeconds))], [.. last],
            [.. S.Events.TakeLast(StatusEvents)]);
    }
}
