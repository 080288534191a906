using GrowLength.Training.Compare;
using GrowLength.Training.Run;
using GrowLength.Training.Schedules;

namespace GrowLength.Training.Tests.Compare;

public sealed class CompareArmTests
{
    private static readonly RunSpec Base = RunSpecPresets.Demo();

    [Fact]
    public void ArmsDifferOnlyInTheScheduleAndAreScoredAtTheLongestLength()
    {
        var arms = CompareArm.CreateAll(["growlength", "fixed-min", "fixed-max", "linear", "fixed-512"], Base, "--schedules");
        Assert.Equal(["growlength", "fixed-min", "fixed-max", "linear", "fixed-512"], arms.Select(a => a.Name));
        Assert.Equal((ScheduleKinds.Fixed, 128, 128), (arms[1].Spec.Schedule.Kind, arms[1].Spec.Schedule.MinLength, arms[1].Spec.Schedule.MaxLength));
        Assert.Equal((ScheduleKinds.Fixed, 2048), (arms[2].Spec.Schedule.Kind, arms[2].Spec.Schedule.MaxLength));
        Assert.Equal(512, arms[4].Spec.Schedule.MaxLength);
        foreach (var arm in arms)
        {
            Assert.Equal(2048, arm.Spec.CurveLength);
            Assert.Equal(Base.EvalLengths, arm.Spec.EvalLengths);
            Assert.Equal(Base.Model, arm.Spec.Model);
            Assert.Equal(Base.Optimizer, arm.Spec.Optimizer);
            Assert.Equal(Base.Seed, arm.Spec.Seed);
            Assert.Equal(Base.Seed, arm.Spec.Data.SplitSeed); // repeats change the seed, never the held-out documents
            Assert.Equal(Base.Schedule.GlobalBatchTokens, arm.Spec.Schedule.GlobalBatchTokens);
        }
    }

    [Fact]
    public void TwoPhaseIsBertsRecipeAsATwoStageGrowLengthSchedule()
    {
        var arm = CompareArm.Create("two-phase", Base, "--schedules");
        Assert.Equal("two-phase", arm.Name);
        Assert.Equal(ScheduleKinds.GrowLength, arm.Spec.Schedule.Kind);
        Assert.Equal([128, 2048], arm.Spec.Schedule.Lengths!);
        Assert.Equal([0.9, 0.1], arm.Spec.Schedule.Shares!);
        Assert.Equal(2048, arm.Spec.CurveLength);
        // A user's own stage list belongs to the growlength arm; two-phase is always min then max.
        var staged = Base with { Schedule = Base.Schedule with { Lengths = [128, 512, 2048], Shares = [0.2, 0.3, 0.5] } };
        Assert.Equal([128, 2048], CompareArm.Create("two-phase", staged, "--schedules").Spec.Schedule.Lengths!);
        Assert.Equal([128, 512, 2048], CompareArm.Create("growlength", staged, "--schedules").Spec.Schedule.Lengths!);
    }

    [Fact]
    public void TwoPhaseWithOneLengthNamesTheSetting()
    {
        var one = Base with { Schedule = Base.Schedule with { MinLength = 2048 } };
        var e = Assert.Throws<RunInputException>(() => CompareArm.Create("two-phase", one, "--schedules"));
        Assert.Equal("schedule.minLength", e.Subject);
        Assert.Contains("two-phase", e.Problem);
    }

    [Fact]
    public void TheDefaultArmsAreTheKnownBaselinesAndEachPresetAcceptsThem()
    {
        Assert.Equal(["growlength", "fixed-min", "fixed-max", "linear", "two-phase", "adaptive"], CompareArm.DefaultNames);
        foreach (var preset in new[] { RunSpecPresets.Compare(), RunSpecPresets.Demo(), RunSpecPresets.Tiny() })
            Assert.Equal(CompareArm.DefaultNames, CompareArm.CreateAll(CompareArm.DefaultNames, preset, "--schedules").Select(a => a.Name));
        foreach (var name in CompareArm.DefaultNames) Assert.Contains(name, CompareArm.KnownNames);
    }

    [Theory]
    [InlineData("bogus")]
    [InlineData("fixed-")]
    [InlineData("fixed-0")]
    [InlineData("growlength,growlength")]
    [InlineData(" , ")]
    public void BadScheduleListsNameTheOption(string list)
    {
        var e = Assert.Throws<RunInputException>(() => CompareArm.CreateAll(list.Split(','), Base, "--schedules"));
        Assert.Equal("--schedules", e.Subject);
    }

    [Fact]
    public void AFixedLengthAboveTheModelsMaximumIsRejectedWithItsSetting()
    {
        var e = Assert.Throws<RunInputException>(() => CompareArm.Create("fixed-4096", Base, "--schedules"));
        Assert.Contains("schedule.", e.Subject);
        Assert.Contains("fixed-4096", e.Problem);
    }

    [Fact]
    public void TheComparePresetIsTheDemoWithTheStepsAndWarmupOfDocsResults()
    {
        var compare = RunSpecPresets.Compare();
        var demo = RunSpecPresets.Demo();
        // docs/results.md ran the demo preset with these three overrides; the preset is that spec with more validation
        // windows and points at the length changes (issue 13), which change what is measured, not what is trained.
        var documented = RunSpecJson.ApplyOverrides(demo, ["--schedule.globalBatchTokens=4096", "--schedule.microBatchTokens=4096", "--optimizer.warmupTokens=50000",
            $"--eval.maxWindows={RunSpecPresets.CompareWindows}", "--eval.atTransitions=true"]);
        Assert.Equal(RunSpecJson.ToJson(documented with { Name = "compare" }), RunSpecJson.ToJson(compare));
    }
}
