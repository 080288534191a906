using GrowLength.Training.Schedules;
using GrowLength.Training.Run;

namespace GrowLength.Training.Tests.Schedules;

public sealed class ScheduleConfigTests
{
    private static ScheduleConfig Case(string name) => name switch
    {
        "unknownKind" => new() { Kind = "cubic" },
        "minLengthZero" => new() { MinLength = 0 },
        "maxLengthZero" => new() { MinLength = 1, MaxLength = 0 },
        "minAboveMax" => new() { MinLength = 4096, MaxLength = 2048 },
        "lengthsEmpty" => new() { Lengths = [] },
        "lengthsNotIncreasing" => new() { Lengths = [128, 512, 256] },
        "lengthsRepeated" => new() { Lengths = [128, 128, 256] },
        "lengthsBelowMin" => new() { Lengths = [64, 256] },
        "lengthsAboveMax" => new() { Lengths = [128, 4096] },
        "sharesCount" => new() { Lengths = [128, 256, 512], Shares = [0.5, 0.5] },
        "sharesCountDefaultLengths" => new() { Shares = [0.5, 0.5] },
        "sharesZero" => new() { Lengths = [128, 256], Shares = [0.0, 1.0] },
        "sharesNegative" => new() { Lengths = [128, 256], Shares = [-0.5, 1.5] },
        "sharesSum" => new() { Lengths = [128, 256], Shares = [0.5, 0.4] },
        "lengthsOnLinear" => new() { Kind = "linear", Lengths = [128, 256] },
        "sharesOnFixed" => new() { Kind = "fixed", Shares = [1.0] },
        "warmupFractionZero" => new() { WarmupFraction = 0 },
        "warmupFractionAboveOne" => new() { WarmupFraction = 1.5 },
        "lengthMultipleZero" => new() { LengthMultiple = 0 },
        "adaptiveMarginNegative" => new() { AdaptiveMargin = -0.1 },
        "adaptiveMarginOne" => new() { AdaptiveMargin = 1 },
        "adaptivePatienceZero" => new() { AdaptivePatience = 0 },
        "adaptiveSmoothingOne" => new() { AdaptiveSmoothing = 1 },
        "adaptiveSmoothingNaN" => new() { AdaptiveSmoothing = double.NaN },
        "globalBatchBelowMax" => new() { GlobalBatchTokens = 2047 },
        "microBatchBelowMax" => new() { MicroBatchTokens = 1024 },
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [InlineData("unknownKind", "schedule.kind")]
    [InlineData("minLengthZero", "schedule.minLength")]
    [InlineData("maxLengthZero", "schedule.maxLength")]
    [InlineData("minAboveMax", "schedule.minLength")]
    [InlineData("lengthsEmpty", "schedule.lengths")]
    [InlineData("lengthsNotIncreasing", "schedule.lengths")]
    [InlineData("lengthsRepeated", "schedule.lengths")]
    [InlineData("lengthsBelowMin", "schedule.lengths")]
    [InlineData("lengthsAboveMax", "schedule.lengths")]
    [InlineData("sharesCount", "schedule.shares")]
    [InlineData("sharesCountDefaultLengths", "schedule.shares")]
    [InlineData("sharesZero", "schedule.shares")]
    [InlineData("sharesNegative", "schedule.shares")]
    [InlineData("sharesSum", "schedule.shares")]
    [InlineData("lengthsOnLinear", "schedule.lengths")]
    [InlineData("sharesOnFixed", "schedule.shares")]
    [InlineData("warmupFractionZero", "schedule.warmupFraction")]
    [InlineData("warmupFractionAboveOne", "schedule.warmupFraction")]
    [InlineData("lengthMultipleZero", "schedule.lengthMultiple")]
    [InlineData("adaptiveMarginNegative", "schedule.adaptiveMargin")]
    [InlineData("adaptiveMarginOne", "schedule.adaptiveMargin")]
    [InlineData("adaptivePatienceZero", "schedule.adaptivePatience")]
    [InlineData("adaptiveSmoothingOne", "schedule.adaptiveSmoothing")]
    [InlineData("adaptiveSmoothingNaN", "schedule.adaptiveSmoothing")]
    [InlineData("globalBatchBelowMax", "schedule.globalBatchTokens")]
    [InlineData("microBatchBelowMax", "schedule.microBatchTokens")]
    public void EachProblemNamesItsSetting(string name, string subject)
    {
        var errors = Case(name).Validate();
        Assert.NotEmpty(errors);
        Assert.All(errors, e => Assert.Equal(subject, e.Subject));
    }

    [Fact]
    public void DefaultsAreValid() => Assert.Empty(new ScheduleConfig().Validate());

    [Theory]
    [InlineData("growlength")]
    [InlineData("GrowLength")]
    [InlineData("fixed")]
    [InlineData("linear")]
    [InlineData("root")]
    [InlineData(" adaptive ")]
    public void KnownKindsAreValid(string kind) => Assert.Empty(new ScheduleConfig { Kind = kind }.Validate());

    [Fact]
    public void UnknownKindListsTheKnownOnes()
    {
        var error = Assert.Single(Case("unknownKind").Validate());
        Assert.Contains("growlength, fixed, linear, root, adaptive", error.Problem);
        Assert.Contains("cubic", error.Problem);
    }

    [Fact]
    public void MinAboveMaxSaysBothValues()
    {
        var error = Assert.Single(Case("minAboveMax").Validate());
        Assert.Equal("schedule.minLength: 4096 is above schedule.maxLength (2048)", error.Message);
    }

    [Fact]
    public void SharesWithinToleranceOfOneAreValid() =>
        Assert.Empty(new ScheduleConfig { Lengths = [128, 256, 512], Shares = [0.3333333, 0.3333333, 0.3333334] }.Validate());

    [Fact]
    public void SharesFitExplicitLengthsAndAdaptive() =>
        Assert.Empty(new ScheduleConfig { Kind = "adaptive", Lengths = [256, 1024], Shares = [0.2, 0.8] }.Validate());

    [Fact]
    public void PathPrefixesEverySubject()
    {
        var error = Assert.Single(Case("minAboveMax").Validate("run.schedule"));
        Assert.Equal("run.schedule.minLength", error.Subject);
        Assert.Contains("run.schedule.maxLength", error.Problem);
    }

    [Theory]
    [InlineData(128, 2048, new[] { 128, 256, 512, 1024, 2048 })]
    [InlineData(100, 1000, new[] { 100, 200, 400, 800, 1000 })]
    [InlineData(512, 512, new[] { 512 })]
    public void DefaultLengthsDoubleFromMinAndEndAtMax(int min, int max, int[] expected) =>
        Assert.Equal(expected, new ScheduleConfig { MinLength = min, MaxLength = max }.StageLengthsOrDefault());

    [Fact]
    public void ExplicitLengthsWin() =>
        Assert.Equal(new[] { 128, 1024 }, new ScheduleConfig { Lengths = [128, 1024] }.StageLengthsOrDefault());

    [Theory]
    [InlineData(4096, 2048, true)]
    [InlineData(2048, 2048, false)]
    [InlineData(1024, 2048, false)]
    public void MaxLengthMustFitTheModel(int scheduleMax, int modelMax, bool error)
    {
        var errors = new ScheduleConfig { MaxLength = scheduleMax, GlobalBatchTokens = 65536, MicroBatchTokens = 16384 }.ValidateAgainstModel(modelMax);
        if (error)
        {
            var e = Assert.Single(errors);
            Assert.Equal("schedule.maxLength", e.Subject);
            Assert.Equal($"schedule.maxLength: {scheduleMax} is above model.maxLength ({modelMax})", e.Message);
        }
        else
        {
            Assert.Empty(errors);
        }
    }
}
