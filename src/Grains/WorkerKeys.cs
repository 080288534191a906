using System.Globalization;

namespace GrowLength.Grains;

/// <summary>Keys of the per-rank grains: "run id/rank".</summary>
public static class WorkerKeys
{
    public static string For(string runId, int rank) => $"{runId}/{rank.ToString(CultureInfo.InvariantCulture)}";

    public static int RankOf(string key)
    {
        var slash = key.LastIndexOf('/');
        if (slash < 0 || !int.TryParse(key.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var rank))
            throw new ArgumentException($"'{key}' is not a worker key of the form run/rank", nameof(key));
        return rank;
    }

    public static string RunOf(string key) => key[..key.LastIndexOf('/')];
}
