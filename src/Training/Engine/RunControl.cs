using GrowLength.Training.Schedules;

namespace GrowLength.Training.Engine;

/// <summary>What every rank does next.</summary>
public enum OrderKind
{
    /// <summary>Train <see cref="RunOrder.Plan"/>.</summary>
    Train = 0,

    /// <summary>The budget is spent: the run is complete.</summary>
    Finish = 1,

    /// <summary>A graceful stop: the run stops here and a resume continues it.</summary>
    Stop = 2,
}

/// <summary>The order for the step after <see cref="Step"/> completed steps, decided once for every rank.</summary>
/// <param name="Plan">the step to train (Train only).</param>
/// <param name="Checkpoint">when set, first save a checkpoint of this state with the current weights (those after
/// <see cref="Step"/> steps). It is the state before any stage transition this order records, so a resume from it
/// records the transition again.</param>
public sealed record RunOrder(OrderKind Kind, long Step, StepPlan? Plan, TrainingState? Checkpoint);

/// <summary>One rank's account of a step.</summary>
/// <param name="LossSum">sum of the rank's token losses, nats.</param>
/// <param name="Tokens">tokens the rank trained.</param>
/// <param name="Seconds">the step's wall time as the rank saw it.</param>
/// <param name="ParameterChecksum">checksum of the rank's parameters after the update; ranks that differ fail the run.</param>
public sealed record RankReport(int Rank, int Length, double LossSum, long Tokens, double Seconds, ulong ParameterChecksum);

/// <summary>The control loop's state: where the run stands, its last committed checkpoint, and the order in flight.
/// Plain data, so the coordinator persists it and a test builds it by hand.</summary>
/// <param name="LastCheckpointStep">step of the last committed checkpoint, -1 before the first.</param>
/// <param name="Pending">the order decided for <c>Training.Progress.Step</c> and not yet folded (asking again returns it).</param>
public sealed record RunControl(TrainingState Training, long LastCheckpointStep, RunOrder? Pending)
{
    /// <summary>A run that has taken no step and has no checkpoint.</summary>
    public static RunControl Initial { get; } = new(TrainingState.Initial, -1, null);

    /// <summary>A run resumed from the checkpoint holding <paramref name="training"/>.</summary>
    public static RunControl ResumedFrom(TrainingState training) => new(training, training.Progress.Step, null);
}

/// <summary>A step folded into the run, or the reason it could not be.</summary>
/// <param name="Loss">mean training loss of the step, nats per token.</param>
/// <param name="Seconds">the step's wall time: the slowest rank's.</param>
public sealed record StepFold(RunControl State, StepPlan Plan, double Loss, double Seconds, string? Failure)
{
    public bool Failed => Failure is not null;
}
