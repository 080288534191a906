using System.Collections.Concurrent;
using System.Diagnostics;
using GrowLength.Training.Checkpoints;
using GrowLength.Training.Data;
using GrowLength.Training.Evaluation;
using GrowLength.Training.Optim;
using GrowLength.Training.Run;
using Microsoft.Extensions.Logging;

namespace GrowLength.Training.Engine;

/// <summary>How a call to <see cref="Trainer.Train"/> ended.</summary>
public enum TrainingOutcome
{
    /// <summary>The budget is spent.</summary>
    Completed,

    /// <summary>Stopped on request after a step; a checkpoint holds the position.</summary>
    Stopped,
}

/// <summary>The single-process training loop: one worker, all rows. The reference the cluster trainer is measured against.
/// A shell over <see cref="RunController"/>: it carries out each order on this process and folds its own report.</summary>
public sealed class Trainer : IDisposable
{
    private readonly PreparedRun run;
    private readonly RunController controller;
    private readonly AsyncCheckpointWriter? checkpoints;
    // Checkpoints the background writer committed, for the training thread to fold in at its next step boundary.
    private readonly ConcurrentQueue<CommittedCheckpoint> committed = new();
    private readonly List<CheckpointPause> pauses = [];
    private readonly ITrainingObserver observer;
    private readonly ILogger logger;
    private readonly AdamWSettings adam;
    private long[] inputs = [];
    private long[] targets = [];
    // The last point on the regular cadence; points around length changes do not move it.
    private (long Steps, double Seconds)? lastCurvePoint;
    private readonly List<ValidationPoint> curve = [];
    private ValidationWindows? curveWindows;
    private RunControl control = RunControl.Initial;

    public Trainer(PreparedRun run, CheckpointStore? checkpoints, ITrainingObserver observer, ILogger logger)
    {
        this.run = run;
        if (checkpoints is not null) this.checkpoints = new AsyncCheckpointWriter(checkpoints, logger);
        this.observer = observer;
        this.logger = logger;
        controller = new RunController(run.Spec);
        var o = run.Spec.Optimizer;
        adam = new AdamWSettings(o.Beta1, o.Beta2, o.Epsilon, o.WeightDecay);
        Engine = new StepEngine(run.Spec.Model, run.Spec.Seed, run.ResolveDevice());
    }

    /// <summary>Model, gradients and optimizer.</summary>
    public StepEngine Engine { get; }

    /// <summary>Where the run stands.</summary>
    public TrainingState State => control.Training;

    /// <summary>Continues from a checkpoint of this run (weights, optimizer, progress).</summary>
    public void Resume(CheckpointHandle handle)
    {
        TrainingCheckpoint.LoadInto(handle, Engine);
        control = RunControl.ResumedFrom(TrainingCheckpoint.ReadState(handle));
        logger.LogInformation("Resumed at step {Step} ({Tokens} tokens, stage {Stage}) from {Folder}",
            State.Progress.Step, State.Progress.Tokens, State.Progress.Stage, handle.Folder);
    }

    /// <summary>One forward and backward pass at the maximum length with a full micro-batch (<see cref="StepEngine.Preflight"/>),
    /// so an out-of-memory shows at minute one. Returns its seconds.</summary>
    public double Preflight() => Engine.Preflight(run.Spec.Schedule.MaxLength, run.Spec.Schedule.MicroBatchTokens);

    /// <summary>The validation curve measured so far in this process (eval.everySteps/everySeconds/atTransitions), oldest first.</summary>
    public IReadOnlyList<ValidationPoint> Curve => curve;

    /// <summary>What each checkpoint of this trainer cost its training thread, in order.</summary>
    public IReadOnlyList<CheckpointPause> CheckpointPauses => pauses;

    /// <summary>Trains until the budget is spent or <paramref name="stop"/> is signalled (then checkpoints and returns).
    /// Checkpoints are written in the background; it returns once the last one is on disk.</summary>
    public TrainingOutcome Train(CancellationToken stop)
    {
        var spec = run.Spec;
        while (true)
        {
            FoldCommitted();
            var (next, order, started) = controller.Next(control, stop.IsCancellationRequested);
            control = next;
            MeasureCurveIfDue(finished: order.Kind == OrderKind.Finish);
            if (order.Checkpoint is { } saved) BeginCheckpoint(saved);
            if (order.Kind != OrderKind.Train)
            {
                // "Stopped with a checkpoint at step N" holds only once that checkpoint is written and recorded.
                checkpoints?.WaitForInFlight();
                FoldCommitted();
                return order.Kind == OrderKind.Finish ? TrainingOutcome.Completed : TrainingOutcome.Stopped;
            }
            var plan = order.Plan!;
            if (started is not null)
            {
                Engine.PrepareLength(started.Length);
                observer.OnStageStarted(started);
            }

            var sw = Stopwatch.StartNew();
            int count = plan.Rows * plan.Length;
            if (inputs.Length != count) { inputs = new long[count]; targets = new long[count]; }
            run.Stream.ReadRows(plan.StreamOffset, plan.Length, plan.Rows, 0, 1, inputs, targets);
            var dataWait = sw.Elapsed.TotalSeconds;
            var lossSum = Engine.AccumulateGradients(inputs, targets, plan.Rows, plan.Length, plan.MicroBatchRows, plan.Tokens);
            var gradNorm = Engine.ApplyUpdate(plan.LearningRate, spec.Optimizer.GradClip, adam);
            var seconds = sw.Elapsed.TotalSeconds;

            // One rank, so no checksum to compare. A failed fold (divergence) ends the run before anything is saved.
            var fold = controller.Fold(control, [new RankReport(0, plan.Length, lossSum, plan.Tokens, seconds, 0)]);
            if (fold.Failed) throw new InvalidOperationException(fold.Failure);
            control = fold.State;
            var progress = State.Progress;
            observer.OnStep(new StepMetrics(plan.Step, plan.Stage, plan.Length, fold.Loss, progress.Tokens, plan.Tokens, seconds,
                plan.Tokens / seconds, plan.LearningRate, gradNorm, progress.ElapsedSeconds,
                Schedules.BudgetFraction.Of(progress, spec.Budget), dataWait, 0));
        }
    }

    /// <summary>Validation loss at every evaluation length and RoPE mode (the final table).</summary>
    public IReadOnlyList<EvalResult> EvaluateAll()
    {
        var spec = run.Spec;
        var results = Evaluator.Evaluate(Engine.Model, run.Corpus, spec.EvalLengths, spec.Eval.Modes(),
            Math.Max(State.LongestLength, spec.Schedule.MinLength), spec.Eval.MaxWindows, spec.Schedule.MicroBatchTokens);
        observer.OnEvaluation(State.Progress.Step, State.Progress.Tokens, State.Progress.ElapsedSeconds, results);
        return results;
    }

    // A point of the validation curve at eval.curveLength; its time is outside the step clock, so it costs no budget.
    private void MeasureCurveIfDue(bool finished)
    {
        var spec = run.Spec;
        var p = State.Progress;
        if (controller.CurvePointDue(State, lastCurvePoint, finished) is not { } due) return;
        curveWindows ??= new ValidationWindows(run.Corpus, spec.CurveLength, spec.Eval.MaxWindows);
        var result = Engine.MeasureValidation(curveWindows, spec.Schedule.MicroBatchTokens);
        if (due.OnCadence) lastCurvePoint = (p.Step, p.ElapsedSeconds);
        curve.Add(new ValidationPoint(p.Step, p.Tokens, p.ElapsedSeconds, result, due.TransitionOffset));
        observer.OnEvaluation(p.Step, p.Tokens, p.ElapsedSeconds, [result]);
    }

    // A snapshot now, the files in the background. This process owns the run's checkpoint folders, so the checkpoint is
    // recorded by its commit, and pruned right after it, off the training thread.
    private void BeginCheckpoint(TrainingState state)
    {
        if (checkpoints is null) return;
        var store = checkpoints.Store;
        pauses.Add(checkpoints.Begin(() => TrainingCheckpoint.Snapshot(Engine, state, run.Spec), (c, _) =>
        {
            store.Prune(c.Step);
            committed.Enqueue(c);
        }));
    }

    // At a step boundary, on the training thread: a failed write fails the run here; committed ones are the run's now.
    private void FoldCommitted()
    {
        checkpoints?.ThrowIfFailed();
        while (committed.TryDequeue(out var c))
        {
            control = RunController.Committed(control, c.Step);
            observer.OnCheckpoint(c.Step, c.Folder, c.WriteSeconds);
        }
    }

    /// <summary>Frees the model; a checkpoint still being written (the run failed mid-write) is given up, and the one
    /// before it stays the latest.</summary>
    public void Dispose()
    {
        checkpoints?.Dispose();
        Engine.Dispose();
    }
}
