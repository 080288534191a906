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

/// <summary>One worker's training loop on its own thread (never on the Orleans scheduler): order, rows, forward/backward,
/// gradient exchange, report; the update is applied when the next order says every rank holds the reduced gradient. The
/// loop outlives membership epochs: when members are lost or join, it takes its new rank from the next order and keeps
/// its parameters. Grain calls from here go through <see cref="IGrainFactory"/> and block only this thread, each bounded.</summary>
internal sealed class WorkerLoop
{
    /// <summary>How long the loop goes on asking for its next order without any answer from the coordinator (its silo
    /// died and it has not yet reactivated elsewhere) before it gives up and frees its slot.</summary>
    private static readonly TimeSpan CoordinatorSilence = TimeSpan.FromSeconds(120);

    /// <summary>A TimeoutException sooner than this is the coordinator's own "not yet" (it answers within seconds); a later
    /// one is the response timeout of a coordinator that did not answer.</summary>
    private static readonly TimeSpan PlanAnswer = TimeSpan.FromSeconds(15);

    private readonly WorkerAssignment a;
    private readonly IGrainFactory grains;
    private readonly ILogger logger;
    private readonly Device device;
    private readonly CancellationTokenSource cancel = new();
    private readonly Thread thread;
    private readonly List<RunEvent> events = [];
    private readonly List<long> lengthSwitches = [];
    private readonly Action<WorkerLoop> onExit;
    private readonly object sync = new();
    private readonly TrainingMetrics metrics;
    private readonly Func<double> matmulRate;
    private readonly Failpoint? failpoint;
    private readonly ExchangeSettings exchangeSettings;
    private StageInfo? pendingStage;
    private long completed;
    private double preflightSeconds = double.NaN;
    private string? error;
    private volatile bool running = true;
    private volatile bool leaving;
    private volatile bool finished;
    private bool abortOrdered;
    private Membership? membership;
    private CancellationTokenSource epochCancel = new();
    private readonly Dictionary<long, TaskCompletionSource<StateDonation>> donations = [];

    public WorkerLoop(WorkerAssignment assignment, int slot, Device device, IGrainFactory grains, ILogger logger, Action<WorkerLoop> onExit,
        TrainingMetrics metrics, Func<double> matmulRate, Failpoint? failpoint, ExchangeSettings exchangeSettings)
    {
        this.exchangeSettings = exchangeSettings;
        this.failpoint = failpoint;
        this.metrics = metrics;
        this.matmulRate = matmulRate;
        a = assignment;
        Slot = slot;
        this.device = device;
        this.grains = grains;
        this.logger = logger;
        this.onExit = onExit;
        thread = new Thread(Run) { IsBackground = true, Name = $"growlength {WorkerKeys.For(a.RunId, a.Worker)}" };
    }

    public WorkerAssignment Assignment => a;

    public int Slot { get; }

    public ChunkInbox Inbox { get; } = new();

    /// <summary>What a sender on another silo presents to put chunks in <see cref="Inbox"/> over the data plane; handed out
    /// only through a cluster-internal call.</summary>
    public byte[] ExchangeToken { get; } = System.Security.Cryptography.RandomNumberGenerator.GetBytes(ChunkWire.TokenBytes);

    public string DeviceName => device.ToString();

    public bool IsRunning => running;

    /// <summary>Ending: told to (aborted, or its silo is leaving), or done with its last order (a stop or the end of the
    /// run). Its slot frees within seconds: once the current step ends and the thread has let go of its subscription and engine.</summary>
    public bool Ending => finished || cancel.IsCancellationRequested;

    /// <summary>The membership epoch the loop is in (-1 for a joiner not yet added).</summary>
    public long Epoch
    {
        get { lock (sync) return membership?.Epoch ?? -1; }
    }

    private int Rank
    {
        get { lock (sync) return membership?.RankOf(a.Worker) ?? -1; }
    }

    public void Start() => thread.Start();

    /// <summary>Stops at the next wait; a step in the middle of forward/backward finishes first.</summary>
    /// <param name="leave">the silo is shutting down: the loop tells the coordinator it leaves, so the others go on without it.</param>
    public void Cancel(bool leave = false)
    {
        if (leave) leaving = true;
        cancel.Cancel();
    }

    /// <summary>The membership moved on to <paramref name="epoch"/>: a step of an older epoch is given up at its next wait.</summary>
    public void EndEpoch(long epoch)
    {
        lock (sync)
            if ((membership?.Epoch ?? -1) < epoch) epochCancel.Cancel();
    }

    /// <summary>The state copied for the joiners of <paramref name="epoch"/>, once this loop has made it.</summary>
    public Task<StateDonation> Donation(long epoch)
    {
        lock (sync) return DonationSlot(epoch).Task;
    }

    // Either side may come first: a joiner may ask before this loop has even heard of the epoch.
    private TaskCompletionSource<StateDonation> DonationSlot(long epoch)
    {
        if (!donations.TryGetValue(epoch, out var slot)) donations[epoch] = slot = new(TaskCreationOptions.RunContinuationsAsynchronously);
        return slot;
    }

    public bool Join(TimeSpan timeout) => thread.Join(timeout);

    /// <summary>A run event from the coordinator's broadcast. A stage start is applied by the thread (RoPE tables,
    /// buffers, the transition metric) before its next step's compute.</summary>
    private void Hear(RunEvent e)
    {
        lock (events)
        {
            // Heard twice when a broadcast lands after the same event was read from the kept list (CatchUpStageStart).
            if (events.Any(h => h.Sequence == e.Sequence)) return;
            events.Add(e);
            // Bounded like the coordinator's own list: a long run hears a checkpoint event every few steps.
            if (events.Count > ScheduleCoordinatorGrain.KeptEvents) events.RemoveAt(0);
            if (e.Kind == RunEventKind.StageStarted) pendingStage = e.Stage;
        }
    }

    public WorkerStatus Status(string silo)
    {
        lock (events)
            return new WorkerStatus(Rank, Epoch, silo, DeviceName, Interlocked.Read(ref completed), running, error, [.. events], [.. lengthSwitches],
                Volatile.Read(ref preflightSeconds), a.Worker);
    }

    private void Run()
    {
        var rank = a.Membership?.RankOf(a.Worker) ?? -1;
        metrics.WorkerActive(a.RunId, rank, started: true);
        try
        {
            Train();
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            logger.LogInformation("Worker {Worker} of {Run} (epoch {Epoch}) {How}", a.Worker, a.RunId, Epoch, leaving ? "leaves: its silo is shutting down" : "aborted");
            if (leaving) Tell(Coordinator.WorkerFailed(a.Worker, Epoch, "its silo is shutting down", leaving: true), "leave");
        }
        catch (Exception e)
        {
            error = e.Message;
            logger.LogError(e, "Worker {Worker} of {Run} failed", a.Worker, a.RunId);
            Tell(Coordinator.WorkerFailed(a.Worker, Epoch, e.Message, leaving: false), "failure");
        }
        finally
        {
            metrics.WorkerActive(a.RunId, rank, started: false);
            running = false;
            onExit(this);
        }
    }

    // Best effort: when the coordinator cannot be told, it learns of it from membership or the step deadline.
    private void Tell(Task call, string what)
    {
        try
        {
            call.Wait(TimeSpan.FromSeconds(10));
        }
        catch (Exception e)
        {
            logger.LogWarning("Worker {Worker} of {Run} could not report its {What}: {Problem}", a.Worker, a.RunId, what, e.Message);
        }
    }

    private IScheduleCoordinatorGrain Coordinator => grains.GetGrain<IScheduleCoordinatorGrain>(a.RunId);

    private void Train()
    {
        var spec = RunSpecJson.Parse(a.SpecJson, "run spec");
        using var engine = new StepEngine(spec.Model, spec.Seed, device);
        // The checkpoint grain verified the record it passed on.
        if (a.Resume is { } r) TrainingCheckpoint.LoadInto(CheckpointHandle.OfVerified(r.Folder, CheckpointManifest.Parse(r.ManifestJson, r.Folder)), engine);
        // Subscribed before the first order, so the first stage's start is heard like every later one.
        var subscription = Call(RunEventSubscription.Start(grains, a.RunId, Hear));
        using var checkpoints = new AsyncCheckpointWriter(new CheckpointStore(a.CheckpointFolder, spec.Checkpoint.KeepLast, logger), logger);
        try
        {
            RunSteps(spec, engine, checkpoints);
        }
        finally
        {
            EndCheckpoints(checkpoints);
            subscription.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(10));
        }
    }

    /// <summary>What becomes of a checkpoint still being written when the loop ends (the writer's disposal gives up whatever
    /// is left). An abort (the coordinator's Abort, or an Abort order: the run failed or ended, or went on without this
    /// worker) gives it up: its partial folder is deleted and no record is sent. The coordinator has already decided what
    /// comes next from the records it had, and a late record, though the coordinator ignores one of an older history
    /// (CheckpointCommitted), would still reach the checkpoint grain, whose retention prunes by the newest record and could
    /// delete checkpoints of the history that replaced this one. A folder already renamed but not recorded stays
    /// unrecorded: no resume reads it, and the next commit's pruning removes it. Any other end (the last order, a failure
    /// of this worker, its silo shutting down) lets the write finish and record first, within the silo's shutdown wait:
    /// the state it holds is a committed step of the run's current history, and the coordinator hears of the checkpoint
    /// before it hears that the loop ended. A membership epoch change (a peer lost or joined) does not end the loop and
    /// leaves the write alone: its record, stamped with the epoch of the order that asked for it, is of the same history,
    /// which the coordinator's CheckpointCommitted accepts from any epoch since the last start or reload.</summary>
    private void EndCheckpoints(AsyncCheckpointWriter checkpoints)
    {
        bool aborted = abortOrdered || (cancel.IsCancellationRequested && !leaving);
        if (!aborted) checkpoints.Settle(TimeSpan.FromSeconds(20));
    }

    private void RunSteps(RunSpec spec, StepEngine engine, AsyncCheckpointWriter checkpoints)
    {
        Preflight(engine, spec);
        var shard = grains.GetGrain<IDataShardGrain>(WorkerKeys.For(a.RunId, a.Worker));
        Call(shard.Open(a.SpecJson));
        IGradientExchange exchange = new SingleWorkerExchange();
        try
        {
            TrainSteps(spec, engine, checkpoints, shard, ref exchange);
        }
        finally
        {
            // Closes the data-plane connection of the last epoch.
            (exchange as IDisposable)?.Dispose();
        }
    }

    private void TrainSteps(RunSpec spec, StepEngine engine, AsyncCheckpointWriter checkpoints, IDataShardGrain shard, ref IGradientExchange exchange)
    {
        var o = spec.Optimizer;
        var adam = new AdamWSettings(o.Beta1, o.Beta2, o.Epsilon, o.WeightDecay);
        long[] inputs = [], targets = [];
        int lastLength = 0, lastStage = -1;
        var rate = matmulRate();
        ValidationWindows? heldOut = null;
        bool heldOutRead = false;
        if (a.Membership is { } first) exchange = Adopt(first, exchange);
        else Retried(() => Coordinator.JoinReady(a.Worker), "readiness");

        // Steps whose updates the parameters hold (-1: a joiner with no state yet), and a reported step's update held back
        // until an order says every rank has its reduced gradient.
        long applied = a.Membership is null ? -1 : a.FirstStep;
        StepPlanMessage? held = null;
        ulong checksum = applied < 0 ? 0 : HostTensors.Checksum(engine.Parameters.Values);
        // A step's time includes the update that precedes it (applied when the next order arrives), not the waits between.
        var stepClock = new Stopwatch();

        while (true)
        {
            // A checkpoint written in the background that failed fails the worker here, at the next step boundary.
            checkpoints.ThrowIfFailed();
            var order = Ask(applied, held is not null);
            if (order.Kind == StepOrderKind.Abort)
            {
                logger.LogInformation("Worker {Worker} of {Run} ends: {Reason}", a.Worker, a.RunId, order.Reason);
                abortOrdered = true;
                return;
            }
            if (order.Membership is { } next && next.Epoch != Epoch) exchange = Adopt(next, exchange);
            if (held is not null)
            {
                if (order.ApplyHeld)
                {
                    failpoint?.Reached(held.Step, FailpointPhase.Commit);
                    stepClock.Start();
                    engine.Optimizer.Step(held.LearningRate, adam);
                    stepClock.Stop();
                    applied++;
                    checksum = HostTensors.Checksum(engine.Parameters.Values);
                    Interlocked.Increment(ref completed);
                    // A step of the epoch completed, so its joiners copied their state: the copy (three times the model) goes.
                    lock (sync) donations.Clear();
                }
                else
                {
                    // The step was given up (a member was lost mid-step): its gradient is dropped and the step trained again.
                    logger.LogInformation("Worker {Worker} of {Run} drops its gradient of step {Step}: the step is trained again", a.Worker, a.RunId, held.Step);
                    stepClock.Reset();
                }
                held = null;
            }
            if (applied < 0)
            {
                applied = CopyState(engine, order);
                checksum = HostTensors.Checksum(engine.Parameters.Values);
            }
            if (order.Donate) Donate(engine, order.Epoch, applied);
            if (order.Plan is { } upcoming && upcoming.Stage != lastStage)
            {
                lastStage = upcoming.Stage;
                CatchUpStageStart(upcoming);
            }
            ApplyStageStart(engine);
            if (order.Evaluate)
            {
                if (!heldOutRead) heldOut = HeldOutWindows(shard, spec);
                heldOutRead = true;
                var result = heldOut is null ? null : Evaluate(engine, heldOut, spec);
                Retried(() => Coordinator.ReportEvaluation(order.Epoch, applied, result?.Length ?? spec.CurveLength, result?.Loss ?? double.NaN,
                    result?.Windows ?? 0, result?.StandardError ?? double.NaN), "validation point");
            }
            if (order.CheckpointStateJson is { } state && Rank == 0) BeginCheckpoint(engine, checkpoints, spec, state, order.Epoch);
            if (order.Kind is StepOrderKind.Finish or StepOrderKind.Stop)
            {
                // "Stopped with a checkpoint at step N" holds only once that checkpoint is written and recorded.
                checkpoints.WaitForInFlight(cancel.Token);
                // Before the coordinator hears it: a resume that follows the stop at once may ask this silo for the slot.
                finished = true;
                Retried(() => Coordinator.WorkerDone(a.Worker, order.Epoch), "last order");
                return;
            }
            var plan = order.Plan ?? throw new InvalidOperationException($"the coordinator sent a train order for step {applied} without a plan");
            if (plan.Step != applied)
                throw new InvalidOperationException($"the coordinator ordered step {plan.Step}; worker {a.Worker}'s parameters are after step {applied}");

            var deadline = TimeSpan.FromSeconds(order.DeadlineSeconds > 0 ? order.DeadlineSeconds : 60);
            var members = order.Membership!;
            int rank = members.RankOf(a.Worker), world = members.WorldSize;
            CancellationToken stepToken;
            lock (sync) stepToken = epochCancel.Token;
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(stepToken, cancel.Token);
            double dataWait = 0, exchangeSeconds = 0, exchangeWork = 0, lossSum, gradNorm;
            RowBatch batch;
            stepClock.Start();
            try
            {
                var clock = Stopwatch.StartNew();
                batch = Bounded(shard.GetRows(new RowRequest(plan.StreamOffset, plan.Length, plan.Rows, rank, world)), deadline, linked.Token, $"the rows of step {plan.Step}");
                Unpack(batch, ref inputs, ref targets);
                dataWait = clock.Elapsed.TotalSeconds;
                if (plan.Length != lastLength)
                {
                    lock (events) lengthSwitches.Add(plan.Step);
                    lastLength = plan.Length;
                }
                if (exchange is OrleansRingExchange ring) ring.Deadline = deadline;
                using var stepExchange = exchange.Begin(plan.Step, engine.Parameters.Gradients, engine.Buckets, linked.Token);
                lossSum = engine.AccumulateGradients(inputs, targets, batch.Rows, plan.Length, plan.MicroBatchRows, plan.Tokens,
                    exchangeSettings.Overlap && exchange.WorldSize > 1 ? stepExchange.Ready : null);
                failpoint?.Reached(plan.Step, FailpointPhase.Backward);
                // What the step waits for after its backward: with the overlap, only what backward did not hide.
                var exchangeClock = Stopwatch.StartNew();
                stepExchange.Complete();
                exchangeSeconds = exchangeClock.Elapsed.TotalSeconds;
                exchangeWork = stepExchange.WorkSeconds;
                // Clipping is part of the reduced gradient every rank holds; only the optimizer step waits for the commit.
                gradNorm = engine.Optimizer.ClipGradients(spec.Optimizer.GradClip);
            }
            catch (Exception e) when (!cancel.IsCancellationRequested && (stepToken.IsCancellationRequested || IsStepFailure(e)))
            {
                stepClock.Reset();
                if (stepToken.IsCancellationRequested)
                {
                    logger.LogInformation("Worker {Worker} of {Run} gives up step {Step}: the membership moved on", a.Worker, a.RunId, plan.Step);
                }
                else
                {
                    logger.LogWarning("Worker {Worker} of {Run}: step {Step} failed: {Problem}", a.Worker, a.RunId, plan.Step, e.Message);
                    Tell(Coordinator.StepFailed(a.Worker, members.Epoch, plan.Step, e.Message), "failed step");
                }
                continue;
            }
            stepClock.Stop();
            var seconds = stepClock.Elapsed.TotalSeconds;
            stepClock.Reset();
            long myTokens = (long)batch.Rows * plan.Length;
            Report(new StepReport(a.Worker, members.Epoch, plan.Step, plan.Length, lossSum, myTokens, seconds, dataWait, exchangeSeconds, gradNorm, checksum,
                rank, rank, world, batch.Rows, exchangeWork));
            held = plan;
            failpoint?.Reached(plan.Step, FailpointPhase.Reported);
            metrics.RecordStep(a.RunId, rank,
                new StepMetrics(plan.Step, plan.Stage, plan.Length, myTokens > 0 ? lossSum / myTokens : 0, plan.StreamOffset + plan.Tokens, myTokens,
                    seconds, myTokens / seconds, plan.LearningRate, gradNorm, 0, 0, dataWait, exchangeSeconds),
                spec.Model.TrainingFlopsPerToken(plan.Length), rate);
        }
    }

    /// <summary>A failure of the step's path rather than of this worker: a peer or the data shard is gone, a wait passed its
    /// deadline. The step is given up on every rank and trained again; anything else fails the worker.</summary>
    private static bool IsStepFailure(Exception e) =>
        e is TimeoutException or RingExchangeException or OrleansException or OperationCanceledException;

    /// <summary>Adopts an epoch's membership: the rank, the ring over its members (the previous epoch's is closed), and a
    /// fresh step token.</summary>
    private IGradientExchange Adopt(Membership next, IGradientExchange previous)
    {
        (previous as IDisposable)?.Dispose();
        var rank = next.RankOf(a.Worker);
        if (rank < 0) throw new InvalidOperationException($"worker {a.Worker} is not a member of epoch {next.Epoch}");
        lock (sync)
        {
            membership = next;
            epochCancel.Dispose();
            epochCancel = new CancellationTokenSource();
            // A copy made for an earlier epoch's joiners is not needed any more (and holds three times the model).
            foreach (var old in donations.Keys.Where(e => e < next.Epoch).ToList()) donations.Remove(old);
        }
        Inbox.Advance(next.Epoch);
        logger.LogInformation("Worker {Worker} of {Run} is rank {Rank} of {World} in epoch {Epoch}", a.Worker, a.RunId, rank, next.WorldSize, next.Epoch);
        return next.WorldSize == 1 ? new SingleWorkerExchange() : new OrleansRingExchange(grains, a.RunId, next, rank, a.ChunkBytes, Inbox, exchangeSettings, failpoint, logger);
    }

    /// <summary>The next order. The coordinator answers within seconds (TimeoutException: ask again); while it cannot be
    /// reached (its silo died and it has not reactivated yet) the loop asks again, for <see cref="CoordinatorSilence"/> at most.</summary>
    private StepOrder Ask(long applied, bool held)
    {
        var silence = Stopwatch.StartNew();
        while (true)
        {
            cancel.Token.ThrowIfCancellationRequested();
            var call = Stopwatch.StartNew();
            try
            {
                return Call(Coordinator.NextStep(a.Worker, Epoch, applied, held));
            }
            catch (TimeoutException) when (call.Elapsed < PlanAnswer)
            {
                // The coordinator answered that the step is not decided yet (a slower peer); the order is decided once, so asking again is safe.
                silence.Restart();
            }
            catch (Exception e) when (e is OrleansException or TimeoutException)
            {
                if (silence.Elapsed > CoordinatorSilence)
                    throw new InvalidOperationException($"the run's coordinator could not be reached for {CoordinatorSilence.TotalSeconds:F0} s: {e.Message}", e);
                logger.LogWarning("Worker {Worker} of {Run} cannot reach the coordinator ({Problem}); asking again", a.Worker, a.RunId, e.Message);
                cancel.Token.WaitHandle.WaitOne(TimeSpan.FromSeconds(1));
            }
        }
    }

    private void Report(StepReport report)
    {
        // Idempotent (the coordinator keeps one report per rank), so a report lost with a dying silo is sent again.
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                Call(Coordinator.Report(report));
                return;
            }
            catch (Exception e) when (e is OrleansException or TimeoutException && attempt < 3)
            {
                logger.LogWarning("Worker {Worker} of {Run} could not report step {Step} ({Problem}); trying again", a.Worker, a.RunId, report.Step, e.Message);
                cancel.Token.WaitHandle.WaitOne(TimeSpan.FromSeconds(1));
            }
            catch (Exception e) when (e is OrleansException or TimeoutException)
            {
                // The next order settles it: a step the coordinator never saw reported is trained again.
                logger.LogWarning("Worker {Worker} of {Run} could not report step {Step}: {Problem}", a.Worker, a.RunId, report.Step, e.Message);
                return;
            }
        }
    }

    /// <summary>A joiner copies its donor's parameters and optimizer state, checks them against the donor's checksum, and
    /// returns the step they are after.</summary>
    private long CopyState(StepEngine engine, StepOrder order)
    {
        if (order.Donor < 0) throw new InvalidOperationException($"worker {a.Worker} joined epoch {order.Epoch} without a peer to copy the state from");
        var donor = grains.GetGrain<IWorkerGrain>(WorkerKeys.For(a.RunId, order.Donor));
        var clock = Stopwatch.StartNew();
        var deadline = TimeSpan.FromSeconds(Math.Max(60, order.DeadlineSeconds));
        var parts = new List<StatePart>();
        for (int part = 0; parts.Count == 0 || part < parts[0].Parts; part++)
        {
            while (true)
            {
                try
                {
                    parts.Add(Call(donor.FetchState(order.Epoch, part)));
                    break;
                }
                catch (TimeoutException) when (clock.Elapsed < deadline)
                {
                    // The donor makes its copy when it gets its own order for this step.
                }
            }
        }
        StateDonation.Load(engine, parts);
        logger.LogInformation("Worker {Worker} of {Run} copied the state at step {Step} from worker {Donor} ({Bytes:N0} bytes, {Seconds:F2} s)",
            a.Worker, a.RunId, parts[0].Step, order.Donor, parts[0].TotalBytes, clock.Elapsed.TotalSeconds);
        return parts[0].Step;
    }

    private void Donate(StepEngine engine, long epoch, long step)
    {
        var copy = StateDonation.Of(engine, epoch, step, a.ChunkBytes);
        lock (sync) DonationSlot(epoch).TrySetResult(copy);
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
        logger.LogInformation("Worker {Worker} of {Run}: preflight at length {Length} with {Rows} rows on {Device} took {Seconds:F3} s",
            a.Worker, a.RunId, max, rows, DeviceName, seconds);
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
                $"eval.everySteps/everySeconds/atTransitions ask for a validation curve, but validation loss at length {spec.CurveLength} cannot be measured: {e.Problem}", e);
        }
        return ValidationWindows.FromTokens(batch.Length, batch.Starts, MemoryMarshal.Cast<byte, int>(batch.Tokens).ToArray());
    }

    /// <summary>Validation loss at the curve length with RoPE extrapolation, as the bare Trainer measures it, off the step clock.</summary>
    private EvalResult Evaluate(StepEngine engine, ValidationWindows windows, RunSpec spec)
    {
        var clock = Stopwatch.StartNew();
        var result = engine.MeasureValidation(windows, spec.Schedule.MicroBatchTokens);
        metrics.RecordEvaluation(a.RunId, Rank, result.Loss);
        logger.LogInformation("Run {Run}: validation loss {Loss:F4} ± {StandardError:F4} at length {Length} on {Windows} windows ({Seconds:F2} s)",
            a.RunId, result.Loss, result.StandardError, result.Length, result.Windows, clock.Elapsed.TotalSeconds);
        return result;
    }

    /// <summary>Reads the start of the stage that <paramref name="plan"/> begins from the run's kept events when the broadcast
    /// has not brought it: a worker subscribes before its first order, but another rank's first order can go out before that
    /// subscription lands (and a subscription lapses while a coordinator moves). Best effort: without it the step prepares
    /// its length itself and only the transition metric is missed.</summary>
    private void CatchUpStageStart(StepPlanMessage plan)
    {
        bool StartsHere(RunEvent e) => e.Kind == RunEventKind.StageStarted && e.Stage!.Stage == plan.Stage && e.Stage.Step == plan.Step;
        lock (events)
            if (events.Any(StartsHere)) return;
        try
        {
            var kept = Coordinator.Events(0).WaitAsync(TimeSpan.FromSeconds(10), cancel.Token).GetAwaiter().GetResult();
            if (kept.FirstOrDefault(StartsHere) is { } missed) Hear(missed);
        }
        catch (Exception e) when (e is TimeoutException or OrleansException)
        {
            logger.LogWarning("Worker {Worker} of {Run} could not read the start of stage {Stage}: {Problem}", a.Worker, a.RunId, plan.Stage, e.Message);
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
        metrics.RecordTransition(a.RunId, Rank, new StageTransition(stage.Stage, stage.Length, stage.Step, stage.Tokens, stage.ElapsedSeconds));
    }

    /// <summary>Copies the state to host memory and goes on; the files are written and the record sent in the background
    /// (the record only once the files are written, flushed and checksummed: only then does it count, and only then does
    /// the checkpoint grain prune older ones).</summary>
    private void BeginCheckpoint(StepEngine engine, AsyncCheckpointWriter checkpoints, RunSpec spec, string stateJson, long epoch)
    {
        var state = JsonSerializer.Deserialize<TrainingState>(stateJson, RunSpecJson.Options)
            ?? throw new InvalidOperationException("the coordinator sent an empty training state to checkpoint");
        var rank = Rank;
        var pause = checkpoints.Begin(() => TrainingCheckpoint.Snapshot(engine, state, spec), (c, giveUp) =>
        {
            var record = new CheckpointRecord(c.Step, c.Folder, c.Manifest.ToJson(), spec.Checkpoint.KeepLast, stateJson, epoch, c.WriteSeconds);
            Retried(() => grains.GetGrain<ICheckpointGrain>(a.RunId).Commit(record), "checkpoint record", giveUp);
            metrics.RecordCheckpoint(a.RunId, rank, c.WriteSeconds);
        }, cancel.Token);
        metrics.RecordCheckpointPause(a.RunId, rank, pause.Seconds);
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

    private static T Bounded<T>(Task<T> task, TimeSpan deadline, CancellationToken cancel, string what)
    {
        try
        {
            return task.WaitAsync(deadline, cancel).GetAwaiter().GetResult();
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"{what} did not arrive within {deadline.TotalSeconds:F0} s");
        }
    }

    /// <summary>An idempotent call to a grain whose silo may just have died: asked again until the cluster has placed the
    /// grain anew (membership declares a dead silo within seconds), for <see cref="CoordinatorSilence"/> at most.</summary>
    /// <param name="until">ends the attempts (default: the loop's cancellation).</param>
    private void Retried(Func<Task> call, string what, CancellationToken? until = null)
    {
        var token = until ?? cancel.Token;
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                call().WaitAsync(token).GetAwaiter().GetResult();
                return;
            }
            catch (Exception e) when (e is OrleansException or TimeoutException && clock.Elapsed < CoordinatorSilence)
            {
                logger.LogWarning("Worker {Worker} of {Run} could not send its {What} ({Problem}); trying again", a.Worker, a.RunId, what, e.Message);
                token.WaitHandle.WaitOne(TimeSpan.FromSeconds(1));
            }
        }
    }

    private T Call<T>(Task<T> task) => task.WaitAsync(cancel.Token).GetAwaiter().GetResult();

    private void Call(Task task) => task.WaitAsync(cancel.Token).GetAwaiter().GetResult();
}
