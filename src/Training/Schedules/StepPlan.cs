using GrowLength.Training.Run;

namespace GrowLength.Training.Schedules;

/// <summary>Everything one optimizer step needs to know, from the progress before it and the run's schedules.</summary>
/// <param name="Step">Index of this step (completed steps before it).</param>
/// <param name="Stage">Stage of this step in the length schedule.</param>
/// <param name="Length">Sequence length of every row.</param>
/// <param name="Rows">Rows in the whole step, over all workers.</param>
/// <param name="StreamOffset">First token of this step in the packed stream: the running token count, not step * G.</param>
/// <param name="Tokens">Tokens in the step: rows times length.</param>
/// <param name="LearningRate">Learning rate for this step's update.</param>
/// <param name="StageChanged">True when this step starts a new stage: record it with <see cref="TrainingProgress.EnterStage"/> and tell the workers.</param>
/// <param name="MicroBatchRows">Most rows one forward/backward pass takes (<see cref="BatchPlan.RowsPerMicroBatch"/>).</param>
public sealed record StepPlan(long Step, int Stage, int Length, int Rows, long StreamOffset, long Tokens, double LearningRate, bool StageChanged, int MicroBatchRows)
{
    /// <summary>The plan of the step after <paramref name="progress"/>.</summary>
    /// <remarks>
    /// The learning rate is taken at the token count after this step (time as before it, which is all
    /// a pure function knows), as nanoGPT's (it + 1) / warmup does: the first step does not run at 0.
    /// </remarks>
    public static StepPlan For(
        TrainingProgress progress,
        BudgetConfig budget,
        ScheduleConfig schedule,
        ISequenceLengthSchedule lengths,
        LearningRateSchedule learningRate)
    {
        ArgumentNullException.ThrowIfNull(progress);
        ArgumentNullException.ThrowIfNull(schedule);
        ArgumentNullException.ThrowIfNull(lengths);
        ArgumentNullException.ThrowIfNull(learningRate);
        var stage = lengths.Plan(progress, budget);
        var batch = BatchPlan.For(stage.Length, schedule.GlobalBatchTokens, schedule.MicroBatchTokens);
        var lr = learningRate.At(progress.Tokens + batch.Tokens, progress.ElapsedSeconds, budget);
        return new StepPlan(progress.Step, stage.Stage, stage.Length, batch.Rows, progress.Tokens, batch.Tokens, lr, stage.StageChanged, batch.RowsPerMicroBatch);
    }
}
