namespace GrowLength.Training.Schedules;

/// <summary>Budget fractions at which discrete stages end, from per-stage shares.</summary>
/// <remarks>
/// The running sums are rounded to 12 decimals so that shares written as short decimals end
/// where the user meant: 0.1 + 0.2 is 0.30000000000000004 in binary, and without the rounding
/// 300,000 of 1,000,000 tokens would not yet end a stage whose share sums to 0.3.
/// </remarks>
internal sealed class StageBoundaries
{
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
            ends[i] = Math.Round(sum, 12);
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
        while (stage < ends.Length - 1 && fraction >= ends[stage])
        {
            stage++;
        }

        return stage;
    }
}
