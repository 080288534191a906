namespace GrowLength.Training.Compare;

/// <summary>One schedule over its repeats.</summary>
/// <param name="FinalLoss">the final validation loss at the curve length.</param>
/// <param name="FinalPerplexity">exp of <see cref="FinalLoss"/> (its interval and range mapped through exp).</param>
/// <param name="SecondsToTarget">training seconds to the same repeat's baseline final loss, over the repeats that reached it.</param>
/// <param name="SpeedUp">the "first reached" speed-up over the repeats that reached the target, paired by repeat
/// (geometric mean, interval on the log-ratios).</param>
/// <param name="Reached">repeats whose validation loss reached the baseline's final loss.</param>
/// <param name="SustainedSpeedUp">the same speed-up over only the repeats that stayed at or below the target afterwards.</param>
/// <param name="Sustained">repeats that reached the target and stayed at or below it.</param>
/// <param name="FinalByLength">the final model's validation loss per evaluation length, in <see cref="CompareAnalysis.SummaryMode"/>.</param>
public sealed record ScheduleSummary(string Schedule, int Repeats, Spread Tokens, Spread Seconds, Spread FinalLoss,
    Spread FinalPerplexity, Spread SecondsToTarget, Spread SpeedUp, int Reached, Spread SustainedSpeedUp, int Sustained,
    IReadOnlyList<LengthLoss> FinalByLength);

/// <summary>The final validation loss at one evaluation length over a schedule's repeats.</summary>
public sealed record LengthLoss(int Length, Spread Loss);
