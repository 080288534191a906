using GrowLength.Client.Commands;
using GrowLength.Training;

namespace GrowLength.Client.Chaos;

/// <summary>Seeded random chaos: for <see cref="DurationSeconds"/> from the run's start, a kill every
/// U(<see cref="MinIntervalSeconds"/>, <see cref="MaxIntervalSeconds"/>) seconds, each followed by a replacement silo
/// <see cref="RestartAfterSeconds"/> later (null: none), so the run can grow back.</summary>
internal sealed record RandomChaos(double DurationSeconds, double MinIntervalSeconds, double MaxIntervalSeconds, int Seed, double? RestartAfterSeconds)
{
    /// <summary>The kills, in time order. The same seed gives the same times and picks, so a run that went wrong can be
    /// replayed; which silo a pick lands on depends only on which silos host workers at that moment.</summary>
    public IReadOnlyList<TimedKill> Schedule()
    {
        var random = new Random(Seed);
        var kills = new List<TimedKill>();
        for (double at = 0; ;)
        {
            at += MinIntervalSeconds + random.NextDouble() * (MaxIntervalSeconds - MinIntervalSeconds);
            if (at >= DurationSeconds) return kills;
            kills.Add(new TimedKill(at, random.NextDouble()));
        }
    }

    /// <summary>Parses "60s-120s" (or one duration, "90s", for a fixed interval) given with <paramref name="option"/>.</summary>
    public static (double Min, double Max) ParseInterval(string text, string option)
    {
        var parts = text.Split('-', StringSplitOptions.TrimEntries);
        if (parts.Length > 2) throw new RunInputException(option, $"'{text}' is not an interval; write e.g. 60s-120s, or 90s for a fixed one.");
        var min = Quantities.Seconds(parts[0], option);
        var max = parts.Length == 2 ? Quantities.Seconds(parts[1], option) : min;
        if (max < min) throw new RunInputException(option, $"'{text}': the longest interval is shorter than the shortest.");
        return (min, max);
    }
}
