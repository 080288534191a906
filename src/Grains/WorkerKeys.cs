using System.Globalization;

namespace GrowLength.Grains;

/// <summary>Keys of the per-worker grains: "run id/worker id". A worker keeps its id across membership epochs (its rank
/// may change); a run's first workers get ids 0, 1, … in rank order, later ones the next unused ids.</summary>
public static class WorkerKeys
{
    public static string For(string runId, long worker) => $"{runId}/{worker.ToString(CultureInfo.InvariantCulture)}";

    public static long WorkerOf(string key)
    {
        var slash = key.LastIndexOf('/');
        if (slash < 0 || !long.TryParse(key.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var worker))
            throw new ArgumentException($"'{key}' is not a worker key of the form run/worker", nameof(key));
        return worker;
    }

    public static string RunOf(string key) => key[..key.LastIndexOf('/')];
}
