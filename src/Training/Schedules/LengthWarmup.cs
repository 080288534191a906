using GrowLength.Training.Run;

namespace GrowLength.Training.Schedules;

/// <summary>The continuous length warm-up that linear and root schedules share: a curve over the warm-up, rounded to a multiple.</summary>
/// <remarks>
/// As in DeepSpeed's fixed_linear/fixed_root: length = min + (max - min) * curve(fraction / warmupFraction),
/// rounded down to a multiple of lengthMultiple (difficulty_step there, so kernels see few shapes),
/// never below min. Once the warm-up is over the length is max even when max is not a multiple,
/// so the run always reaches the length it was configured for.
/// Stages are the ranks of the distinct lengths this can produce: min, the multiples strictly between,
/// then max. A curve that skips a length (a big step) skips its stage number too.
/// </remarks>
internal sealed class LengthWarmup
{
    // Guards floor() against a raw length a few ulps under a multiple (0.1 * 3 style error); far below
    // the length change of one token in any real budget.
    private const double RoundingSlack = 1e-9;

    private readonly int min;
    private readonly int max;
    private readonly double warmupFraction;
    private readonly int multiple;
    private readonly Func<double, double> curve;

    public LengthWarmup(int min, int max, double warmupFraction, int multiple, Func<double, double> curve)
    {
        if (min < 1 || max < min || multiple < 1 || !(warmupFraction is > 0 and <= 1))
        {
            throw new ArgumentException("Validate the schedule config first.");
        }

        (this.min, this.max, this.warmupFraction, this.multiple, this.curve) = (min, max, warmupFraction, multiple, curve);
        var lengths = new List<int> { min };
        for (var m = ((long)min / multiple + 1) * multiple; m < max; m += multiple)
        {
            lengths.Add((int)m);
        }

        if (max > min)
        {
            lengths.Add(max);
        }

        Lengths = lengths;
    }

    public IReadOnlyList<int> Lengths { get; }

    public int LengthAt(double fraction)
    {
        if (fraction >= warmupFraction)
        {
            return max;
        }

        var raw = min + ((max - min) * curve(Math.Max(0, fraction) / warmupFraction));
        var rounded = Math.Floor((raw + RoundingSlack) / multiple) * multiple;
        return (int)Math.Clamp(rounded, min, max);
    }

    public StagePlan Plan(TrainingProgress progress, BudgetConfig budget)
    {
        var length = LengthAt(BudgetFraction.Of(progress, budget));
        var index = ((List<int>)Lengths).BinarySearch(length);
        return StagePlan.Forward(progress, index, Lengths);
    }
}
