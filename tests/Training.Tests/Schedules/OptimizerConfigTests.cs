using GrowLength.Training.Schedules;
using GrowLength.Training.Run;

namespace GrowLength.Training.Tests.Schedules;

public sealed class OptimizerConfigTests
{
    private static OptimizerConfig Case(string name) => name switch
    {
        "peakZero" => new() { PeakLearningRate = 0 },
        "peakNaN" => new() { PeakLearningRate = double.NaN },
        "minRatioNegative" => new() { MinLearningRateRatio = -0.1 },
        "minRatioAboveOne" => new() { MinLearningRateRatio = 1.5 },
        "warmupNegative" => new() { WarmupTokens = -1 },
        "weightDecayNegative" => new() { WeightDecay = -0.1 },
        "beta1One" => new() { Beta1 = 1 },
        "beta2Negative" => new() { Beta2 = -0.5 },
        "epsilonZero" => new() { Epsilon = 0 },
        "gradClipNegative" => new() { GradClip = -1 },
        "gradClipInfinite" => new() { GradClip = double.PositiveInfinity },
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [InlineData("peakZero", "optimizer.peakLearningRate")]
    [InlineData("peakNaN", "optimizer.peakLearningRate")]
    [InlineData("minRatioNegative", "optimizer.minLearningRateRatio")]
    [InlineData("minRatioAboveOne", "optimizer.minLearningRateRatio")]
    [InlineData("warmupNegative", "optimizer.warmupTokens")]
    [InlineData("weightDecayNegative", "optimizer.weightDecay")]
    [InlineData("beta1One", "optimizer.beta1")]
    [InlineData("beta2Negative", "optimizer.beta2")]
    [InlineData("epsilonZero", "optimizer.epsilon")]
    [InlineData("gradClipNegative", "optimizer.gradClip")]
    [InlineData("gradClipInfinite", "optimizer.gradClip")]
    public void EachProblemNamesItsSetting(string name, string subject)
    {
        var error = Assert.Single(Case(name).Validate());
        Assert.Equal(subject, error.Subject);
    }

    [Fact]
    public void DefaultsAreValid() => Assert.Empty(new OptimizerConfig().Validate());

    [Fact]
    public void ZeroClipAndZeroWarmupAreValid() => Assert.Empty(new OptimizerConfig { GradClip = 0, WarmupTokens = 0 }.Validate());

    [Theory]
    [InlineData(1_000_000L, 1_000_000L, 0.0, true)]
    [InlineData(2_000_000L, 1_000_000L, 0.0, true)]
    [InlineData(1_000_000L, 1_000_001L, 0.0, false)]
    [InlineData(1_000_000L, 0L, 60.0, false)]
    public void WarmupMustEndBeforeATokenBudget(long warmup, long budgetTokens, double budgetSeconds, bool error)
    {
        var errors = new OptimizerConfig { WarmupTokens = warmup }.ValidateAgainstBudget(new BudgetConfig { Tokens = budgetTokens, Seconds = budgetSeconds });
        if (error)
        {
            Assert.Equal("optimizer.warmupTokens", Assert.Single(errors).Subject);
        }
        else
        {
            Assert.Empty(errors);
        }
    }
}
