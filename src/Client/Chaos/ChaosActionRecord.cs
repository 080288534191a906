namespace GrowLength.Client.Chaos;

/// <summary>One chaos action as it was carried out, with what the run did after it.</summary>
/// <param name="Number">1, 2, 3, … in the order the actions happened.</param>
/// <param name="Description">the script item, or what the random plan did ("random kill 2", "restart after kill 2").</param>
/// <param name="Silo">the silo acted on (0: the primary), in the order silos were started.</param>
/// <param name="Port">that silo's silo-to-silo port.</param>
/// <param name="Ranks">the ranks of the workers that silo hosted at the moment.</param>
/// <param name="TimeUtc">when the signal was sent (or the silo started).</param>
/// <param name="AtSeconds">seconds after the chaos run began.</param>
/// <param name="Step">the run's completed steps at that moment.</param>
/// <param name="SecondsToNextStep">from the action to the first status showing more completed steps (200 ms polls).</param>
/// <param name="DetectionSeconds">from the action to the run's WorkerLost event (kill, leave).</param>
/// <param name="RecoverySeconds">the Recovered event's own figure: from detection to the next completed step.</param>
/// <param name="TokensRetrained">the Recovered event's tokens trained again (0 while a worker with the state survived).</param>
/// <param name="WorldBefore">workers before (the WorkerLost event, or the Rescaled one for a join).</param>
/// <param name="WorldAfter">workers after.</param>
/// <param name="Skipped">why the action was not carried out, or null.</param>
internal sealed record ChaosActionRecord(
    int Number, ChaosActionKind Kind, string Description, int? Silo, int? Port, int? Pid, IReadOnlyList<int> Ranks,
    DateTime TimeUtc, double AtSeconds, long Step,
    double? SecondsToNextStep = null, double? DetectionSeconds = null, double? RecoverySeconds = null, long? TokensRetrained = null,
    int? WorldBefore = null, int? WorldAfter = null, string? Skipped = null)
{
    /// <summary>Carried out (not skipped).</summary>
    public bool Done => Skipped is null;
}
