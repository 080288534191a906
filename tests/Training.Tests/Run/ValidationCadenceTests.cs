using GrowLength.Training.Evaluation;
using GrowLength.Training.Run;

namespace GrowLength.Training.Tests.Run;

public sealed class ValidationCadenceTests
{
    [Fact]
    public void NothingIsDueWithoutACadence()
    {
        Assert.False(ValidationCadence.IsDue(new EvalConfig(), 0, 0, null));
        Assert.False(ValidationCadence.IsDue(new EvalConfig(), 10, 5, null, finished: true));
    }

    [Fact]
    public void ByStepsTheOriginEveryNthStepAndTheEnd()
    {
        var eval = new EvalConfig { EverySteps = 4 };
        Assert.True(ValidationCadence.IsDue(eval, 0, 0, null));
        Assert.False(ValidationCadence.IsDue(eval, 3, 3, (0, 0)));
        Assert.True(ValidationCadence.IsDue(eval, 4, 4, (0, 0)));
        Assert.False(ValidationCadence.IsDue(eval, 4, 4, (4, 4))); // already measured
        Assert.True(ValidationCadence.IsDue(eval, 6, 6, (4, 4), finished: true));
        Assert.False(ValidationCadence.IsDue(eval, 8, 8, (8, 8), finished: true));
    }

    [Fact]
    public void BySecondsOfTrainingSinceTheLastPoint()
    {
        var eval = new EvalConfig { EverySeconds = 10 };
        Assert.True(ValidationCadence.IsDue(eval, 0, 0, null));
        Assert.False(ValidationCadence.IsDue(eval, 3, 9.9, (0, 0)));
        Assert.True(ValidationCadence.IsDue(eval, 4, 10.0, (0, 0)));
        Assert.False(ValidationCadence.IsDue(eval, 5, 12, (4, 10.0)));
    }

    [Theory]
    [InlineData("--eval.everySeconds=-1", "eval.everySeconds")]
    [InlineData("--eval.curveLength=1", "eval.curveLength")]
    [InlineData("--eval.curveLength=4096", "eval.curveLength")]
    [InlineData("--budget.tokens=1000", "budget.tokens")]
    public void BadCurveSettingsAreNamed(string setting, string subject)
    {
        var e = Assert.Throws<RunInputException>(() => RunSpecJson.ApplyOverrides(RunSpecPresets.Demo(), [setting]).Validated());
        Assert.Equal(subject, e.Subject);
    }
}
