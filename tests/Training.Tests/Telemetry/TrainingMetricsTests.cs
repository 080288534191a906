using System.Diagnostics.Metrics;
using GrowLength.Training.Engine;
using GrowLength.Training.Telemetry;

namespace GrowLength.Training.Tests.Telemetry;

/// <summary>The meter publishes what the dashboard needs, with low-cardinality tags.</summary>
public sealed class TrainingMetricsTests
{
    [Fact]
    public void AStepPublishesTokensLossLengthAndTimesTaggedByRunRankAndStage()
    {
        var seen = new List<(string Name, double Value, Dictionary<string, object?> Tags)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) => { if (instrument.Meter.Name == TrainingMetrics.MeterName) l.EnableMeasurementEvents(instrument); };
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) => seen.Add((i.Name, v, ToDictionary(tags))));
        listener.SetMeasurementEventCallback<int>((i, v, tags, _) => seen.Add((i.Name, v, ToDictionary(tags))));
        listener.SetMeasurementEventCallback<double>((i, v, tags, _) => seen.Add((i.Name, v, ToDictionary(tags))));
        listener.Start();

        using var metrics = new TrainingMetrics();
        var step = new StepMetrics(Step: 7, Stage: 2, Length: 512, Loss: 2.5, Tokens: 8 * 4096, StepTokens: 4096, StepSeconds: 0.5,
            TokensPerSecond: 8192, LearningRate: 1e-3, GradNorm: 0.7, ElapsedSeconds: 4, BudgetFraction: 0.5, DataWaitSeconds: 0.01, ExchangeSeconds: 0.02);
        metrics.RecordStep("run-a", 1, step, flopsPerToken: 1e6, matmulFlopsPerSecond: 1e10);
        metrics.RecordTransition("run-a", 1, new StageTransition(3, 1024, 8, 8 * 4096, 4));
        metrics.RecordEvaluation("run-a", 0, 3.25);

        Assert.Contains(seen, s => s.Name == "growlength.tokens" && s.Value == 4096 && Equals(s.Tags["stage"], 2) && Equals(s.Tags["run"], "run-a"));
        Assert.Contains(seen, s => s.Name == "growlength.loss" && s.Value == 2.5 && !s.Tags.ContainsKey("stage"));
        Assert.Contains(seen, s => s.Name == "growlength.mfu" && Math.Abs(s.Value - 0.8192) < 1e-12);
        Assert.Contains(seen, s => s.Name == "growlength.sequence.length" && s.Value == 1024);
        Assert.Contains(seen, s => s.Name == "growlength.stage.transitions" && s.Value == 1 && Equals(s.Tags["stage"], 3));
        Assert.Contains(seen, s => s.Name == "growlength.exchange.duration" && s.Value == 0.02);
        Assert.Contains(seen, s => s.Name == "growlength.validation.loss" && s.Value == 3.25 && Equals(s.Tags["rank"], 0) && !s.Tags.ContainsKey("stage"));
        Assert.DoesNotContain(seen, s => s.Tags.ContainsKey("step"));
    }

    private static Dictionary<string, object?> ToDictionary(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var d = new Dictionary<string, object?>();
        foreach (var t in tags) d[t.Key] = t.Value;
        return d;
    }
}
