using GrowLength.Training.Schedules;
using GrowLength.Training.Run;

namespace GrowLength.Training.Tests.Schedules;

public sealed class StepPlanTests
{
    private static readonly OptimizerConfig Optimizer = new() { PeakLearningRate = 1, MinLearningRateRatio = 0.1, WarmupTokens = 131_072 };

    [Fact]
    public void FirstStepOfTheDefaultSchedule()
    {
        var schedule = new ScheduleConfig();
        var plan = StepPlan.For(TrainingProgress.Initial, new BudgetConfig { Tokens = 10_000_000 }, schedule, SequenceLengthScheduleFactory.Create(schedule), new LearningRateSchedule(Optimizer));

        // The LR is read after this step's 65,536 tokens: half-way through a 131,072-token warm-up, not 0. Micro-batches
        // hold at most microBatchTokens / 128 rows (the default 16,384 tokens: 128 rows).
        Assert.Equal(new StepPlan(0, 0, 128, 512, 0, 65536, 0.5, false, 128), plan);
    }

    [Fact]
    public void UnevenLengthCarriesFewerTokensAndTheOffsetFollows()
    {
        var schedule = new ScheduleConfig { Kind = "fixed", MaxLength = 1000 };
        var progress = TrainingProgress.Initial.AfterStep(65000, 1, 5, 0.9, 0.01);
        var plan = StepPlan.For(progress, new BudgetConfig { Tokens = 10_000_000 }, schedule, SequenceLengthScheduleFactory.Create(schedule), new LearningRateSchedule(Optimizer));
        Assert.Equal((1L, 1000, 65, 65000L, 65000L), (plan.Step, plan.Length, plan.Rows, plan.StreamOffset, plan.Tokens));
    }

    [Fact]
    public void AWholeRunIsContiguousAndGrowsThroughEveryStage()
    {
        var schedule = new ScheduleConfig { MinLength = 128, MaxLength = 1024, GlobalBatchTokens = 4096, MicroBatchTokens = 2048 };
        var budget = new BudgetConfig { Tokens = 1_000_000 };
        var lengths = SequenceLengthScheduleFactory.Create(schedule);
        var lr = new LearningRateSchedule(Optimizer);
        var progress = TrainingProgress.Initial;
        var changes = new List<(long Offset, int Length)>();
        var lastLength = 0;
        while (!BudgetFraction.IsComplete(progress, budget))
        {
            var plan = StepPlan.For(progress, budget, schedule, lengths, lr);
            Assert.Equal(progress.Tokens, plan.StreamOffset);
            Assert.True(plan.Length >= lastLength);
            if (plan.StageChanged)
            {
                changes.Add((plan.StreamOffset, plan.Length));
                progress = progress.EnterStage(plan.Stage);
            }

            lastLength = plan.Length;
            progress = progress.AfterStep(plan.Tokens, 0.01, 4.0, schedule.AdaptiveSmoothing, schedule.AdaptiveMargin);
        }

        // Steps carry 4,096 tokens, which do not divide 250,000: each stage starts at the first
        // step boundary at or past its share, and the last step overshoots the budget by less than a step.
        Assert.Equal(new[] { (253_952L, 256), (503_808L, 512), (753_664L, 1024) }, changes);
        Assert.Equal(1_003_520L, progress.Tokens);
    }
}
