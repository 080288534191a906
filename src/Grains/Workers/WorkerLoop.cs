using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using GrowLength.Training.Checkpoints;
using GrowLength.Training.Data;
using GrowLength.Training.Distributed;
using GrowLength.Training.Engine;
using GrowLength.Training.Evaluation;
using GrowLength.Training.Optim;
using GrowLength.Training.Run;
using GrowLength.Training.Telemetry;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace GrowLength.Grains.Workers;

/// <summary>One worker's training loop on its own thread (never on the Orleans scheduler): plan, rows, forward/backward,
/// gradient exchange, update, report. Grain calls from here go through <see cref="IGrainFactory"/> and block only this thread.</summary>
internal sealed class WorkerLoop
{
    private readonly WorkerAssignment a;
    private readonly IGrainFactory grains;
    private readonly ILogger logger;
    private readonly Device device;
    private readonly CancellationTokenSource cancel = new();
    private readonly Thread thread;
    private readonly List<RunEvent> events = [];
    private readonly List<long> lengthSwitches = [];
    private readonly Action<WorkerLoop> onExit;
    private StageInfo? pendingStage;
    private long completed;
    private double preflightSeconds = double.NaN;
    private string? error;
    private volatile bool running = true;

    private readonly TrainingMetrics metrics;
    private readonly Func<double> matmulRate;

    public WorkerLoop(WorkerAssignment assignment, int slot, Device device, IGrainFactory grains, ILogger logger, Action<WorkerLoop> onExit,
        TrainingMetrics metrics, Func<double> matmulRate)
    {
        this.metrics = metrics;
        this.matmulRate = matmulRate;
        a = assignment;
        Slot = slot;
        this.device = device;
        this.grains = grains;
        this.logger = logger;
        this.onExit = onExit;
        Inbox = new ChunkInbox(a.Epoch);
        thread = new Thread(Run) { IsBackground = true, Name = $"growlength {WorkerKeys.For(a.RunId, a.Rank)} e{a.Epoch}" };
    }

    public WorkerAssignment Assignment => a;

    public int Slot { get; }

    public ChunkInbox Inbox { get; }

    public string DeviceName => device.ToString();

    public bool IsRunning => running;

    public void Start() => thread.Start();

    /// <summary>Stops at the next wait; a step in the middle of forward/backward finishes first.</summary>
    public void Cancel() => cancel.Cancel();

    public bool Join(TimeSpan timeout) => thread.Join(timeout);

    /// <summary>A run event from the coordinator's broadcast. A stage start is applied by the thread (RoPE tables,
    /// buffers, the transition metric) before its next step's compute.</summary>
    private void Hear(RunEvent e)
    {
        lock (events)
        {
            events.Add(e);
            // Bounded like the coordinator's own list: a long run hears a checkpoint event every few steps.
            if (events.Count > ScheduleCoordinatorGrain.KeptEvents) events.RemoveAt(0);
            if (e.Kind == RunEventKind.StageStarted && e.Epoch == a.Epoch) pendingStage = e.Stage;
        }
    }

    public WorkerStatus Status(string silo)
    {
        lock (events)
            return new WorkerStatus(a.Rank, a.Epoch, silo, DeviceName, Interlocked.Read(ref completed), running, error, [.. events], [.. lengthSwitches], Volatile.Read(ref preflightSeconds));
    }

    private void Run()
    {
        metrics.WorkerActive(a.RunId, a.Rank, started: true);
        try
        {
            Train();
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            logger.LogInformation("Worker {Rank} of {Run} (epoch {Epoch}) aborted", a.Rank, a.RunId, a.Epoch);
        }
        catch (Exception e)
        {
            error = e.Message;
            logger.LogError(e, "Worker {Rank} of {Run} failed", a.Rank, a.RunId);
            try
            {
                Coordinator.WorkerFailed(a.Rank, a.Epoch, e.Message).Wait(TimeSpan.FromSeconds(30));
            }
            catch (Exception report)
            {
                // Nothing more to do from here: the coordinator learns of it when the run's other workers stall.
                logger.LogError(report, "Could not report the failure of worker {Rank} of {Run}", a.Rank, a.RunId);
            }
        }
        finally
        {
            metrics.WorkerActive(a.RunId, a.Rank, started: false);
            running = false;
            onExit(this);
        }
    }

    private IScheduleCoordinatorGrain Coordinator => grains.GetGrain<IScheduleCoordinatorGrain>(a.RunId);

    private void Train()
    {
        var spec = RunSpecJson.Parse(a.SpecJson, "run spec");
        using var engine = new StepEngine(spec.Model, spec.Seed, device);
        var store = new CheckpointStore(a.CheckpointFolder, spec.Checkpoint.KeepLast, logger);
        // The checkpoint grain verified the record it passed on; both the weights and the training seconds come from it.
        var resumed = a.Resume is { } r ? CheckpointHandle.OfVerified(r.Folder, CheckpointManifest.Parse(r.ManifestJson, r.Folder)) : null;
        if (resumed is not null) TrainingCheckpoint.LoadInto(resumed, engine);
        // Subscribed before the first order, so the first stage's start is heard like every later one.
        var subscription = Call(RunEventSubscription.Start(grains, a.RunId, Hear));
        try
        {
            RunSteps(spec, engine, store, resumed);
        }
        finally
        {
            subscription.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(10));
        }
    }

    private void RunSteps(RunSpec spec, StepEngine engine, CheckpointStore store, CheckpointHandle? resumed)
    {
        var o = spec.Optimizer;
        var adam = new AdamWSettings(o.Beta1, o.Beta2, o.Epsilon, o.WeightDecay);
        Preflight(engine, spec);
        IGradientExchange exchange = a.WorldSize == 1
            ? new SingleWorkerExchange()
            : new OrleansRingExchange(grains, a.RunId, a.Rank, a.WorldSize, a.Epoch, a.ChunkBytes, Inbox);
        var shard = grains.GetGrain<IDataShardGrain>(WorkerKeys.For(a.RunId, a.Rank));
        Call(shard.Open(a.SpecJson));
        long[] inputs = [], targets = [];
        int lastLength = 0;
        var rate = matmulRate();

        // Rank 0 measures the validation-loss curve. A point is measured right after the update that completes its step
        // count, before the step is reported: every rank then waits in NextStep, outside its step clock, so evaluation never
        // counts as training time (a peer waiting in the gradient exchange would count it). It is reported once the
        // coordinator has that many steps completed, which is when NextStep answers the next order.
        var heldOut = a.Rank == 0 ? HeldOutWindows(shard, spec) : null;
        (long Steps, EvalResult Result)? measured = null;
        // The cadence reads training seconds as this rank counts them (the coordinator's are the slowest rank's, the same
        // with one worker); the point itself is stamped by the coordinator. A resume starts from its checkpoint's count, and
        // the checkpoint's step already has its point (reported before the checkpoint was saved) or is not on the cadence.
        double trainedSeconds = resumed is not null ? TrainingCheckpoint.ReadState(resumed).Progress.ElapsedSeconds : 0;
        (long Steps, double Seconds)? lastPoint = resumed is not null ? (a.FirstStep, trainedSeconds) : null;
        if (heldOut is not null && resumed is null && ValidationCadence.IsDue(spec.Eval, 0, 0, lastPoint))
        {
            measured = (0, Evaluate(engine, heldOut, spec));
            lastPoint = (0, 0);
        }

        for (long step = a.FirstStep; ; step++)
        {
            var order = NextOrder(step);
            if (order.Kind == StepOrderKind.Abort) return;
            if (measured is { } m)
            {
                ReportEvaluation(m.Steps, m.Result);
                measured = null;
            }
            ApplyStageStart(engine);
            if (order.CheckpointStateJson is { } state && a.Rank == 0) SaveCheckpoint(engine, store, spec, state);
            if (order.Kind is StepOrderKind.Finish or StepOrderKind.Stop)
            {
                // The final point, before WorkerDone, so a client sees it once the run is Completed. It is measured whatever
                // the cadence (it is the run's final validation loss in `status`; the bare Trainer reports its final numbers
                // through EvaluateAll instead). A stop is no end of training.
                if (order.Kind == StepOrderKind.Finish && heldOut is not null && lastPoint?.Steps != step)
                    ReportEvaluation(step, Evaluate(engine, heldOut, spec));
                Call(Coordinator.WorkerDone(a.Rank, a.Epoch));
                return;
            }
            var plan = order.Plan ?? throw new InvalidOperationException($"the coordinator sent a train order for step {step} without a plan");

            var clock = Stopwatch.StartNew();
            var batch = Call(shard.GetRows(new RowRequest(plan.StreamOffset, plan.Length, plan.Rows, a.Rank, a.WorldSize)));
            Unpack(batch, ref inputs, ref targets);
            var dataWait = clock.Elapsed.TotalSeconds;
            if (plan.Length != lastLength)
            {
                lock (events) lengthSwitches.Add(plan.Step);
                lastLength = plan.Length;
            }

            var lossSum = engine.AccumulateGradients(inputs, targets, batch.Rows, plan.Length, plan.MicroBatchRows, plan.Tokens);
            var exchangeClock = Stopwatch.StartNew();
            exchange.SumInPlace(plan.Step, engine.Parameters.Gradients, cancel.Token);
            var exchangeSeconds = exchangeClock.Elapsed.TotalSeconds;
            var gradNorm = engine.ApplyUpdate(plan.LearningRate, spec.Optimizer.GradClip, adam);
            var checksum = HostTensors.Checksum(engine.Parameters.Values);
            var seconds = clock.Elapsed.TotalSeconds;
            trainedSeconds += seconds;
            if (heldOut is not null && ValidationCadence.IsDue(spec.Eval, plan.Step + 1, trainedSeconds, lastPoint))
            {
                measured = (plan.Step + 1, Evaluate(engine, heldOut, spec));
                lastPoint = (plan.Step + 1, trainedSeconds);
            }

            Call(Coordinator.Report(new StepReport(a.Rank, a.Epoch, plan.Step, plan.Length, lossSum, (long)batch.Rows * plan.Length,
                seconds, dataWait, exchangeSeconds, gradNorm, checksum)));
            Interlocked.Increment(ref completed);
            long myTokens = (long)batch.Rows * plan.Length;
            metrics.RecordStep(a.RunId, a.Rank,
                new StepMetrics(plan.Step, plan.Stage, plan.Length, myTokens > 0 ? lossSum / myTokens : 0, plan.StreamOffset + plan.Tokens, myTokens,
                    seconds, myTokens / seconds, plan.LearningRate, gradNorm, 0, 0, dataWait, exchangeSeconds),
                spec.Model.TrainingFlopsPerToken(plan.Length), rate);
        }
    }

    // Before the first step, so an out-of-memory at the longest length shows now rather than at the last stage.
    private void Preflight(StepEngine engine, RunSpec spec)
    {
        var max = spec.Schedule.MaxLength;
        var rows = Training.Schedules.BatchPlan.MicroBatchRows(max, spec.Schedule.MicroBatchTokens);
        double seconds;
        try
        {
            seconds = engine.Preflight(max, spec.Schedule.MicroBatchTokens);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new InvalidOperationException(
                $"preflight (one forward/backward at length {max} with {rows} rows on {DeviceName}) failed: {e.Message}. "
                + "Lower schedule.microBatchTokens or schedule.maxLength, or use a larger device.", e);
        }
        Volatile.Write(ref preflightSeconds, seconds);
        logger.LogInformation("Worker {Rank} of {Run} (epoch {Epoch}): preflight at length {Length} with {Rows} rows on {Device} took {Seconds:F3} s",
            a.Rank, a.RunId, a.Epoch, max, rows, DeviceName, seconds);
    }

    /// <summary>The held-out windows at the curve length (eval.curveLength, by default schedule.maxLength), the same the
    /// client's final evaluation and the bare Trainer measure, read once from this worker's data shard. Null (and a warning) when the validation split is too short and no
    /// curve was asked for: the final point is then skipped, as the client's evaluation will say why.</summary>
    private ValidationWindows? HeldOutWindows(IDataShardGrain shard, RunSpec spec)
    {
        ValidationBatch batch;
        try
        {
            batch = Call(shard.GetValidationWindows(spec.CurveLength, spec.Eval.MaxWindows));
        }
        catch (RunRequestException e) when (!spec.Eval.MeasuresCurve)
        {
            logger.LogWarning("Run {Run}: no validation loss at the end of training: {Problem}", a.RunId, e.Message);
            return null;
        }
        catch (RunRequestException e)
        {
            throw new InvalidOperationException(
                $"eval.everySteps/everySeconds ask for a validation curve, but validation loss at length {spec.CurveLength} cannot be measured: {e.Problem}", e);
        }
        return ValidationWindows.FromTokens(batch.Length, batch.Starts, MemoryMarshal.Cast<byte, int>(batch.Tokens).ToArray());
    }

    /// <summary>Validation loss at the curve length with RoPE extrapolation, as the bare Trainer measures it, off the step clock.</summary>
    private EvalResult Evaluate(StepEngine engine, ValidationWindows windows, RunSpec spec)
    {
        var clock = Stopwatch.StartNew();
        var result = engine.MeasureValidation(windows, spec.Schedule.MicroBatchTokens);
        metrics.RecordEvaluation(a.RunId, a.Rank, result.Loss);
        logger.LogInformation("Run {Run}: validation loss {Loss:F4} at length {Length} on {Windows} windows ({Seconds:F2} s)",
            a.RunId, result.Loss, result.Length, result.Windows, clock.Elapsed.TotalSeconds);
        return result;
    }

    private void ReportEvaluation(long steps, EvalResult result) =>
        Call(Coordinator.ReportEvaluation(a.Epoch, steps, result.Length, result.Loss, result.Windows));

    private StepOrder NextOrder(long step)
    {
        while (true)
        {
            try
            {
                return Call(Coordinator.NextStep(a.Rank, a.Epoch, step));
            }
            catch (TimeoutException)
            {
                // The coordinator answers once every rank reported the previous step; a slow peer can take longer than
                // the response timeout. The order for a step is decided once, so asking again is safe.
                logger.LogDebug("Worker {Rank} still waiting for the plan of step {Step}", a.Rank, step);
            }
        }
    }

    /// <summary>A stage start heard from the broadcast: prepares the new length ahead of its first step's compute (the step
    /// would otherwise do it itself) and records the transition metric.</summary>
    private void ApplyStageStart(StepEngine engine)
    {
        StageInfo? stage;
        lock (events) { stage = pendingStage; pendingStage = null; }
        if (stage is null) return;
        if (stage.Length > engine.PreparedLength) engine.PrepareLength(stage.Length);
        metrics.RecordTransition(a.RunId, a.Rank, new StageTransition(stage.Stage, stage.Length, stage.Step, stage.Tokens, stage.ElapsedSeconds));
    }

    private void SaveCheckpoint(StepEngine engine, CheckpointStore store, RunSpec spec, string stateJson)
    {
        var state = JsonSerializer.Deserialize<TrainingState>(stateJson, RunSpecJson.Options)
            ?? throw new InvalidOperationException("the coordinator sent an empty training state to checkpoint");
        var clock = Stopwatch.StartNew();
        // Files first (written, flushed, checksummed, folder renamed), then the record in the checkpoint grain: only then
        // does it count, and only then does the grain prune older ones.
        var manifest = TrainingCheckpoint.Save(store, engine, state, spec);
        var seconds = clock.Elapsed.TotalSeconds;
        Call(grains.GetGrain<ICheckpointGrain>(a.RunId).Commit(new CheckpointRecord(manifest.Step, store.FolderFor(manifest.Step), manifest.ToJson(),
            spec.Checkpoint.KeepLast, stateJson, a.Epoch, seconds)));
        metrics.RecordCheckpoint(a.RunId, a.Rank, seconds);
    }

    private static void Unpack(RowBatch batch, ref long[] inputs, ref long[] targets)
    {
        int length = batch.Length, rows = batch.Rows;
        var tokens = MemoryMarshal.Cast<byte, int>(batch.Tokens);
        if (tokens.Length != rows * (length + 1))
            throw new InvalidOperationException($"row batch holds {tokens.Length} tokens, expected {rows} rows of {length + 1}");
        if (inputs.Length != rows * length) { inputs = new long[rows * length]; targets = new long[rows * length]; }
        for (int r = 0; r < rows; r++)
        {
            var row = tokens.Slice(r * (length + 1), length + 1);
            for (int i = 0; i < length; i++)
            {
                inputs[r * length + i] = row[i];
                targets[r * length + i] = row[i + 1];
            }
        }
    }

    private T Call<T>(Task<T> task) => task.WaitAsync(cancel.Token).GetAwaiter().GetResult();

    private void Call(Task task) => task.WaitAsync(cancel.Token).GetAwaiter().GetResult();
}
