using GrowLength.Training.Run;

namespace GrowLength.Training.Schedules;

/// <summary>Linear warm-up in tokens, then cosine decay to a floor over the rest of the budget.</summary>
/// <remarks>
/// Warm-up is counted in tokens, not steps, as DeepSpeed's curriculum-learning guide asks: with a
/// growing length a step-counted schedule would shift with the length schedule.
/// The rate is warm(tokens) * cosine(p), where warm = min(1, tokens / warmupTokens) and the cosine
/// goes from peak (p = 0) to peak * minRatio (p = 1). For a token budget p is the fraction of the
/// tokens after warm-up ((tokens - warmup) / (budget - warmup)), so the cosine covers exactly the rest
/// of the budget. For a time budget the warm-up is still in tokens, and p is the time fraction itself:
/// where warm-up ends in time is not known in advance, and a pure function of progress cannot store it.
/// The product keeps the rate continuous there; warm-up is short, so the cosine has barely moved.
/// </remarks>
public sealed class LearningRateSchedule
{
    private readonly OptimizerConfig config;

    /// <summary>The schedule for <paramref name="optimizer"/> (validated).</summary>
    public LearningRateSchedule(OptimizerConfig optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        config = optimizer;
    }

    /// <summary>The learning rate after <paramref name="progress"/>.</summary>
    public double At(TrainingProgress progress, BudgetConfig budget)
    {
        ArgumentNullException.ThrowIfNull(progress);
        return At(progress.Tokens, progress.ElapsedSeconds, budget);
    }

    /// <summary>The learning rate after <paramref name="tokens"/> tokens and <paramref name="elapsedSeconds"/> seconds of training.</summary>
    public double At(long tokens, double elapsedSeconds, BudgetConfig budget)
    {
        ArgumentNullException.ThrowIfNull(budget);
        var warm = config.WarmupTokens <= 0 ? 1.0 : Math.Min(1.0, Math.Max(0, tokens) / (double)config.WarmupTokens);
        double p;
        if (budget.IsTokens)
        {
            var decayTokens = budget.Tokens - config.WarmupTokens;
            p = decayTokens <= 0 ? 1.0 : Math.Clamp((tokens - config.WarmupTokens) / (double)decayTokens, 0, 1);
        }
        else
        {
            p = BudgetFraction.Of(tokens, elapsedSeconds, budget);
        }

        var peak = config.PeakLearningRate;
        var floor = peak * config.MinLearningRateRatio;
        var cosine = floor + ((peak - floor) * 0.5 * (1 + Math.Cos(Math.PI * p)));
        return warm * cosine;
    }
}
