using System.Text.Json;
using GrowLength.Grains.Hosting;
using GrowLength.Training;
using GrowLength.Training.Checkpoints;
using GrowLength.Training.Engine;
using GrowLength.Training.Run;
using GrowLength.Training.Schedules;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace GrowLength.Grains;

/// <summary>What a run's coordinator keeps durably.</summary>
public sealed class CoordinatorState
{
    /// <summary>The validated spec with the vocabulary resolved (RunSpecJson).</summary>
    public string? SpecJson { get; set; }
    public RunLifecycle Lifecycle { get; set; }
    public string? Reason { get; set; }
    /// <summary>Progress and stage transitions; written at each transition (before its first step) and lifecycle change.</summary>
    public TrainingState Training { get; set; } = TrainingState.Initial;
    public long Epoch { get; set; }
    public int WorldSize { get; set; }
    public List<WorkerInfo> Workers { get; set; } = [];
    public string CheckpointFolder { get; set; } = "";
    /// <summary>Step of the last committed checkpoint, -1 before the first.</summary>
    public long LastCheckpointStep { get; set; } = -1;
    /// <summary>The validation-loss curve, oldest first; points past the checkpoint a resume starts from are dropped.</summary>
    public List<EvaluationRecord> Evaluations { get; set; } = [];
}

/// <summary>A run's schedule, lifecycle, progress and membership. Decides each step's plan once (PreparedRun.PlanStep),
/// records every stage transition durably before the first step at the new length and pushes it to the workers, hands
/// epoch-stamped orders to the workers' pull requests, and folds their reports into progress exactly as the bare
/// <see cref="Trainer"/> does. Reentrant: a plan request waits for the previous step's last report, which must get in.</summary>
[Reentrant]
public sealed class ScheduleCoordinatorGrain(
    [PersistentState("run", GrowLengthStorage.Name)] IPersistentState<CoordinatorState> store,
    IOptions<GrowLengthSiloOptions> options,
    ILogger<ScheduleCoordinatorGrain> logger) : Grain, IScheduleCoordinatorGrain
{
    private readonly Dictionary<int, StepReport> reports = [];
    private readonly HashSet<int> done = [];
    private readonly Queue<StepRecord> recent = new();
    private readonly SemaphoreSlim writeLock = new(1, 1);
    private static readonly TimeSpan PlanWait = TimeSpan.FromSeconds(5);
    private PreparedRun? run;
    private long orderStep = -1;
    private Task<StepOrder>? orderTask;
    private StepPlan? currentPlan;
    private StepOrderKind lastKind;
    private long requestedCheckpoint = -1;
    private TaskCompletionSource stepDone = NewSignal();

    private CoordinatorState S => store.State;
    private string RunId => this.GetPrimaryKeyString();
    private RunSpec Spec => run?.Spec ?? RunSpecJson.Parse(S.SpecJson!, "run spec");

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (S.Lifecycle is RunLifecycle.Running or RunLifecycle.Stopping)
        {
            // The silo that held this run stopped mid-run: its loops are gone. Resume continues from the last checkpoint.
            S.Lifecycle = RunLifecycle.Failed;
            S.Reason = $"interrupted at step {S.Training.Progress.Step}: the silo coordinating the run stopped; resume continues from the last complete checkpoint";
            await store.WriteStateAsync(cancellationToken);
            logger.LogWarning("Run {Run}: {Reason}", RunId, S.Reason);
        }
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        run?.Dispose();
        return Task.CompletedTask;
    }

    // ---- client API ----

    public async Task<RunStatus> Create(CreateRun request)
    {
        InputErrors.CheckRunId(RunId);
        if (S.Lifecycle != RunLifecycle.None)
            throw new RunRequestException(RunId, $"a run with this id already exists ({S.Lifecycle}); pick another id or resume it.");
        var spec = await InputErrors.OffScheduler(() => RunSpecJson.Parse(request.SpecJson, "run spec").Validated());
        var cache = options.Value.CorpusCacheFolder;
        var opened = await InputErrors.OffScheduler(() => PreparedRun.Open(spec, cache, logger));
        var folder = Path.GetFullPath(Path.Combine(options.Value.CheckpointFolder, RunId));
        await Task.Run(() => CheckWritable(folder));
        run?.Dispose();
        run = opened;
        S.SpecJson = RunSpecJson.ToJson(opened.Spec);
        S.CheckpointFolder = folder;
        S.Lifecycle = RunLifecycle.Created;
        S.Training = TrainingState.Initial;
        await Persist();
        await GrainFactory.GetGrain<IRunRegistryGrain>(IRunRegistryGrain.Key).Add(RunId);
        logger.LogInformation("Run {Run} created ({Preset}, {Schedule} {Min}→{Max})", RunId, opened.Spec.Model.Preset, opened.Spec.Schedule.Kind, opened.Spec.Schedule.MinLength, opened.Spec.Schedule.MaxLength);
        return Snapshot();
    }

    public async Task<RunStatus> Start(StartRun request)
    {
        RequireKnown();
        if (S.Lifecycle != RunLifecycle.Created)
            throw new RunRequestException(RunId, $"the run is {S.Lifecycle}; only a created run starts (use resume for a stopped or failed one).");
        await Launch(request.Workers, resumeStep: -1);
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
                await Launch(request.Workers, resumeStep: -1);
                return Snapshot();
        }
        var latest = await GrainFactory.GetGrain<ICheckpointGrain>(RunId).Latest();
        if (latest is null)
        {
            logger.LogWarning("Run {Run} has no complete checkpoint; resuming from step 0", RunId);
            S.Training = TrainingState.Initial;
            S.LastCheckpointStep = -1;
            S.Evaluations.Clear();
            await Launch(request.Workers, resumeStep: -1);
        }
        else
        {
            var keep = Spec.Checkpoint.KeepLast;
            S.Training = await InputErrors.OffScheduler(() =>
                TrainingCheckpoint.ReadState(new CheckpointStore(Path.GetDirectoryName(latest.Folder)!, keep, logger).Open(latest.Step)));
            S.LastCheckpointStep = latest.Step;
            // The steps after the checkpoint are trained again; their evaluations would be of a model that no longer exists.
            S.Evaluations.RemoveAll(e => e.Steps > latest.Step);
            logger.LogInformation("Run {Run} resumes from the checkpoint at step {Step}", RunId, latest.Step);
            await Launch(request.Workers, latest.Step);
        }
        return Snapshot();
    }

    public async Task<RunStatus> Stop()
    {
        RequireKnown();
        if (S.Lifecycle != RunLifecycle.Running)
            throw new RunRequestException(RunId, $"the run is {S.Lifecycle}, not running; nothing to stop.");
        S.Lifecycle = RunLifecycle.Stopping;
        await Persist();
        return Snapshot();
    }

    public Task<RunStatus> Status()
    {
        RequireKnown();
        return Task.FromResult(Snapshot());
    }

    public Task<StepRecord[]> Steps(long fromStep) => Task.FromResult(recent.Where(r => r.Step >= fromStep).ToArray());

    public Task<EvaluationRecord[]> Evaluations() => Task.FromResult(S.Evaluations.ToArray());

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
        if (orderStep != step)
        {
            orderStep = step;
            orderTask = Decide();
        }
        return await orderTask!;
    }

    public async Task Report(StepReport report)
    {
        if (!IsCurrent(report.Epoch)) return;
        var plan = currentPlan;
        if (plan is null || report.Step != plan.Step)
            throw new InvalidOperationException($"worker {report.Rank} reported step {report.Step}, but step {plan?.Step} is in progress");
        reports[report.Rank] = report;
        if (reports.Count < S.WorldSize) return;

        var all = reports.Values.OrderBy(r => r.Rank).ToArray();
        reports.Clear();
        var loss = all.Sum(r => r.LossSum) / plan.Tokens;
        var problem =
            all.Sum(r => r.Tokens) != plan.Tokens ? $"the workers trained {all.Sum(r => r.Tokens)} tokens at step {plan.Step}, the plan has {plan.Tokens}"
            : all.Select(r => r.ParameterChecksum).Distinct().Count() > 1 ? $"the workers' parameters differ after step {plan.Step} (checksums {string.Join(", ", all.Select(r => $"{r.Rank}:{r.ParameterChecksum:x16}"))})"
            : all.Any(r => r.Length != plan.Length) ? $"a worker trained step {plan.Step} at another length than {plan.Length}"
            : !double.IsFinite(loss) ? $"training diverged at step {plan.Step}: loss is {loss}. Lower optimizer.peakLearningRate or raise optimizer.warmupTokens."
            : null;
        if (problem is not null)
        {
            await Fail(problem);
            return;
        }
        var spec = Spec;
        var seconds = all.Max(r => r.Seconds);
        var progress = S.Training.Progress.AfterStep(plan.Tokens, seconds, loss, spec.Schedule.AdaptiveSmoothing, spec.Schedule.AdaptiveMargin);
        S.Training = S.Training with { Progress = progress };
        recent.Enqueue(new StepRecord(plan.Step, plan.Stage, plan.Length, loss, progress.Tokens, plan.Tokens, seconds, plan.Tokens / seconds,
            plan.LearningRate, all[0].GradNorm, all.Max(r => r.DataWaitSeconds), all.Max(r => r.ExchangeSeconds),
            all.Select(r => r.ParameterChecksum).ToArray(), all.Select(r => r.Length).ToArray(), all.Min(r => r.ExchangeSeconds)));
        while (recent.Count > options.Value.RecentSteps) recent.Dequeue();
        Signal();
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

    public async Task CheckpointCommitted(long epoch, long step, double seconds)
    {
        if (epoch != S.Epoch) return;
        S.LastCheckpointStep = step;
        await Persist();
        logger.LogInformation("Run {Run}: checkpoint at step {Step} took {Seconds:F2} s", RunId, step, seconds);
    }

    public async Task WorkerDone(int rank, long epoch)
    {
        if (!IsCurrent(epoch)) return;
        done.Add(rank);
        if (done.Count < S.WorldSize) return;
        S.Lifecycle = lastKind == StepOrderKind.Finish ? RunLifecycle.Completed : RunLifecycle.Stopped;
        await Persist();
        logger.LogInformation("Run {Run} {Lifecycle} at step {Step}", RunId, S.Lifecycle, S.Training.Progress.Step);
    }

    public async Task WorkerFailed(int rank, long epoch, string reason)
    {
        if (IsCurrent(epoch)) await Fail($"worker {rank}: {reason}");
    }

    // ---- internals ----

    private async Task Launch(int workers, long resumeStep)
    {
        if (workers < 1) throw new RunRequestException("workers", $"must be at least 1 (is {workers}).");
        // Work off the scheduler gets plain values: grain state may only be touched from the grain's own turns.
        var spec = Spec;
        var cache = options.Value.CorpusCacheFolder;
        var folder = S.CheckpointFolder;
        run ??= await InputErrors.OffScheduler(() => PreparedRun.Open(spec, cache, logger));
        await Task.Run(() => CheckWritable(folder));
        S.Epoch++;
        S.WorldSize = workers;
        S.Lifecycle = RunLifecycle.Running;
        S.Reason = null;
        reports.Clear();
        done.Clear();
        orderStep = -1;
        orderTask = null;
        currentPlan = null;
        requestedCheckpoint = -1;
        await Persist();
        var epoch = S.Epoch;
        var chunk = options.Value.GradientChunkBytes;
        try
        {
            var infos = await Task.WhenAll(Enumerable.Range(0, workers).Select(rank =>
                Worker(rank).Start(new WorkerAssignment(RunId, rank, workers, epoch, S.SpecJson!, S.CheckpointFolder, resumeStep, chunk))));
            S.Workers = [.. infos];
            await Persist();
        }
        catch (Exception e)
        {
            await Fail($"could not start {workers} workers: {e.Message}");
            throw new RunRequestException("workers", $"could not start {workers} workers: {e.Message}");
        }
        logger.LogInformation("Run {Run} epoch {Epoch}: {Workers} workers on {Silos}", RunId, epoch, workers, string.Join(", ", S.Workers.Select(w => w.Silo).Distinct()));
    }

    /// <summary>The order of the next step, decided once for all ranks, with the Trainer's checkpoint cadence:
    /// every N steps, before the first step of a new stage, at the end, and on a graceful stop.</summary>
    private async Task<StepOrder> Decide()
    {
        var spec = Spec;
        var before = S.Training;
        var p = before.Progress;
        var epoch = S.Epoch;
        string? SaveIf(bool due) => due && p.Step != S.LastCheckpointStep && p.Step != requestedCheckpoint ? JsonSerializer.Serialize(before, RunSpecJson.Options) : null;

        StepOrder order;
        if (run!.IsComplete(p)) order = new StepOrder(StepOrderKind.Finish, epoch, null, SaveIf(true), p.Step);
        else if (S.Lifecycle == RunLifecycle.Stopping) order = new StepOrder(StepOrderKind.Stop, epoch, null, SaveIf(true), p.Step);
        else
        {
            var plan = run.PlanStep(p);
            bool cadence = spec.Checkpoint.EverySteps > 0 && p.Step > 0 && p.Step % spec.Checkpoint.EverySteps == 0;
            bool transitionSave = false;
            if (plan.StageChanged || before.Transitions.Count == 0)
            {
                transitionSave = before.Transitions.Count > 0 && spec.Checkpoint.AtStageTransitions;
                var transition = new StageTransition(plan.Stage, plan.Length, p.Step, p.Tokens, p.ElapsedSeconds);
                S.Training = new TrainingState(plan.StageChanged ? p.EnterStage(plan.Stage) : p, [.. before.Transitions, transition]);
                await Persist();
                var notice = new StageNotice(epoch, plan.Stage, plan.Length, plan.Step);
                await Task.WhenAll(Enumerable.Range(0, S.WorldSize).Select(rank => Worker(rank).PrepareStage(notice)));
                logger.LogInformation("Run {Run}: stage {Stage} at length {Length} from step {Step}", RunId, plan.Stage, plan.Length, plan.Step);
            }
            currentPlan = plan;
            var micro = (int)Math.Max(1, spec.Schedule.MicroBatchTokens / plan.Length);
            order = new StepOrder(StepOrderKind.Train, epoch,
                new StepPlanMessage(plan.Step, plan.Stage, plan.Length, plan.Rows, plan.StreamOffset, plan.Tokens, plan.LearningRate, micro, plan.StageChanged),
                SaveIf(cadence || transitionSave), p.Step);
        }
        if (order.CheckpointStateJson is not null) requestedCheckpoint = p.Step;
        lastKind = order.Kind;
        return order;
    }

    private async Task Fail(string reason)
    {
        if (S.Lifecycle is RunLifecycle.Failed or RunLifecycle.Completed) return;
        S.Lifecycle = RunLifecycle.Failed;
        S.Reason = reason;
        logger.LogError("Run {Run} failed: {Reason}", RunId, reason);
        Signal();
        await Persist();
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

    // Reentrant turns may interleave; state writes must not (each write checks the ETag of the one before).
    private async Task Persist()
    {
        await writeLock.WaitAsync();
        try
        {
            await store.WriteStateAsync();
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
            S.LastCheckpointStep, [.. S.Training.Transitions.Select(t => new StageInfo(t.Stage, t.Length, t.Step, t.Tokens, t.ElapsedSeconds))], [.. last]);
    }
}
