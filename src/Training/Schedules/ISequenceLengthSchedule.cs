using GrowLength.Training.Run;

namespace GrowLength.Training.Schedules;

/// <summary>Decides the sequence length of the next step as a pure function of the run's progress.</summary>
/// <remarks>
/// Pure, so the coordinator can answer any worker's plan request, and a resumed run replans
/// exactly, from the checkpointed <see cref="TrainingProgress"/> alone.
/// </remarks>
public interface ISequenceLengthSchedule
{
    /// <summary>Every length this schedule can choose, increasing; a stage is an index into this list.</summary>
    IReadOnlyList<int> StageLengths { get; }

    /// <summary>The stage and length of the step that follows <paramref name="progress"/>.</summary>
    StagePlan Plan(TrainingProgress progress, BudgetConfig budget);
}
