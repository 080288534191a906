using GrowLength.Training.Schedules;
using GrowLength.Training.Run;

namespace GrowLength.Training.Tests.Schedules;

public sealed class RootWarmupScheduleTests
{
    private static readonly BudgetConfig Million = new() { Tokens = 1_000_000 };

    // 128 -> 1024 over half the budget: length = 128 + 896 * sqrt(2 * fraction), down to a multiple of 64.
    private static readonly RootWarmupSchedule Schedule = new(128, 1024, 0.5, 64);

    [Theory]
    [InlineData(0L, 128)]
    [InlineData(2_551L, 128)]
    [InlineData(2_552L, 192)]
    [InlineData(124_999L, 512)]
    [InlineData(125_000L, 576)]
    [InlineData(125_001L, 576)]
    [InlineData(499_999L, 960)]
    [InlineData(500_000L, 1024)]
    [InlineData(500_001L, 1024)]
    [InlineData(1_000_000L, 1024)]
    public void LengthRisesWithTheSquareRoot(long tokens, int length)
    {
        var plan = Schedule.Plan(TrainingProgress.Initial with { Tokens = tokens }, Million);
        Assert.Equal(length, plan.Length);
        Assert.Equal((length - 128) / 64, plan.Stage);
    }

    [Theory]
    [InlineData(10_000L)]
    [InlineData(100_000L)]
    [InlineData(300_000L)]
    public void RootIsAheadOfLinearDuringWarmup(long tokens)
    {
        var progress = TrainingProgress.Initial with { Tokens = tokens };
        var linear = new LinearWarmupSchedule(128, 1024, 0.5, 64).Plan(progress, Million).Length;
        Assert.True(Schedule.Plan(progress, Million).Length > linear);
    }

    [Theory]
    [InlineData(0L, 100)]
    [InlineData(1_000_000L, 1000)]
    public void ClampsToMinAndMax(long tokens, int length) =>
        Assert.Equal(length, new RootWarmupSchedule(100, 1000, 1.0, 64).Plan(TrainingProgress.Initial with { Tokens = tokens }, Million).Length);
}
