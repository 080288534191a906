namespace GrowLength.Training.Schedules;

/// <summary>Budget fractions at which discrete stages end, from per-stage shares.</summary>
/// <remarks>
/// A fraction within <see cref="Tolerance"/> of a boundary counts as having reached it, so boundaries end
/// where the user meant despite binary rounding: 0.1 + 0.2 is 0.30000000000000004, and 8,192 / 12,288
/// (two thirds of a budget) is a hair below 1/3 + 1/3. Rounding the sums instead would push 2/3 up past it.
/// </remarks>
internal sealed class StageBoundaries
{
    /// <summary>How close to a boundary a fraction must be to count as reached (one token in 10^12).</summary>
    public const double Tolerance = 1e-12;

    private readonly double[] ends;

    /// <summary>Boundaries for <paramref name="shares"/> (validated: each above 0, summing to 1).</summary>
    public StageBoundaries(IReadOnlyList<double> shares)
    {
        ArgumentNullException.ThrowIfNull(shares);
        ends = new double[shares.Count];
        var sum = 0.0;
        for (var i = 0; i < shares.Count; i++)
        {
            sum += shares[i];
            ends[i] = sum;
        }

        if (ends.Length > 0)
        {
            // The last stage runs to the end of the budget, whatever the tolerance let through.
            ends[^1] = double.PositiveInfinity;
        }
    }

    /// <summary>Equal shares for <paramref name="count"/> stages.</summary>
    public static StageBoundaries Equal(int count) => new(Enumerable.Repeat(1.0 / count, count).ToArray());

    /// <summary>Budget fraction at which stage <paramref name="stage"/> ends (infinite for the last).</summary>
    public double EndOf(int stage) => ends[stage];

    /// <summary>The stage that runs at <paramref name="fraction"/>: stage i while fraction is below the cumulative share through i.</summary>
    public int StageAt(double fraction)
    {
        var stage = 0;
        while (stage < ends.Length - 1 && fraction + Tolerance >= ends[stage])
        {
            stage++;
        }

        return stage;
    }
}
