namespace GrowLength.Training.Evaluation;

/// <summary>The standard error of a validation loss: how far the mean over these windows could lie from the mean over
/// the whole held-out split.</summary>
public static class StandardError
{
    /// <summary>The sample standard deviation (n − 1) of <paramref name="values"/> over √n; NaN for fewer than two values,
    /// where one window says nothing about the spread between windows.</summary>
    public static double OfMean(IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        int n = values.Count;
        if (n < 2) return double.NaN;
        double mean = 0;
        foreach (var v in values) mean += v;
        mean /= n;
        double squares = 0;
        foreach (var v in values) squares += (v - mean) * (v - mean);
        return Math.Sqrt(squares / (n - 1) / n);
    }

    /// <summary>The standard error of a difference of two independent means: √(a² + b²).</summary>
    public static double OfDifference(double a, double b) => Math.Sqrt(a * a + b * b);
}
