using GrowLength.Training.Schedules;
using GrowLength.Training.Run;

namespace GrowLength.Training.Tests.Schedules;

public sealed class BudgetFractionTests
{
    private static readonly BudgetConfig Tokens = new() { Tokens = 1_000_000 };
    private static readonly BudgetConfig Seconds = new() { Seconds = 200 };

    [Theory]
    [InlineData(0L, 0.0)]
    [InlineData(250_000L, 0.25)]
    [InlineData(999_999L, 0.999999)]
    [InlineData(1_000_000L, 1.0)]
    [InlineData(3_000_000L, 1.0)]
    public void TokenBudgetFractionIsTokensOverBudget(long tokens, double expected) =>
        Assert.Equal(expected, BudgetFraction.Of(TrainingProgress.Initial with { Tokens = tokens, ElapsedSeconds = 150 }, Tokens), 12);

    [Theory]
    [InlineData(0.0, 0.0)]
    [InlineData(50.0, 0.25)]
    [InlineData(200.0, 1.0)]
    [InlineData(500.0, 1.0)]
    public void TimeBudgetFractionIsElapsedOverBudget(double elapsed, double expected) =>
        Assert.Equal(expected, BudgetFraction.Of(TrainingProgress.Initial with { Tokens = 999_999_999, ElapsedSeconds = elapsed }, Seconds), 12);

    [Theory]
    [InlineData(999_999L, false)]
    [InlineData(1_000_000L, true)]
    [InlineData(1_000_001L, true)]
    public void TokenBudgetCompletesAtItsTokens(long tokens, bool complete) =>
        Assert.Equal(complete, BudgetFraction.IsComplete(TrainingProgress.Initial with { Tokens = tokens, ElapsedSeconds = 1e9 }, Tokens));

    [Theory]
    [InlineData(199.999, false)]
    [InlineData(200.0, true)]
    [InlineData(200.001, true)]
    public void TimeBudgetCompletesAtItsSeconds(double elapsed, bool complete) =>
        Assert.Equal(complete, BudgetFraction.IsComplete(TrainingProgress.Initial with { Tokens = long.MaxValue / 2, ElapsedSeconds = elapsed }, Seconds));

    [Fact]
    public void UnvalidatedEmptyBudgetIsRefused() =>
        Assert.Throws<ArgumentException>(() => BudgetFraction.Of(TrainingProgress.Initial, new BudgetConfig()));
}
