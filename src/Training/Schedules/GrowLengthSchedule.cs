using GrowLength.Training.Run;

namespace GrowLength.Training.Schedules;

/// <summary>Discrete stages of increasing length, each for its share of the budget (the GrowLength paper's schedule).</summary>
/// <remarks>
/// arXiv 2310.00576 trains 128 -> 256 -> ... in stages and compares at equal time; DeepSpeed's
/// fixed_discrete is the same shape in steps. Here stage i runs while the budget fraction is below the
/// cumulative share through i, so a time budget and a token budget use the same rule.
/// </remarks>
public sealed class GrowLengthSchedule : ISequenceLengthSchedule
{
    private readonly StageBoundaries boundaries;

    /// <summary>A schedule over <paramref name="lengths"/> with <paramref name="shares"/> of the budget (equal when null); both validated.</summary>
    public GrowLengthSchedule(IReadOnlyList<int> lengths, IReadOnlyList<double>? shares = null)
    {
        ArgumentNullException.ThrowIfNull(lengths);
        if (lengths.Count == 0)
        {
            throw new ArgumentException("At least one stage.", nameof(lengths));
        }

        if (shares is not null && shares.Count != lengths.Count)
        {
            throw new ArgumentException("One share per stage.", nameof(shares));
        }

        StageLengths = [.. lengths];
        boundaries = shares is null ? StageBoundaries.Equal(lengths.Count) : new StageBoundaries(shares);
    }

    /// <inheritdoc/>
    public IReadOnlyList<int> StageLengths { get; }

    /// <inheritdoc/>
    public StagePlan Plan(TrainingProgress progress, BudgetConfig budget) =>
        StagePlan.Forward(progress, boundaries.StageAt(BudgetFraction.Of(progress, budget)), StageLengths);
}
