using GrowLength.Grains;
using GrowLength.Training.Run;

namespace GrowLength.Client.Chaos;

/// <summary>Everything a chaos run needs, checked before anything starts.</summary>
/// <param name="Spec">the run to train, validated.</param>
/// <param name="RunId">its id in the chaos cluster.</param>
/// <param name="Silos">silo processes to start at first (one device slot each; the first is the primary unless
/// <paramref name="Postgres"/> keeps membership in a database).</param>
/// <param name="Start">the start request: target, bounds and step deadline.</param>
/// <param name="StallSeconds">how long the run may go without completing a step (a recovery that hangs) before chaos
/// gives up on it.</param>
/// <param name="Postgres">the database the silos keep membership and state in (null: development clustering).</param>
internal sealed record ChaosSettings(RunSpec Spec, string RunId, int Silos, StartRun Start, ChaosPlan Plan, ChaosFolders Folders, double StallSeconds,
    string? Postgres = null);
