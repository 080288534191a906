using GrowLength.Training.Engine;
using GrowLength.Training.Evaluation;
using GrowLength.Training.Run;
using GrowLength.Training.Tests.Engine;
using Microsoft.Extensions.Logging.Abstractions;

namespace GrowLength.Training.Tests.Evaluation;

/// <summary>A real tiny run of the bare Trainer with eval.atTransitions: the points are in its curve, marked, with their
/// standard errors, and training is what it is without them.</summary>
public sealed class TransitionPointRunTests
{
    private sealed class Losses : ITrainingObserver
    {
        public List<(long Step, double Loss)> Steps { get; } = [];
        public int Evaluations { get; private set; }
        public void OnStageStarted(StageTransition transition) { }
        public void OnStep(StepMetrics metrics) => Steps.Add((metrics.Step, metrics.Loss));
        public void OnCheckpoint(long step, string folder, double seconds) { }
        public void OnEvaluation(long step, long tokens, double elapsedSeconds, IReadOnlyList<EvalResult> results) => Evaluations++;
    }

    [Fact]
    public void ATinyRunHasThePointsAroundEachLengthChangeInItsCurve()
    {
        using var tiny = new TinyRun();
        var spec = tiny.Spec with { Eval = tiny.Spec.Eval with { EverySteps = 4, AtTransitions = true } };
        using var run = tiny.Open(spec);
        var observed = new Losses();
        using var trainer = new Trainer(run, null, observed, NullLogger.Instance);
        Assert.Equal(TrainingOutcome.Completed, trainer.Train(CancellationToken.None));

        // Tiny: 24 steps, lengths 16 → 32 → 64 from steps 8 and 16; every 4 steps besides.
        var curve = trainer.Curve;
        Assert.Equal([0L, 4, 8, 9, 10, 12, 16, 17, 18, 20, 24], curve.Select(p => p.Steps));
        Assert.Equal([-1, -1, 0, 1, 2, -1, 0, 1, 2, -1, -1], curve.Select(p => p.TransitionOffset));
        Assert.Equal(curve.Count, observed.Evaluations);
        Assert.All(curve, p => Assert.Equal((64, 4), (p.Result.Length, p.Result.Windows)));
        Assert.All(curve, p => Assert.True(double.IsFinite(p.Result.StandardError) && p.Result.StandardError > 0, $"step {p.Steps}: se {p.Result.StandardError}"));
        Assert.All(curve, p => Assert.Equal(512 * p.Steps, p.Tokens));

        // The extra points measure the model without touching it: the steps are those of a run that does not evaluate.
        using var plain = tiny.Open();
        var reference = new Losses();
        using var straight = new Trainer(plain, null, reference, NullLogger.Instance);
        straight.Train(CancellationToken.None);
        Assert.Equal(reference.Steps, observed.Steps);
        Assert.Empty(straight.Curve);
    }

    [Theory]
    [InlineData("--eval.maxTransitions=0", "eval.maxTransitions")]
    [InlineData("--eval.atTransitions=sometimes", "eval.atTransitions")]
    [InlineData("--eval.maxWindows=0", "eval.maxWindows")]
    public void BadEvalSettingsAreNamed(string setting, string subject)
    {
        var e = Assert.Throws<RunInputException>(() => RunSpecJson.ApplyOverrides(RunSpecPresets.Compare(), [setting]).Validated());
        Assert.Equal(subject, e.Subject);
    }
}
