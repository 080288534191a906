using GrowLength.Training.Schedules;
using GrowLength.Training.Run;

namespace GrowLength.Training.Tests.Schedules;

public sealed class LinearWarmupScheduleTests
{
    private static readonly BudgetConfig Million = new() { Tokens = 1_000_000 };

    // 128 -> 1024 over half the budget: length = 128 + 1792 * fraction, down to a multiple of 64.
    private static readonly LinearWarmupSchedule Schedule = new(128, 1024, 0.5, 64);

    [Theory]
    [InlineData(0L, 128)]
    [InlineData(35_714L, 128)]
    [InlineData(35_715L, 192)]
    [InlineData(249_999L, 512)]
    [InlineData(250_000L, 576)]
    [InlineData(250_001L, 576)]
    [InlineData(499_999L, 960)]
    [InlineData(500_000L, 1024)]
    [InlineData(500_001L, 1024)]
    [InlineData(1_000_000L, 1024)]
    public void LengthRisesLinearlyInMultiples(long tokens, int length)
    {
        var plan = Schedule.Plan(TrainingProgress.Initial with { Tokens = tokens }, Million);
        Assert.Equal(length, plan.Length);
        Assert.Equal((length - 128) / 64, plan.Stage);
        Assert.Equal(0, plan.Length % 64);
    }

    [Fact]
    public void StagesAreTheDistinctLengths() =>
        Assert.Equal(Enumerable.Range(0, 15).Select(i => 128 + (64 * i)), Schedule.StageLengths);

    [Theory]
    [InlineData(0L, 100)]
    [InlineData(31_111L, 100)]
    [InlineData(31_112L, 128)]
    [InlineData(999_999L, 960)]
    [InlineData(1_000_000L, 1000)]
    public void ClampsToMinAndReachesAMaxThatIsNoMultiple(long tokens, int length)
    {
        // 100 -> 1000 over the whole budget: 100 + 900 * fraction, floor to 64, never below 100.
        var schedule = new LinearWarmupSchedule(100, 1000, 1.0, 64);
        Assert.Equal(length, schedule.Plan(TrainingProgress.Initial with { Tokens = tokens }, Million).Length);
        Assert.Equal(100, schedule.StageLengths[0]);
        Assert.Equal(128, schedule.StageLengths[1]);
        Assert.Equal(960, schedule.StageLengths[^2]);
        Assert.Equal(1000, schedule.StageLengths[^1]);
    }

    [Theory]
    [InlineData(49.999, 512)]
    [InlineData(50.0, 576)]
    [InlineData(100.0, 1024)]
    public void TimeBudget(double elapsed, int length) =>
        Assert.Equal(length, Schedule.Plan(TrainingProgress.Initial with { ElapsedSeconds = elapsed }, new BudgetConfig { Seconds = 200 }).Length);

    [Fact]
    public void NeverGoesBackwards()
    {
        var plan = Schedule.Plan(TrainingProgress.Initial with { Stage = 7 }, Million);
        Assert.Equal(new StagePlan(7, 576, false), plan);
    }

    [Fact]
    public void EqualMinAndMaxIsOneStage()
    {
        var schedule = new LinearWarmupSchedule(512, 512, 0.5, 64);
        Assert.Equal(new[] { 512 }, schedule.StageLengths);
        Assert.Equal(512, schedule.Plan(TrainingProgress.Initial with { Tokens = 100 }, Million).Length);
    }
}
