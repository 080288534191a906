using GrowLength.Training.Data;
using GrowLength.Training.Engine;
using GrowLength.Training.Evaluation;
using GrowLength.Training.Model;
using GrowLength.Training.Run;
using GrowLength.Training.Tests.Engine;
using Microsoft.Extensions.Logging.Abstractions;

namespace GrowLength.Training.Tests.Evaluation;

/// <summary>The standard error of a validation loss: the spread of the windows' mean losses over √windows.</summary>
public sealed class StandardErrorTests
{
    [Fact]
    public void OfAKnownSetOfWindowLosses()
    {
        // Mean 2.5; squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5, over n − 1 = 3; over n = 4 again for the mean.
        Assert.Equal(Math.Sqrt(5.0 / 3 / 4), StandardError.OfMean([1.0, 2.0, 3.0, 4.0]), 12);
        Assert.Equal(0.1, StandardError.OfMean([2.0, 2.2]), 12);
        Assert.Equal(0.0, StandardError.OfMean([3.0, 3.0, 3.0]));
        Assert.True(double.IsNaN(StandardError.OfMean([2.0])), "one window says nothing about the spread");
        Assert.True(double.IsNaN(StandardError.OfMean([])));
        Assert.Equal(0.5, StandardError.OfDifference(0.3, 0.4), 12);
    }

    [Fact]
    public void AnEvaluationsStandardErrorIsThatOfItsWindowsMeasuredOneByOne()
    {
        using var tiny = new TinyRun();
        using var run = tiny.Open();
        using var trainer = new Trainer(run, null, NullTrainingObserver.Instance, NullLogger.Instance);
        trainer.Train(CancellationToken.None);
        var model = trainer.Engine.Model;

        var windows = new ValidationWindows(run.Corpus, 64, 4);
        Assert.Equal(4, windows.Count);
        // Two windows a pass, so the per-window losses come from rows of one batch.
        var all = Evaluator.Evaluate(model, windows, RopeScaling.Extrapolate, 64, batchTokens: 128);
        var (starts, tokens) = windows.ReadAll();
        var each = Enumerable.Range(0, windows.Count).Select(k =>
        {
            var one = ValidationWindows.FromTokens(64, [starts[k]], tokens[(k * 65)..((k + 1) * 65)]);
            return Evaluator.Evaluate(model, one, RopeScaling.Extrapolate, 64, batchTokens: 64).Loss;
        }).ToList();

        Assert.Equal(each.Average(), all.Loss, 5);
        Assert.Equal(StandardError.OfMean(each), all.StandardError, 5);
        Assert.True(all.StandardError > 1e-3, $"windows of different documents should differ in loss (se {all.StandardError})");
        Assert.Equal(4, all.Windows);
        Assert.True(double.IsNaN(Evaluator.Evaluate(model, ValidationWindows.FromTokens(64, [starts[0]], tokens[..65]), RopeScaling.Extrapolate, 64, 64).StandardError));
    }
}
