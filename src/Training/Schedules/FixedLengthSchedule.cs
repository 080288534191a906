using GrowLength.Training.Run;

namespace GrowLength.Training.Schedules;

/// <summary>One length for the whole run: the baseline that GrowLength is compared with.</summary>
public sealed class FixedLengthSchedule(int length) : ISequenceLengthSchedule
{
    /// <inheritdoc/>
    public IReadOnlyList<int> StageLengths { get; } = length >= 1 ? [length] : throw new ArgumentOutOfRangeException(nameof(length));

    /// <inheritdoc/>
    public StagePlan Plan(TrainingProgress progress, BudgetConfig budget)
    {
        ArgumentNullException.ThrowIfNull(budget);
        return StagePlan.Forward(progress, 0, StageLengths);
    }
}
