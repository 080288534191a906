using System.Globalization;

namespace GrowLength.Training.Compare;

/// <summary>One quantity over the repeats of a schedule: its mean with a 95% interval (Student's t), its range and count.</summary>
/// <param name="Mean">the arithmetic mean; for ratios (<see cref="OfRatios"/>) the geometric mean.</param>
/// <param name="Low">lower end of the 95% interval; NaN when <see cref="Count"/> is below 2 (one value has no interval).</param>
/// <param name="High">upper end of the 95% interval; NaN when <see cref="Count"/> is below 2.</param>
/// <param name="Min">the smallest value.</param>
/// <param name="Max">the largest value.</param>
/// <param name="Count">the finite values it was computed from (n).</param>
public sealed record Spread(double Mean, double Low, double High, double Min, double Max, int Count)
{
    /// <summary>The coverage of the interval.</summary>
    public const double Confidence = 0.95;

    /// <summary>How <see cref="Of"/> makes its interval, for reports.</summary>
    public const string Method = "mean ± t(0.975, n−1)·s/√n, Student's t over the repeats (s: the sample standard deviation)";

    /// <summary>How <see cref="OfRatios"/> makes its interval, for reports.</summary>
    public const string RatioMethod = "the same interval on log(speed-up), back-transformed: the centre is the geometric mean and the bounds are asymmetric";

    private static readonly Spread None = new(double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, 0);

    /// <summary>True when there is an interval (at least two values).</summary>
    public bool HasInterval => Count >= 2;

    /// <summary>The spread of the finite values (NaN everywhere when there are none).</summary>
    public static Spread Of(IEnumerable<double> values)
    {
        var v = values.Where(double.IsFinite).ToList();
        if (v.Count == 0) return None;
        var (mean, half) = MeanAndHalfWidth(v);
        return new Spread(mean, mean - half, mean + half, v.Min(), v.Max(), v.Count);
    }

    /// <summary>The spread of positive ratios, computed on their logarithms and transformed back: a ratio of 2 and one of
    /// ½ are equally far from 1, which an interval on the ratios themselves would not respect (it can even go below 0).</summary>
    public static Spread OfRatios(IEnumerable<double> ratios)
    {
        var v = ratios.Where(r => double.IsFinite(r) && r > 0).ToList();
        if (v.Count == 0) return None;
        var (mean, half) = MeanAndHalfWidth([.. v.Select(r => Math.Log(r))]);
        return new Spread(Math.Exp(mean), Math.Exp(mean - half), Math.Exp(mean + half), v.Min(), v.Max(), v.Count);
    }

    /// <summary>This spread through an increasing function (perplexity from loss): the interval and range map exactly,
    /// and the centre is the function of the mean.</summary>
    public Spread Map(Func<double, double> increasing) =>
        Count == 0 ? None : new Spread(increasing(Mean), increasing(Low), increasing(High), increasing(Min), increasing(Max), Count);

    /// <summary>"mean [low, high]" in <paramref name="format"/> with <paramref name="unit"/> after each number; a single
    /// value says n=1 instead of an interval it does not have; none is "–".</summary>
    public string Text(string format, string unit = "")
    {
        string F(double v) => double.IsFinite(v) ? v.ToString(format, CultureInfo.InvariantCulture) + unit : "–";
        return Count == 0 ? "–" : !HasInterval ? $"{F(Mean)} (n=1)" : $"{F(Mean)} [{F(Low)}, {F(High)}]";
    }

    /// <summary>The mean and the half-width of its 95% t interval (NaN for a single value).</summary>
    private static (double Mean, double Half) MeanAndHalfWidth(IReadOnlyList<double> v)
    {
        var mean = v.Average();
        if (v.Count < 2) return (mean, double.NaN);
        var variance = v.Sum(x => (x - mean) * (x - mean)) / (v.Count - 1);
        var t = StudentT.Quantile(0.5 + Confidence / 2, v.Count - 1);
        return (mean, t * Math.Sqrt(variance / v.Count));
    }
}
