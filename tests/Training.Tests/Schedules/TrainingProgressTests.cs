using GrowLength.Training.Schedules;

namespace GrowLength.Training.Tests.Schedules;

public sealed class TrainingProgressTests
{
    [Fact]
    public void InitialHasNoLossYet()
    {
        Assert.Equal(0, TrainingProgress.Initial.Step);
        Assert.True(double.IsNaN(TrainingProgress.Initial.LossEma));
        Assert.True(double.IsNaN(TrainingProgress.Initial.BestLossEma));
    }

    [Fact]
    public void StepAddsTokensSecondsAndSeedsTheEma()
    {
        var p = TrainingProgress.Initial.AfterStep(65536, 0.5, 7.0, 0.9, 0.01);
        Assert.Equal((1L, 65536L, 0.5, 7.0, 7.0, 0L), (p.Step, p.Tokens, p.ElapsedSeconds, p.LossEma, p.BestLossEma, p.StepsSinceImprovement));
    }

    [Fact]
    public void EmaWeighsThePreviousValueBySmoothing()
    {
        var p = TrainingProgress.Initial.AfterStep(1, 1, 10.0, 0.9, 0).AfterStep(1, 1, 0.0, 0.9, 0);
        Assert.Equal(9.0, p.LossEma, 12);
        Assert.Equal(2.0, p.ElapsedSeconds);
    }

    [Theory]
    [InlineData(6.0, 6.0, 0L)]
    [InlineData(6.5, 8.0, 1L)]
    [InlineData(8.0, 8.0, 1L)]
    [InlineData(9.0, 8.0, 1L)]
    public void ImprovementNeedsTheRelativeMargin(double second, double best, long since)
    {
        // Margin 0.25 of best 8 is 2: 6 counts, 6.5 does not.
        var p = TrainingProgress.Initial.AfterStep(1, 1, 8.0, 0, 0.25).AfterStep(1, 1, second, 0, 0.25);
        Assert.Equal((best, since), (p.BestLossEma, p.StepsSinceImprovement));
    }

    [Fact]
    public void EnterStageMarksTheStartAndRestartsTheLossWatch()
    {
        var p = TrainingProgress.Initial.AfterStep(100, 2, 5, 0, 0).AfterStep(100, 2, 5, 0, 0).EnterStage(1);
        Assert.Equal((1, 2L, 200L, 4.0, 0L), (p.Stage, p.StageStartStep, p.StageStartTokens, p.StageStartSeconds, p.StepsSinceImprovement));
        Assert.True(double.IsNaN(p.LossEma));
        Assert.True(double.IsNaN(p.BestLossEma));
    }

    [Fact]
    public void EnterStageNeverGoesBack() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => (TrainingProgress.Initial with { Stage = 2 }).EnterStage(1));

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void NonFiniteLossIsRefused(double loss) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => TrainingProgress.Initial.AfterStep(1, 1, loss, 0.9, 0.01));

    [Fact]
    public void ProgressIsPlainDataWithValueEquality() =>
        Assert.Equal(TrainingProgress.Initial.AfterStep(3, 1, 2, 0.5, 0.1), TrainingProgress.Initial.AfterStep(3, 1, 2, 0.5, 0.1));
}
