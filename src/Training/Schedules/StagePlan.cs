namespace GrowLength.Training.Schedules;

/// <summary>The stage and length of the next step, and whether that stage differs from the progress's.</summary>
/// <param name="Stage">Index into the schedule's stage lengths.</param>
/// <param name="Length">Sequence length of the next step.</param>
/// <param name="StageChanged">True when <paramref name="Stage"/> differs from <see cref="TrainingProgress.Stage"/>: the caller records the transition (<see cref="TrainingProgress.EnterStage"/>) and tells the workers.</param>
public sealed record StagePlan(int Stage, int Length, bool StageChanged)
{
    /// <summary>The plan for <paramref name="candidate"/>, never behind the progress's stage (a stage never goes backwards).</summary>
    internal static StagePlan Forward(TrainingProgress progress, int candidate, IReadOnlyList<int> lengths)
    {
        ArgumentNullException.ThrowIfNull(progress);
        if (progress.Stage < 0 || progress.Stage >= lengths.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(progress), progress.Stage, $"The progress is at stage {progress.Stage}, but this schedule has {lengths.Count} stages.");
        }

        var stage = Math.Clamp(Math.Max(candidate, progress.Stage), 0, lengths.Count - 1);
        return new StagePlan(stage, lengths[stage], stage != progress.Stage);
    }
}
