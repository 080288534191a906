namespace GrowLength.Client.Chaos;

/// <summary>One kill of a random plan: <see cref="AtSeconds"/> after the run's start, on the candidate at
/// <see cref="Pick"/> (in [0, 1)) of the non-primary silos hosting a worker, in the order they were started.</summary>
internal sealed record TimedKill(double AtSeconds, double Pick)
{
    /// <summary>The candidate <see cref="Pick"/> lands on among <paramref name="count"/>.</summary>
    public int Choose(int count) => Math.Min(count - 1, (int)(Pick * count));
}
