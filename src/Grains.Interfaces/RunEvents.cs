using Orleans.Concurrency;

namespace GrowLength.Grains;

/// <summary>What happened to a run.</summary>
[GenerateSerializer, Alias("growlength.RunEventKind")]
public enum RunEventKind
{
    /// <summary>Workers were started for a new membership epoch (a start or a resume).</summary>
    Started = 0,
    /// <summary>A stage starts: its first step is the next one any rank trains.</summary>
    StageStarted = 1,
    /// <summary>A checkpoint was recorded by the checkpoint grain.</summary>
    CheckpointCommitted = 2,
    /// <summary>A graceful stop was asked for.</summary>
    StopRequested = 3,
    /// <summary>The budget is spent.</summary>
    Completed = 4,
    /// <summary>Stopped gracefully with a checkpoint.</summary>
    Stopped = 5,
    /// <summary>The run failed; the message says why.</summary>
    Failed = 6,
    /// <summary>The coordinator found the run running when it (re)activated: the silo that held it stopped.</summary>
    Interrupted = 7,
    /// <summary>Workers of the epoch are gone (a silo declared dead, a step past its deadline, a failed exchange, a loop
    /// that failed or left); <see cref="RunEvent.Recovery"/> names them and the cause.</summary>
    WorkerLost = 8,
    /// <summary>The first step after a loss completed: <see cref="RunEvent.Recovery"/> says how long it took and what was retrained.</summary>
    Recovered = 9,
    /// <summary>Workers joined or left at a step boundary (a new silo, `growlength scale`, a recovery that grows back).</summary>
    Rescaled = 10,
    /// <summary>No worker with the run's state survived: the run reloads its last complete checkpoint as soon as enough
    /// device slots are free.</summary>
    Reloading = 11,
    /// <summary>A step was given up on every rank (a failed exchange or a deadline) with every worker still there, and is
    /// trained again by the same workers in a new epoch.</summary>
    StepRetried = 12,
    /// <summary>A resume began again from step 0 on request (`resume --start-over`): the run had checkpoint records and
    /// none verified; the message lists them.</summary>
    StartedOver = 13,
}

/// <summary>What a recovery or rescale changed, for status, watch and metrics.</summary>
/// <param name="Cause">why (a silo declared dead, a step past its deadline, a failed exchange, …; "scale" or "join" for a rescale).</param>
/// <param name="Ranks">the ranks (in the epoch before) that were lost or left, or the new ranks that joined.</param>
/// <param name="WorldBefore">workers before.</param>
/// <param name="WorldAfter">workers after.</param>
/// <param name="SecondsToNextStep">seconds from the failure's detection to the next completed step (Recovered only; NaN otherwise).</param>
/// <param name="TokensRetrained">tokens trained again because of it: 0 while a worker with the state survives; the tokens
/// since the checkpoint when the run reloads one.</param>
[GenerateSerializer, Alias("growlength.RecoveryInfo")]
public sealed record RecoveryInfo(
    [property: Id(0)] string Cause, [property: Id(1)] int[] Ranks, [property: Id(2)] int WorldBefore, [property: Id(3)] int WorldAfter,
    [property: Id(4)] double SecondsToNextStep, [property: Id(5)] long TokensRetrained);

/// <summary>One event of a run, as the coordinator records and broadcasts it to every <see cref="IRunObserver"/>
/// (the run's workers and any watching client). Kept in the run's durable state, oldest first.</summary>
/// <param name="Sequence">1, 2, 3, … within the run: a watcher that also reads the kept list never shows one twice.</param>
/// <param name="Step">completed steps when it happened (for a stage, its first step; for a checkpoint, its step).</param>
/// <param name="Message">the event in words, as `watch` prints it.</param>
/// <param name="Stage">the stage that starts (StageStarted only).</param>
/// <param name="CheckpointFolder">the checkpoint's folder (CheckpointCommitted only).</param>
/// <param name="Recovery">what a loss, recovery or rescale changed (WorkerLost, Recovered, Rescaled, Reloading, StepRetried).</param>
[GenerateSerializer, Alias("growlength.RunEvent")]
public sealed record RunEvent(
    [property: Id(0)] long Sequence, [property: Id(1)] RunEventKind Kind, [property: Id(2)] DateTime TimeUtc,
    [property: Id(3)] long Epoch, [property: Id(4)] long Step, [property: Id(5)] string Message,
    [property: Id(6)] StageInfo? Stage = null, [property: Id(7)] string? CheckpointFolder = null, [property: Id(8)] RecoveryInfo? Recovery = null);

/// <summary>Hears a run's events as they happen. Subscriptions expire unless renewed
/// (<see cref="IScheduleCoordinatorGrain.Subscribe"/>), so a subscriber that died without a word is dropped.</summary>
[Alias("growlength.IRunObserver")]
public interface IRunObserver : IGrainObserver
{
    /// <summary>One event; one-way, so a slow or vanished subscriber never holds up the coordinator.</summary>
    [Alias("OnRunEvent"), OneWay] Task OnRunEvent(RunEvent runEvent);
}
