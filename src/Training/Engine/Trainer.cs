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

/// <summary>The single-process training loop: one worker, all rows. The reference the cluster trainer is measured against.</summary>
public sealed class Trainer : IDisposable
{
    private readonly PreparedRun run;
    private readonly CheckpointStore? checkpoints;
    private readonly ITrainingObserver observer;
    private readonly ILogger logger;
    private readonly AdamWSettings adam;
    private long[] inputs = [];
    private long[] targets = [];
    private (long Steps, double Seconds)? lastCurvePoint;
    private ValidationWindows? curveWindows;

    public Trainer(PreparedRun run, CheckpointStore? checkpoints, ITrainingObserver observer, ILogger logger)
    {
        this.run = run;
        this.checkpoints = checkpoints;
        this.observer = observer;
        this.logger = logger;
        var o = run.Spec.Optimizer;
        adam = new AdamWSettings(o.Beta1, o.Beta2, o.Epsilon, o.WeightDecay);
        Engine = new StepEngine(run.Spec.Model, run.Spec.Seed, run.ResolveDevice());
    }

    /// <summary>Model, gradients and optimizer.</summary>
    public StepEngine Engine { get; }

    /// <summary>Where the run stands.</summary>
    public TrainingState State { get; private set; } = TrainingState.Initial;

    /// <summary>Continues from a checkpoint of this run (weights, optimizer, progress).</summary>
    public void Resume(CheckpointHandle handle)
    {
        TrainingCheckpoint.LoadInto(handle, Engine);
        State = TrainingCheckpoint.ReadState(handle);
        logger.LogInformation("Resumed at step {Step} ({Tokens} tokens, stage {Stage}) from {Folder}",
            State.Progress.Step, State.Progress.Tokens, State.Progress.Stage, handle.Folder);
    }

    /// <summary>One forward and backward pass at the maximum length with a full micro-batch (<see cref="StepEngine.Preflight"/>),
    /// so an out-of-memory shows at minute one. Returns its seconds.</summary>
    public double Preflight() => Engine.Preflight(run.Spec.Schedule.MaxLength, run.Spec.Schedule.MicroBatchTokens);

    /// <summary>Trains until the budget is spent or <paramref name="stop"/> is signalled (then checkpoints and returns).</summary>
    public TrainingOutcome Train(CancellationToken stop)
    {
        var spec = run.Spec;
        var schedule = spec.Schedule;
        while (!run.IsComplete(State.Progress))
        {
            MeasureCurveIfDue(finished: false);
            if (stop.IsCancellationRequested)
            {
                SaveCheckpoint();
                return TrainingOutcome.Stopped;
            }
            var plan = run.PlanStep(State.Progress);
            if (plan.StageChanged || State.Transitions.Count == 0)
            {
                var p = State.Progress;
                var transition = new StageTransition(plan.Stage, plan.Length, p.Step, p.Tokens, p.ElapsedSeconds);
                if (State.Transitions.Count > 0 && spec.Checkpoint.AtStageTransitions) SaveCheckpoint();
                State = new TrainingState(plan.StageChanged ? p.EnterStage(plan.Stage) : p, [.. State.Transitions, transition]);
                Engine.PrepareLength(plan.Length);
                observer.OnStageStarted(transition);
            }

            var sw = Stopwatch.StartNew();
            int count = plan.Rows * plan.Length;
            if (inputs.Length != count) { inputs = new long[count]; targets = new long[count]; }
            run.Stream.ReadRows(plan.StreamOffset, plan.Length, plan.Rows, 0, 1, inputs, targets);
            var dataWait = sw.Elapsed.TotalSeconds;
            var micro = (int)Math.Max(1, schedule.MicroBatchTokens / plan.Length);
            var loss = Engine.AccumulateGradients(inputs, targets, plan.Rows, plan.Length, micro, plan.Tokens) / plan.Tokens;
            if (!double.IsFinite(loss))
                throw new InvalidOperationException($"training diverged at step {plan.Step}: loss is {loss}. Lower optimizer.peakLearningRate or raise optimizer.warmupTokens.");
            var gradNorm = Engine.ApplyUpdate(plan.LearningRate, spec.Optimizer.GradClip, adam);
            var seconds = sw.Elapsed.TotalSeconds;

            var progress = State.Progress.AfterStep(plan.Tokens, seconds, loss, schedule.AdaptiveSmoothing, schedule.AdaptiveMargin);
            State = State with { Progress = progress };
            observer.OnStep(new StepMetrics(plan.Step, plan.Stage, plan.Length, loss, progress.Tokens, plan.Tokens, seconds,
                plan.Tokens / seconds, plan.LearningRate, gradNorm, progress.ElapsedSeconds,
                Schedules.BudgetFraction.Of(progress, spec.Budget), dataWait, 0));

            if (spec.Checkpoint.EverySteps > 0 && progress.Step % spec.Checkpoint.EverySteps == 0) SaveCheckpoint();
        }
        MeasureCurveIfDue(finished: true);
        SaveCheckpoint();
        return TrainingOutcome.Completed;
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
        if (!ValidationCadence.IsDue(spec.Eval, p.Step, p.ElapsedSeconds, lastCurvePoint, finished)) return;
        curveWindows ??= new ValidationWindows(run.Corpus, spec.CurveLength, spec.Eval.MaxWindows);
        var result = Engine.MeasureValidation(curveWindows, spec.Schedule.MicroBatchTokens);
        lastCurvePoint = (p.Step, p.ElapsedSeconds);
        observer.OnEvaluation(p.Step, p.Tokens, p.ElapsedSeconds, [result]);
    }

    private void SaveCheckpoint()
    {
        if (checkpoints is null) return;
        if (checkpoints.List().Any(m => m.Step == State.Progress.Step)) return; // already saved at this step
        var sw = Stopwatch.StartNew();
        TrainingCheckpoint.Save(checkpoints, Engine, State, run.Spec);
        observer.OnCheckpoint(State.Progress.Step, checkpoints.FolderFor(State.Progress.Step), sw.Elapsed.TotalSeconds);
    }

    public void Dispose() => Engine.Dispose();
}
