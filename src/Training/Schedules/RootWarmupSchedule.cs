using GrowLength.Training.Run;

namespace GrowLength.Training.Schedules;

/// <summary>Length rises with the square root of the budget fraction, in steps of a multiple (DeepSpeed fixed_root, degree 2).</summary>
/// <remarks>
/// length = min + (max - min) * sqrt(fraction / warmupFraction), then rounded and clamped as
/// <see cref="LinearWarmupSchedule"/> does. The root spends less of the budget on the shortest lengths
/// than the linear warm-up; DeepSpeed's root_degree is fixed at 2, its documented example.
/// Stages are ranks of lengths, as for the linear schedule.
/// </remarks>
public sealed class RootWarmupSchedule : ISequenceLengthSchedule
{
    private readonly LengthWarmup warmup;

    /// <summary>A square-root warm-up from <paramref name="minLength"/> to <paramref name="maxLength"/> over <paramref name="warmupFraction"/> of the budget.</summary>
    public RootWarmupSchedule(int minLength, int maxLength, double warmupFraction, int lengthMultiple) =>
        warmup = new LengthWarmup(minLength, maxLength, warmupFraction, lengthMultiple, Math.Sqrt);

    /// <inheritdoc/>
    public IReadOnlyList<int> StageLengths => warmup.Lengths;

    /// <inheritdoc/>
    public StagePlan Plan(TrainingProgress progress, BudgetConfig budget) => warmup.Plan(progress, budget);
}
