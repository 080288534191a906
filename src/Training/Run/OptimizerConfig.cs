using System.Globalization;

namespace GrowLength.Training.Run;

/// <summary>The <c>optimizer</c> section: AdamW settings and the learning-rate schedule's shape.</summary>
public sealed record OptimizerConfig
{
    /// <summary>Learning rate at the end of warm-up, the top of the cosine.</summary>
    public double PeakLearningRate { get; init; } = 3e-3;

    /// <summary>Final learning rate as a fraction of the peak (the cosine ends at peak times this).</summary>
    public double MinLearningRateRatio { get; init; } = 0.1;

    /// <summary>Tokens over which the learning rate rises linearly from 0 to the peak; counted in tokens, not steps (DeepSpeed curriculum learning's advice, since steps change size with the length schedule).</summary>
    public long WarmupTokens { get; init; } = 1_000_000;

    /// <summary>AdamW decoupled weight decay.</summary>
    public double WeightDecay { get; init; } = 0.1;

    /// <summary>AdamW first-moment decay.</summary>
    public double Beta1 { get; init; } = 0.9;

    /// <summary>AdamW second-moment decay.</summary>
    public double Beta2 { get; init; } = 0.95;

    /// <summary>AdamW denominator epsilon.</summary>
    public double Epsilon { get; init; } = 1e-8;

    /// <summary>Global gradient-norm clip; 0 turns clipping off.</summary>
    public double GradClip { get; init; } = 1.0;

    /// <summary>All problems with this section, each naming its setting under <paramref name="path"/>.</summary>
    public IReadOnlyList<RunInputException> Validate(string path = "optimizer")
    {
        var errors = new List<RunInputException>();
        string P(string name) => ConfigErrors.Join(path, name);
        static string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);

        void Check(bool ok, string name, double value, string rule)
        {
            if (!ok || !double.IsFinite(value))
            {
                errors.Add(new RunInputException(P(name), $"{F(value)} {rule}"));
            }
        }

        Check(PeakLearningRate > 0, "peakLearningRate", PeakLearningRate, "is not above 0");
        Check(MinLearningRateRatio is >= 0 and <= 1, "minLearningRateRatio", MinLearningRateRatio, "is outside [0, 1]");
        if (WarmupTokens < 0)
        {
            errors.Add(new RunInputException(P("warmupTokens"), $"{WarmupTokens} is negative"));
        }

        Check(WeightDecay >= 0, "weightDecay", WeightDecay, "is negative");
        Check(Beta1 is >= 0 and < 1, "beta1", Beta1, "is outside [0, 1)");
        Check(Beta2 is >= 0 and < 1, "beta2", Beta2, "is outside [0, 1)");
        Check(Epsilon > 0, "epsilon", Epsilon, "is not above 0");
        Check(GradClip >= 0, "gradClip", GradClip, "is negative (0 turns clipping off)");
        return errors;
    }

    /// <summary>The problem, if any, with this warm-up under a token budget: warm-up must end before the budget does, or the cosine never runs.</summary>
    public IReadOnlyList<RunInputException> ValidateAgainstBudget(BudgetConfig budget, string path = "optimizer", string budgetPath = "budget")
    {
        ArgumentNullException.ThrowIfNull(budget);
        return budget.IsTokens && WarmupTokens >= budget.Tokens
            ? [new RunInputException(ConfigErrors.Join(path, "warmupTokens"), $"{WarmupTokens} is not below {ConfigErrors.Join(budgetPath, "tokens")} ({budget.Tokens})")]
            : [];
    }
}
