using GrowLength.Training.Schedules;
using GrowLength.Training.Run;

namespace GrowLength.Training.Tests.Schedules;

public sealed class SequenceLengthScheduleFactoryTests
{
    [Theory]
    [InlineData("growlength", typeof(GrowLengthSchedule))]
    [InlineData("fixed", typeof(FixedLengthSchedule))]
    [InlineData("linear", typeof(LinearWarmupSchedule))]
    [InlineData("Root", typeof(RootWarmupSchedule))]
    [InlineData("adaptive", typeof(AdaptiveGrowthSchedule))]
    public void KindPicksTheSchedule(string kind, Type type) =>
        Assert.IsType(type, SequenceLengthScheduleFactory.Create(new ScheduleConfig { Kind = kind }));

    [Fact]
    public void DefaultIsGrowLengthDoubling() =>
        Assert.Equal(new[] { 128, 256, 512, 1024, 2048 }, SequenceLengthScheduleFactory.Create(new ScheduleConfig()).StageLengths);

    [Fact]
    public void FixedRunsAtMaxLength() =>
        Assert.Equal(new[] { 2048 }, SequenceLengthScheduleFactory.Create(new ScheduleConfig { Kind = "fixed" }).StageLengths);

    [Fact]
    public void ExplicitSharesReachTheSchedule()
    {
        var schedule = SequenceLengthScheduleFactory.Create(new ScheduleConfig { Lengths = [128, 2048], Shares = [0.9, 0.1], MaxLength = 2048 });
        var budget = new BudgetConfig { Tokens = 1000 };
        Assert.Equal(128, schedule.Plan(TrainingProgress.Initial with { Tokens = 899 }, budget).Length);
        Assert.Equal(2048, schedule.Plan(TrainingProgress.Initial with { Tokens = 900 }, budget).Length);
    }

    [Fact]
    public void InvalidConfigThrowsItsFirstError()
    {
        var ex = Assert.Throws<RunInputException>(() => SequenceLengthScheduleFactory.Create(new ScheduleConfig { MinLength = 4096, MaxLength = 2048 }));
        Assert.Equal("schedule.minLength", ex.Subject);
    }
}
