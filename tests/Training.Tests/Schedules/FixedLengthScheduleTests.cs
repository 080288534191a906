using GrowLength.Training.Schedules;
using GrowLength.Training.Run;

namespace GrowLength.Training.Tests.Schedules;

public sealed class FixedLengthScheduleTests
{
    [Theory]
    [InlineData(0L)]
    [InlineData(500_000L)]
    [InlineData(1_000_000L)]
    public void OneLengthForTheWholeRun(long tokens)
    {
        var schedule = new FixedLengthSchedule(2048);
        Assert.Equal(new[] { 2048 }, schedule.StageLengths);
        Assert.Equal(new StagePlan(0, 2048, false), schedule.Plan(TrainingProgress.Initial with { Tokens = tokens }, new BudgetConfig { Tokens = 1_000_000 }));
    }

    [Fact]
    public void LengthBelowOneIsRefused() => Assert.Throws<ArgumentOutOfRangeException>(() => new FixedLengthSchedule(0));
}
