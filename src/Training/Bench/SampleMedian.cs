namespace GrowLength.Training.Bench;

/// <summary>The median the benchmarks and reports use: the middle value, or the mean of the two middle ones for an even
/// count; NaN for none.</summary>
public static class SampleMedian
{
    public static double Of(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0) return double.NaN;
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }
}
