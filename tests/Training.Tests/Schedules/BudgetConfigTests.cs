using GrowLength.Training.Schedules;
using GrowLength.Training.Run;

namespace GrowLength.Training.Tests.Schedules;

public sealed class BudgetConfigTests
{
    [Theory]
    [InlineData(1_000_000L, 0.0)]
    [InlineData(0L, 3600.0)]
    public void ExactlyOneBudgetIsValid(long tokens, double seconds) =>
        Assert.Empty(new BudgetConfig { Tokens = tokens, Seconds = seconds }.Validate());

    [Theory]
    [InlineData(0L, 0.0, "budget.tokens")]
    [InlineData(-5L, 0.0, "budget.tokens")]
    [InlineData(0L, -1.0, "budget.seconds")]
    [InlineData(0L, double.NaN, "budget.seconds")]
    [InlineData(0L, double.PositiveInfinity, "budget.seconds")]
    [InlineData(10L, 5.0, "budget.seconds")]
    public void BadBudgetNamesItsSetting(long tokens, double seconds, string subject)
    {
        var error = Assert.Single(new BudgetConfig { Tokens = tokens, Seconds = seconds }.Validate());
        Assert.Equal(subject, error.Subject);
    }

    [Fact]
    public void PathPrefixesTheSubject()
    {
        var error = Assert.Single(new BudgetConfig().Validate("run.budget"));
        Assert.Equal("run.budget.tokens", error.Subject);
    }

    [Fact]
    public void ThrowFirstThrowsTheFirstError()
    {
        var ex = Assert.Throws<RunInputException>(() => ConfigErrors.ThrowFirst(new BudgetConfig { Tokens = 10, Seconds = 5 }.Validate()));
        Assert.Equal("budget.seconds", ex.Subject);
        ConfigErrors.ThrowFirst(new BudgetConfig { Tokens = 10 }.Validate());
    }
}
