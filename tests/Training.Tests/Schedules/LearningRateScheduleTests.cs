using GrowLength.Training.Schedules;
using GrowLength.Training.Run;

namespace GrowLength.Training.Tests.Schedules;

public sealed class LearningRateScheduleTests
{
    // Peak 1 and floor 0.1 keep the expected values readable; warm-up 100k tokens, then 1M of cosine.
    private static readonly LearningRateSchedule Schedule = new(new OptimizerConfig { PeakLearningRate = 1, MinLearningRateRatio = 0.1, WarmupTokens = 100_000 });

    [Theory]
    [InlineData(0L, 0.0)]
    [InlineData(25_000L, 0.25)]
    [InlineData(50_000L, 0.5)]
    [InlineData(99_999L, 0.99999)]
    [InlineData(100_000L, 1.0)]
    [InlineData(350_000L, 0.868198051533946)]
    [InlineData(600_000L, 0.55)]
    [InlineData(1_100_000L, 0.1)]
    [InlineData(2_000_000L, 0.1)]
    public void TokenBudget(long tokens, double expected) =>
        Assert.Equal(expected, Schedule.At(TrainingProgress.Initial with { Tokens = tokens }, new BudgetConfig { Tokens = 1_100_000 }), 9);

    [Theory]
    [InlineData(0L, 0.0, 0.0)]
    [InlineData(50_000L, 0.0, 0.5)]
    [InlineData(50_000L, 50.0, 0.275)]
    [InlineData(200_000L, 0.0, 1.0)]
    [InlineData(200_000L, 50.0, 0.55)]
    [InlineData(200_000L, 100.0, 0.1)]
    [InlineData(200_000L, 150.0, 0.1)]
    public void TimeBudgetWarmsUpInTokensAndDecaysInTime(long tokens, double elapsed, double expected) =>
        Assert.Equal(expected, Schedule.At(TrainingProgress.Initial with { Tokens = tokens, ElapsedSeconds = elapsed }, new BudgetConfig { Seconds = 100 }), 9);

    [Fact]
    public void NoWarmupStartsAtPeak() =>
        Assert.Equal(3e-3, new LearningRateSchedule(new OptimizerConfig { WarmupTokens = 0 }).At(TrainingProgress.Initial, new BudgetConfig { Tokens = 1000 }), 12);

    [Fact]
    public void DecaysMonotonicallyAfterWarmup()
    {
        var budget = new BudgetConfig { Tokens = 1_100_000 };
        var previous = double.PositiveInfinity;
        for (long t = 100_000; t <= 1_100_000; t += 50_000)
        {
            var lr = Schedule.At(TrainingProgress.Initial with { Tokens = t }, budget);
            Assert.True(lr < previous);
            previous = lr;
        }
    }
}
