using System.Globalization;

namespace GrowLength.Client.Chaos;

/// <summary>What a chaos run does to the cluster: a script of actions at given steps, or seeded random kills; either
/// may end the run gracefully after <see cref="DurationSeconds"/> of training.</summary>
internal sealed record ChaosPlan(IReadOnlyList<ScriptedAction> Script, RandomChaos? Random, double? DurationSeconds)
{
    /// <summary>A script (<see cref="ChaosScript"/>), with an optional time limit.</summary>
    public static ChaosPlan Scripted(string script, double? durationSeconds = null) => new(ChaosScript.Parse(script), null, durationSeconds);

    /// <summary>Seeded random kills for the plan's duration.</summary>
    public static ChaosPlan Randomly(RandomChaos random) => new([], random, random.DurationSeconds);

    /// <summary>The plan in words, for the report.</summary>
    public string Describe()
    {
        var limit = DurationSeconds is { } d ? string.Create(CultureInfo.InvariantCulture, $" for {d:0.#} s") : "";
        if (Random is { } r)
        {
            var restart = r.RestartAfterSeconds is { } after ? string.Create(CultureInfo.InvariantCulture, $", a replacement silo {after:0.#} s after each") : ", no replacements";
            return string.Create(CultureInfo.InvariantCulture, $"random kills every {r.MinIntervalSeconds:0.#}-{r.MaxIntervalSeconds:0.#} s{limit} (seed {r.Seed}){restart}");
        }
        return string.Join("; ", Script.Select(a => a.Text)) + limit;
    }
}
