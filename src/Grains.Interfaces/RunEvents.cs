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
}

/// <summary>One event of a run, as the coordinator records and broadcasts it to every <see cref="IRunObserver"/>
/// (the run's workers and any watching client). Kept in the run's durable state, oldest first.</summary>
/// <param name="Sequence">1, 2, 3, … within the run: a watcher that also reads the kept list never shows one twice.</param>
/// <param name="Step">completed steps when it happened (for a stage, its first step; for a checkpoint, its step).</param>
/// <param name="Message">the event in words, as `watch` prints it.</param>
/// <param name="Stage">the stage that starts (StageStarted only).</param>
/// <param name="CheckpointFolder">the checkpoint's folder (CheckpointCommitted only).</param>
[GenerateSerializer, Alias("growlength.RunEvent")]
public sealed record RunEvent(
    [property: Id(0)] long Sequence, [property: Id(1)] RunEventKind Kind, [property: Id(2)] DateTime TimeUtc,
    [property: Id(3)] long Epoch, [property: Id(4)] long Step, [property: Id(5)] string Message,
    [property: Id(6)] StageInfo? Stage = null, [property: Id(7)] string? CheckpointFolder = null);

/// <summary>Hears a run's events as they happen. Subscriptions expire unless renewed
/// (<see cref="IScheduleCoordinatorGrain.Subscribe"/>), so a subscriber that died without a word is dropped.</summary>
[Alias("growlength.IRunObserver")]
public interface IRunObserver : IGrainObserver
{
    /// <summary>One event; one-way, so a slow or vanished subscriber never holds up the coordinator.</summary>
    [Alias("OnRunEvent"), OneWay] Task OnRunEvent(RunEvent runEvent);
}
