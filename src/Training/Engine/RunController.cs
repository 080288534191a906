using GrowLength.Training.Evaluation;
using GrowLength.Training.Run;
using GrowLength.Training.Schedules;

namespace GrowLength.Training.Engine;

/// <summary>The run's one control loop: decides each step's order from the schedules alone (<see cref="Next"/>) and
/// folds the ranks' reports into the run's state (<see cref="Fold"/>). Pure: no I/O, no clock, no corpus. The bare
/// <see cref="Trainer"/> and the cluster's coordinator are shells that carry out its orders, persist its state and send.</summary>
/// <remarks>Checkpoint cadence: every <c>checkpoint.everySteps</c> steps, before the first step of a new stage, at the
/// end, and on a graceful stop; never twice for one step. A stage transition is recorded when the order of its first step
/// is decided, before any rank trains at the new length.</remarks>
public sealed class RunController
{
    private readonly ISequenceLengthSchedule lengths;
    private readonly LearningRateSchedule learningRate;
    // eval.atTransitions, for a schedule with at most eval.maxTransitions length changes.
    private readonly bool measuresTransitions;

    /// <summary>The loop of <paramref name="spec"/> (validated).</summary>
    public RunController(RunSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        Spec = spec;
        lengths = SequenceLengthScheduleFactory.Create(spec.Schedule);
        learningRate = new LearningRateSchedule(spec.Optimizer);
        measuresTransitions = spec.Eval.AtTransitions && lengths.StageLengths.Count - 1 <= spec.Eval.MaxTransitions;
    }

    public RunSpec Spec { get; }

    /// <summary>The plan of the step after <paramref name="progress"/>.</summary>
    public StepPlan Plan(TrainingProgress progress) =>
        StepPlan.For(progress, Spec.Budget, Spec.Schedule, lengths, learningRate);

    /// <summary>True when the budget is spent.</summary>
    public bool IsComplete(TrainingProgress progress) => BudgetFraction.IsComplete(progress, Spec.Budget);

    /// <summary>The validation point due with <paramref name="state"/>'s steps completed, or null: the regular cadence and,
    /// with eval.atTransitions, the points around each length change (<see cref="TransitionOffset"/>).</summary>
    /// <param name="lastOnCadence">the last point measured on the regular cadence (null when none yet).</param>
    /// <param name="finished">the budget is spent: the end's point is due.</param>
    public CurvePointDue? CurvePointDue(TrainingState state, (long Steps, double Seconds)? lastOnCadence, bool finished = false)
    {
        ArgumentNullException.ThrowIfNull(state);
        var p = state.Progress;
        return ValidationCadence.Due(Spec.Eval, p.Step, p.ElapsedSeconds, lastOnCadence, TransitionOffset(state), finished);
    }

    /// <summary>With eval.atTransitions, the steps trained at the new length when <paramref name="state"/> is at a point around
    /// a length change: 0 after the last step at the old length (before the first at the new one), 1 or 2 after the first
    /// or second step at the new length. <see cref="ValidationCadence.NoTransition"/> anywhere else, without
    /// eval.atTransitions, and for schedules that can change length more than eval.maxTransitions times.</summary>
    /// <remarks>The same answer before and after <see cref="Next"/> records the transition of the next step, so the bare
    /// Trainer (which asks once the order is decided) and the coordinator (which asks when it folds a step) place the same
    /// points. A step that is both the first or second after one change and the last before the next is the next's 0.</remarks>
    public int TransitionOffset(TrainingState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (!measuresTransitions) return ValidationCadence.NoTransition;
        var p = state.Progress;
        var t = state.Transitions;
        // The first transition is the run's start at step 0, not a length change.
        if (t.Count > 1 && t[^1].Step == p.Step) return 0;
        if (t.Count > 0 && !IsComplete(p) && Plan(p).StageChanged) return 0;
        if (t.Count > 1 && p.Step - t[^1].Step is 1 or 2) return (int)(p.Step - t[^1].Step);
        return ValidationCadence.NoTransition;
    }

    /// <summary>The order for the next step, and the state that records it (with the stage transition it starts, if any).
    /// Asking again before the step is folded returns the same order and state: it is decided once for all ranks.</summary>
    /// <param name="stop">a graceful stop was asked for; it takes effect at the next order not yet decided.</param>
    public (RunControl State, RunOrder Order, StageTransition? Started) Next(RunControl state, bool stop)
    {
        ArgumentNullException.ThrowIfNull(state);
        var before = state.Training;
        var p = before.Progress;
        if (state.Pending is { } pending && pending.Step == p.Step) return (state, pending, null);

        TrainingState? SaveIf(bool due) => due && p.Step != state.LastCheckpointStep ? before : null;
        if (IsComplete(p)) return Decided(new RunOrder(OrderKind.Finish, p.Step, null, SaveIf(true)), before, null);
        if (stop) return Decided(new RunOrder(OrderKind.Stop, p.Step, null, SaveIf(true)), before, null);

        var plan = Plan(p);
        var training = before;
        StageTransition? started = null;
        bool atTransition = false;
        if (plan.StageChanged || before.Transitions.Count == 0)
        {
            atTransition = before.Transitions.Count > 0 && Spec.Checkpoint.AtStageTransitions;
            started = new StageTransition(plan.Stage, plan.Length, p.Step, p.Tokens, p.ElapsedSeconds);
            training = new TrainingState(plan.StageChanged ? p.EnterStage(plan.Stage) : p, [.. before.Transitions, started]);
        }
        bool cadence = Spec.Checkpoint.EverySteps > 0 && p.Step > 0 && p.Step % Spec.Checkpoint.EverySteps == 0;
        return Decided(new RunOrder(OrderKind.Train, p.Step, plan, SaveIf(cadence || atTransition)), training, started);

        (RunControl, RunOrder, StageTransition?) Decided(RunOrder order, TrainingState after, StageTransition? transition) =>
            (state with { Training = after, Pending = order }, order, transition);
    }

    /// <summary>Folds every rank's report of the pending step into the progress, or says why the run cannot go on:
    /// tokens that do not add up to the plan, ranks whose parameters differ, a rank at another length, a loss that is not finite.</summary>
    public StepFold Fold(RunControl state, IReadOnlyList<RankReport> reports)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(reports);
        var plan = state.Pending?.Plan
            ?? throw new InvalidOperationException($"no step is in flight after step {state.Training.Progress.Step}; nothing to fold");
        if (reports.Count == 0) throw new ArgumentException("a step needs at least one rank's report", nameof(reports));
        var loss = reports.Sum(r => r.LossSum) / plan.Tokens;
        var seconds = reports.Max(r => r.Seconds);
        var tokens = reports.Sum(r => r.Tokens);
        var problem =
            tokens != plan.Tokens ? $"the workers trained {tokens} tokens at step {plan.Step}, the plan has {plan.Tokens}"
            : reports.Select(r => r.ParameterChecksum).Distinct().Count() > 1
                ? $"the workers' parameters differ after step {plan.Step} (checksums {string.Join(", ", reports.OrderBy(r => r.Rank).Select(r => $"{r.Rank}:{r.ParameterChecksum:x16}"))})"
            : reports.FirstOrDefault(r => r.Length != plan.Length) is { } other ? $"worker {other.Rank} trained step {plan.Step} at length {other.Length}, the plan has {plan.Length}"
            : !double.IsFinite(loss) ? $"training diverged at step {plan.Step}: loss is {loss}. Lower optimizer.peakLearningRate or raise optimizer.warmupTokens."
            : null;
        if (problem is not null) return new StepFold(state, plan, loss, seconds, problem);
        var schedule = Spec.Schedule;
        var progress = state.Training.Progress.AfterStep(plan.Tokens, seconds, loss, schedule.AdaptiveSmoothing, schedule.AdaptiveMargin);
        return new StepFold(state with { Training = state.Training with { Progress = progress }, Pending = null }, plan, loss, seconds, null);
    }

    /// <summary>The state once the checkpoint of <paramref name="step"/> is committed.</summary>
    public static RunControl Committed(RunControl state, long step)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        if (step > state.Training.Progress.Step)
            throw new ArgumentOutOfRangeException(nameof(step), step, $"a checkpoint of step {step} cannot exist when {state.Training.Progress.Step} steps are done");
        return state with { LastCheckpointStep = step };
    }
}
