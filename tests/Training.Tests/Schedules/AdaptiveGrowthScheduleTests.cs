using GrowLength.Training.Schedules;
using GrowLength.Training.Run;

namespace GrowLength.Training.Tests.Schedules;

public sealed class AdaptiveGrowthScheduleTests
{
    private static readonly BudgetConfig Million = new() { Tokens = 1_000_000 };

    private static readonly AdaptiveGrowthSchedule Schedule = new([128, 256, 512], patience: 3);

    [Theory]
    [InlineData(0, 0L, 0, false)]
    [InlineData(0, 2L, 0, false)]
    [InlineData(0, 3L, 1, true)]
    [InlineData(0, 4L, 1, true)]
    [InlineData(1, 0L, 1, false)]
    [InlineData(1, 2L, 1, false)]
    [InlineData(1, 3L, 2, true)]
    [InlineData(2, 3L, 2, false)]
    [InlineData(2, 1000L, 2, false)]
    public void MovesOneStageExactlyWhenPatienceIsReached(int stage, long sinceImprovement, int expected, bool changed)
    {
        var progress = TrainingProgress.Initial with { Stage = stage, StepsSinceImprovement = sinceImprovement, Tokens = 999_999 };
        var plan = Schedule.Plan(progress, Million);
        Assert.Equal(expected, plan.Stage);
        Assert.Equal(new[] { 128, 256, 512 }[expected], plan.Length);
        Assert.Equal(changed, plan.StageChanged);
    }

    [Theory]
    [InlineData(0, 249_999L, 0)]
    [InlineData(0, 250_000L, 1)]
    [InlineData(0, 500_000L, 2)]
    [InlineData(1, 499_999L, 1)]
    [InlineData(1, 500_000L, 2)]
    [InlineData(2, 0L, 2)]
    public void SharesAreADeadlinePerStage(int stage, long tokens, int expected)
    {
        var schedule = new AdaptiveGrowthSchedule([128, 256, 512], patience: 3, shares: [0.25, 0.25, 0.5]);
        var progress = TrainingProgress.Initial with { Stage = stage, Tokens = tokens };
        Assert.Equal(expected, schedule.Plan(progress, Million).Stage);
    }

    [Fact]
    public void FlatLossMovesAfterPatienceStepsAndTheLastStageSticks()
    {
        var changes = Simulate(_ => 5.0, steps: 20);

        // First step of a stage seeds the best; each later flat step counts one; after the 4th step
        // the counter is 3 = patience, so step 4 starts stage 1 and step 8 starts stage 2.
        Assert.Equal(new[] { 4L, 8L }, changes);
    }

    [Fact]
    public void ImprovingLossNeverMoves()
    {
        // 5% lower every step with a 1% margin: always progress.
        Assert.Empty(Simulate(step => 10 * Math.Pow(0.95, step), steps: 30));
    }

    [Fact]
    public void StallThenMoveCountsFromTheLastImprovement()
    {
        // Improves for 5 steps (0..4), then flat: the counter reaches 3 after step 7, so step 8 moves.
        var changes = Simulate(step => step < 5 ? 10 - step : 6, steps: 9);
        Assert.Equal(new[] { 8L }, changes);
    }

    private static List<long> Simulate(Func<long, double> loss, int steps)
    {
        var config = new ScheduleConfig { Kind = "adaptive", Lengths = [128, 256, 512], AdaptivePatience = 3, AdaptiveSmoothing = 0, AdaptiveMargin = 0.01 };
        var schedule = SequenceLengthScheduleFactory.Create(config);
        var progress = TrainingProgress.Initial;
        var changes = new List<long>();
        var lastStage = 0;
        for (var i = 0; i < steps; i++)
        {
            var plan = schedule.Plan(progress, Million);
            Assert.True(plan.Stage >= lastStage);
            Assert.True(plan.Stage <= lastStage + 1);
            if (plan.StageChanged)
            {
                changes.Add(progress.Step);
                progress = progress.EnterStage(plan.Stage);
            }

            lastStage = plan.Stage;
            progress = progress.AfterStep(1000, 0.1, loss(progress.Step), config.AdaptiveSmoothing, config.AdaptiveMargin);
        }

        return changes;
    }
}
