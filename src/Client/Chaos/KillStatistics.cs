namespace GrowLength.Client.Chaos;

/// <summary>How a run took its kills: how many it survived (completed a step after), and the median and worst seconds
/// from a kill to the next completed step and to its detection; null where no kill gave the figure.</summary>
/// <param name="TokensRetrainedPerKill">each kill's tokens trained again, in order (null: no Recovered event seen).</param>
internal sealed record KillStatistics(
    int Kills, int Survived, double? MedianSecondsToNextStep, double? WorstSecondsToNextStep,
    double? MedianDetectionSeconds, double? WorstDetectionSeconds, IReadOnlyList<long?> TokensRetrainedPerKill)
{
    /// <summary>The statistics of the kills carried out among <paramref name="actions"/> (leaves and joins are not kills).</summary>
    public static KillStatistics Of(IEnumerable<ChaosActionRecord> actions)
    {
        var kills = actions.Where(a => a.Kind == ChaosActionKind.Kill && a.Done).ToList();
        var toNext = kills.Where(k => k.SecondsToNextStep.HasValue).Select(k => k.SecondsToNextStep!.Value).ToList();
        var detection = kills.Where(k => k.DetectionSeconds.HasValue).Select(k => k.DetectionSeconds!.Value).ToList();
        return new KillStatistics(kills.Count, toNext.Count, Median(toNext), Worst(toNext), Median(detection), Worst(detection),
            [.. kills.Select(k => k.TokensRetrained)]);
    }

    /// <summary>The middle value (the mean of the two middle ones for an even count), or null for none.</summary>
    public static double? Median(IReadOnlyCollection<double> values) =>
        values.Count == 0 ? null : Training.Bench.SampleMedian.Of(values);

    /// <summary>The largest value, or null for none.</summary>
    public static double? Worst(IReadOnlyCollection<double> values) => values.Count == 0 ? null : values.Max();
}
