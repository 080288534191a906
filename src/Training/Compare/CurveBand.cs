namespace GrowLength.Training.Compare;

/// <summary>The validation curves of one schedule's repeats on a common time grid: the mean and a band around it.</summary>
/// <param name="Seconds">the grid: training seconds, from the latest first point to the earliest last point of the curves.</param>
/// <param name="Low">lower edge of the band at each grid point (the mean itself when there is no band).</param>
/// <param name="Count">the curves (n).</param>
/// <param name="Kind">what the band is: a 95% interval, the min–max range, or none.</param>
public sealed record CurveBand(double[] Seconds, double[] Mean, double[] Low, double[] High, int Count, BandKind Kind)
{
    /// <summary>Repeats from which the band is a 95% t interval; below it, with two curves, the range says more honestly
    /// how far apart they were (a t interval from two points is 12.7 standard errors wide).</summary>
    public const int IntervalFrom = 3;

    /// <summary>The band of <paramref name="curves"/> over <paramref name="points"/> grid points, each curve interpolated
    /// linearly between its own points; null when no curve has two points or they share no time span.</summary>
    public static CurveBand? Of(IReadOnlyList<IReadOnlyList<CurvePoint>> curves, int points = 100)
    {
        var usable = curves.Where(c => c.Count >= 2).ToList();
        if (usable.Count == 0 || points < 2) return null;
        double start = usable.Max(c => c[0].Seconds), end = usable.Min(c => c[^1].Seconds);
        if (!(end > start)) return null;
        var kind = usable.Count >= IntervalFrom ? BandKind.Interval95 : usable.Count == 2 ? BandKind.MinMax : BandKind.None;
        var xs = new double[points];
        double[] mean = new double[points], low = new double[points], high = new double[points];
        for (int i = 0; i < points; i++)
        {
            xs[i] = start + (end - start) * i / (points - 1);
            var spread = Spread.Of(usable.Select(c => LossAt(c, xs[i])));
            mean[i] = spread.Mean;
            (low[i], high[i]) = kind switch
            {
                BandKind.Interval95 => (spread.Low, spread.High),
                BandKind.MinMax => (spread.Min, spread.Max),
                _ => (spread.Mean, spread.Mean),
            };
        }
        return new CurveBand(xs, mean, low, high, usable.Count, kind);
    }

    /// <summary>The loss of <paramref name="curve"/> at <paramref name="seconds"/>, linear between its two neighbouring
    /// points (and held at the ends).</summary>
    public static double LossAt(IReadOnlyList<CurvePoint> curve, double seconds)
    {
        if (seconds <= curve[0].Seconds) return curve[0].Loss;
        for (int i = 1; i < curve.Count; i++)
        {
            if (curve[i].Seconds < seconds) continue;
            var (a, b) = (curve[i - 1], curve[i]);
            return b.Seconds == a.Seconds ? b.Loss : a.Loss + (b.Loss - a.Loss) * (seconds - a.Seconds) / (b.Seconds - a.Seconds);
        }
        return curve[^1].Loss;
    }
}

/// <summary>What a <see cref="CurveBand"/> shows around its mean.</summary>
public enum BandKind
{
    /// <summary>One curve: no band.</summary>
    None,

    /// <summary>Two curves: their range.</summary>
    MinMax,

    /// <summary>Three or more: the 95% Student's t interval of the mean.</summary>
    Interval95,
}
