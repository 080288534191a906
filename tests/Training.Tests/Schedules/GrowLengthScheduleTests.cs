using GrowLength.Training.Schedules;
using GrowLength.Training.Run;

namespace GrowLength.Training.Tests.Schedules;

public sealed class GrowLengthScheduleTests
{
    private static readonly BudgetConfig Million = new() { Tokens = 1_000_000 };

    private static TrainingProgress At(long tokens) => TrainingProgress.Initial with { Tokens = tokens };

    [Theory]
    [InlineData(0L, 0, 128)]
    [InlineData(249_999L, 0, 128)]
    [InlineData(250_000L, 1, 256)]
    [InlineData(250_001L, 1, 256)]
    [InlineData(499_999L, 1, 256)]
    [InlineData(500_000L, 2, 512)]
    [InlineData(500_001L, 2, 512)]
    [InlineData(749_999L, 2, 512)]
    [InlineData(750_000L, 3, 1024)]
    [InlineData(750_001L, 3, 1024)]
    [InlineData(1_000_000L, 3, 1024)]
    [InlineData(5_000_000L, 3, 1024)]
    public void EqualSharesSwitchAtEachQuarter(long tokens, int stage, int length)
    {
        var plan = new GrowLengthSchedule([128, 256, 512, 1024]).Plan(At(tokens), Million);
        Assert.Equal((stage, length), (plan.Stage, plan.Length));
        Assert.Equal(stage != 0, plan.StageChanged);
    }

    [Theory]
    [InlineData(99_999L, 0, 128)]
    [InlineData(100_000L, 1, 512)]
    [InlineData(100_001L, 1, 512)]
    [InlineData(299_999L, 1, 512)]
    [InlineData(300_000L, 2, 2048)]
    [InlineData(300_001L, 2, 2048)]
    public void ExplicitSharesEndWhereTheDecimalsSay(long tokens, int stage, int length)
    {
        // 0.1 + 0.2 is 0.30000000000000004 in binary; the stage must still end at 300,000 tokens.
        var plan = new GrowLengthSchedule([128, 512, 2048], [0.1, 0.2, 0.7]).Plan(At(tokens), Million);
        Assert.Equal((stage, length), (plan.Stage, plan.Length));
    }

    [Theory]
    [InlineData(333_333L, 0)]
    [InlineData(333_334L, 1)]
    [InlineData(666_666L, 1)]
    [InlineData(666_667L, 2)]
    public void ThirdsSwitchAtTheFirstTokenPastTheShare(long tokens, int stage) =>
        Assert.Equal(stage, new GrowLengthSchedule([128, 256, 512]).Plan(At(tokens), Million).Stage);

    [Theory]
    [InlineData(0.0, 0, 128)]
    [InlineData(24.999, 0, 128)]
    [InlineData(25.0, 1, 256)]
    [InlineData(25.001, 1, 256)]
    [InlineData(74.999, 2, 512)]
    [InlineData(75.0, 3, 1024)]
    [InlineData(100.0, 3, 1024)]
    public void TimeBudgetUsesElapsedSeconds(double elapsed, int stage, int length)
    {
        // Tokens are far past any token boundary: only time may count.
        var progress = TrainingProgress.Initial with { Tokens = 10_000_000, ElapsedSeconds = elapsed };
        var plan = new GrowLengthSchedule([128, 256, 512, 1024]).Plan(progress, new BudgetConfig { Seconds = 100 });
        Assert.Equal((stage, length), (plan.Stage, plan.Length));
    }

    [Fact]
    public void NeverGoesBackwards()
    {
        var progress = TrainingProgress.Initial with { Stage = 2, Tokens = 0 };
        var plan = new GrowLengthSchedule([128, 256, 512, 1024]).Plan(progress, Million);
        Assert.Equal(new StagePlan(2, 512, false), plan);
    }

    [Fact]
    public void StageChangedIsRelativeToTheProgressStage()
    {
        var schedule = new GrowLengthSchedule([128, 256, 512, 1024]);
        Assert.True(schedule.Plan(At(500_000) with { Stage = 1 }, Million).StageChanged);
        Assert.False(schedule.Plan(At(500_000) with { Stage = 2 }, Million).StageChanged);
    }

    [Fact]
    public void ProgressPastTheLastStageIsRefused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new GrowLengthSchedule([128, 256]).Plan(At(0) with { Stage = 2 }, Million));
}
