namespace GrowLength.Training.Compare;

/// <summary>Student's t distribution for whole degrees of freedom: the quantiles behind the intervals over seeds.</summary>
public static class StudentT
{
    /// <summary>P(T ≤ <paramref name="t"/>) with <paramref name="df"/> degrees of freedom.</summary>
    /// <remarks>The finite series of Abramowitz and Stegun 26.7.3 (odd df) and 26.7.4 (even df): exact for whole df and
    /// needing no gamma function, which is all a count of repeats can give.</remarks>
    public static double Cdf(double t, int df)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(df, 1);
        if (double.IsNaN(t)) return double.NaN;
        if (double.IsInfinity(t)) return t > 0 ? 1 : 0;
        var theta = Math.Atan(Math.Abs(t) / Math.Sqrt(df));
        double sin = Math.Sin(theta), cos = Math.Cos(theta), cos2 = cos * cos;
        double inside; // P(|T| < |t|)
        if (df % 2 == 1)
        {
            double sum = 0;
            if (df > 1)
            {
                double term = cos;
                sum = term;
                for (int k = 3; k <= df - 2; k += 2)
                {
                    term *= cos2 * (k - 1) / k;
                    sum += term;
                }
            }
            inside = 2 / Math.PI * (theta + sin * sum);
        }
        else
        {
            double term = 1, sum = 1;
            for (int k = 2; k <= df - 2; k += 2)
            {
                term *= cos2 * (k - 1) / k;
                sum += term;
            }
            inside = sin * sum;
        }
        return t >= 0 ? 0.5 + inside / 2 : 0.5 - inside / 2;
    }

    /// <summary>The t with P(T ≤ t) = <paramref name="p"/> for <paramref name="df"/> degrees of freedom (the inverse of
    /// <see cref="Cdf"/>, by bisection: the CDF is monotone, and a few dozen halvings reach double precision).</summary>
    public static double Quantile(double p, int df)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(df, 1);
        if (!(p > 0 && p < 1)) throw new ArgumentOutOfRangeException(nameof(p), p, "a probability strictly between 0 and 1");
        if (p == 0.5) return 0;
        if (p < 0.5) return -Quantile(1 - p, df);
        double low = 0, high = 1;
        while (Cdf(high, df) < p) (low, high) = (high, high * 2);
        for (int i = 0; i < 200 && high - low > 1e-13 * high; i++)
        {
            var mid = (low + high) / 2;
            if (Cdf(mid, df) < p) low = mid;
            else high = mid;
        }
        return (low + high) / 2;
    }
}
