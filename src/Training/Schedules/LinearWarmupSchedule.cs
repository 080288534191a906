using GrowLength.Training.Run;

namespace GrowLength.Training.Schedules;

/// <summary>Length rises linearly with the budget fraction, in steps of a multiple (Composer SeqLengthWarmup, DeepSpeed fixed_linear).</summary>
/// <remarks>
/// length = min + (max - min) * fraction / warmupFraction, rounded down to lengthMultiple, clamped to
/// [min, max], and max once the warm-up is over. The stage is the length's rank in
/// <see cref="StageLengths"/> (min, the multiples between, max), so a stage change means a new shape.
/// Composer counts the warm-up in batches and DeepSpeed in steps; here it is the budget fraction,
/// because steps carry a fixed number of tokens and a time budget has no step count.
/// </remarks>
public sealed class LinearWarmupSchedule : ISequenceLengthSchedule
{
    private readonly LengthWarmup warmup;

    /// <summary>A linear warm-up from <paramref name="minLength"/> to <paramref name="maxLength"/> over <paramref name="warmupFraction"/> of the budget.</summary>
    public LinearWarmupSchedule(int minLength, int maxLength, double warmupFraction, int lengthMultiple) =>
        warmup = new LengthWarmup(minLength, maxLength, warmupFraction, lengthMultiple, x => x);

    /// <inheritdoc/>
    public IReadOnlyList<int> StageLengths => warmup.Lengths;

    /// <inheritdoc/>
    public StagePlan Plan(TrainingProgress progress, BudgetConfig budget) => warmup.Plan(progress, budget);
}
