using GrowLength.Training.Run;

namespace GrowLength.Training.Schedules;

/// <summary>The one reading of "how far through the budget" that the length and learning-rate schedules share.</summary>
/// <remarks>
/// Tokens over budget tokens, or elapsed over budget seconds, clamped to [0, 1]. Keeping this in one
/// place is what makes the length and learning-rate schedules agree on where the run is.
/// </remarks>
public static class BudgetFraction
{
    /// <summary>The fraction of <paramref name="budget"/> spent by <paramref name="progress"/>, in [0, 1].</summary>
    public static double Of(TrainingProgress progress, BudgetConfig budget) =>
        Of(progress.Tokens, progress.ElapsedSeconds, budget);

    /// <summary>The fraction of <paramref name="budget"/> spent after <paramref name="tokens"/> tokens and <paramref name="elapsedSeconds"/> seconds, in [0, 1].</summary>
    public static double Of(long tokens, double elapsedSeconds, BudgetConfig budget)
    {
        ArgumentNullException.ThrowIfNull(budget);
        var raw = budget.IsTokens
            ? (double)tokens / budget.Tokens
            : budget.Seconds > 0
                ? elapsedSeconds / budget.Seconds
                : throw new ArgumentException("The budget has neither tokens nor seconds; validate it first.", nameof(budget));
        return Math.Clamp(raw, 0, 1);
    }

    /// <summary>True when the budget is spent: tokens reached budget tokens, or elapsed reached budget seconds.</summary>
    /// <remarks>The last step may overshoot the budget by less than one step; the run stops after it.</remarks>
    public static bool IsComplete(TrainingProgress progress, BudgetConfig budget)
    {
        ArgumentNullException.ThrowIfNull(progress);
        ArgumentNullException.ThrowIfNull(budget);
        return budget.IsTokens
            ? progress.Tokens >= budget.Tokens
            : budget.Seconds > 0
                ? progress.ElapsedSeconds >= budget.Seconds
                : throw new ArgumentException("The budget has neither tokens nor seconds; validate it first.", nameof(budget));
    }
}
