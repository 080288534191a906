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
        var seen = new List<Seen>();
        using var listener = Listen(seen);

        using var metrics = new TrainingMetrics();
        var step = new StepMetrics(Step: 7, Stage: 2, Length: 512, Loss: 2.5, Tokens: 8 * 4096, StepTokens: 4096, StepSeconds: 0.5,
            TokensPerSecond: 8192, LearningRate: 1e-3, GradNorm: 0.7, ElapsedSeconds: 4, BudgetFraction: 0.5, DataWaitSeconds: 0.01, ExchangeSeconds: 0.02);
        metrics.RecordStep("run-a", 1, step, flopsPerToken: 1e6, matmulFlopsPerSecond: 1e10);
        metrics.RecordTransition("run-a", 1, new StageTransition(3, 1024, 8, 8 * 4096, 4));
        metrics.RecordEvaluation("run-a", 0, 3.25);
        metrics.RecordCheckpoint("run-a", 0, 0.75);
        metrics.RecordCheckpointPause("run-a", 0, 0.015);

        Assert.Contains(seen, s => s.Name == "growlength.tokens" && s.Value == 4096 && Equals(s.Tags["stage"], 2) && Equals(s.Tags["run"], "run-a"));
        Assert.Contains(seen, s => s.Name == "growlength.loss" && s.Value == 2.5 && !s.Tags.ContainsKey("stage"));
        Assert.Contains(seen, s => s.Name == "growlength.mfu" && Math.Abs(s.Value - 0.8192) < 1e-12);
        Assert.Contains(seen, s => s.Name == "growlength.sequence.length" && s.Value == 1024);
        Assert.Contains(seen, s => s.Name == "growlength.stage.transitions" && s.Value == 1 && Equals(s.Tags["stage"], 3));
        Assert.Contains(seen, s => s.Name == "growlength.exchange.duration" && s.Value == 0.02);
        Assert.Contains(seen, s => s.Name == "growlength.validation.loss" && s.Value == 3.25 && Equals(s.Tags["rank"], 0) && !s.Tags.ContainsKey("stage"));
        // The background write and the pause it left on the training thread are two figures.
        Assert.Contains(seen, s => s.Name == "growlength.checkpoint.duration" && s.Value == 0.75 && Equals(s.Tags["rank"], 0));
        Assert.Contains(seen, s => s.Name == "growlength.checkpoint.pause" && s.Value == 0.015 && Equals(s.Tags["rank"], 0));
        Assert.DoesNotContain(seen, s => s.Tags.ContainsKey("step"));
    }

    [Fact]
    public void AWorldSizeIsKeptPerRunAndStartsTheRunsRecoveryCountersAtZero()
    {
        var seen = new List<Seen>();
        using var listener = Listen(seen);
        using var metrics = new TrainingMetrics();

        metrics.RecordWorldSize("recovery-a", 3);
        metrics.RecordWorldSize("recovery-b", 1);
        metrics.RecordWorldSize("recovery-a", 2);
        // Counters exist from the run's first epoch, so increase() over them is 0, not "no data"; only once per run.
        foreach (var counter in new[] { "growlength.recoveries", "growlength.workers.lost", "growlength.tokens.retrained" })
        {
            var zeros = seen.Where(s => s.Name == counter && s.Run == "recovery-a").ToList();
            Assert.True(zeros.Count == 1 && zeros[0].Value == 0, $"{counter}: {zeros.Count} measurements");
        }

        seen.Clear();
        listener.RecordObservableInstruments();
        Assert.Equal(2, Single(seen, "growlength.world_size", "recovery-a").Value);
        Assert.Equal(1, Single(seen, "growlength.world_size", "recovery-b").Value);
        // 0 until the first recovery, which a dashboard maps to "none yet".
        Assert.Equal(0, Single(seen, "growlength.recovery.last_duration", "recovery-a").Value);
        Assert.All(seen.Where(s => s.Run is "recovery-a" or "recovery-b"), s => Assert.Equal(["run"], s.Tags.Keys));

        // Observed again, the gauges still hold the last values: nothing new was recorded.
        seen.Clear();
        listener.RecordObservableInstruments();
        Assert.Equal(2, Single(seen, "growlength.world_size", "recovery-a").Value);
    }

    [Fact]
    public void ALossAndARecoveryCountWorkersRecoveriesAndRetrainedTokensAndKeepTheLastDuration()
    {
        var seen = new List<Seen>();
        using var listener = Listen(seen);
        using var metrics = new TrainingMetrics();
        metrics.RecordWorldSize("recovery-c", 3);
        metrics.RecordWorldSize("recovery-d", 2);
        seen.Clear();

        metrics.RecordWorkerLost("recovery-c", 1);
        metrics.RecordWorldSize("recovery-c", 2);
        metrics.RecordRecovery("recovery-c", 4.5, tokensRetrained: 0);
        metrics.RecordWorkerLost("recovery-c", 2);
        metrics.RecordRecovery("recovery-c", 12.25, tokensRetrained: 8192);
        // A recovery whose duration is unknown is counted and leaves the last known duration.
        metrics.RecordRecovery("recovery-c", double.NaN, tokensRetrained: 0);

        Assert.Equal(3, seen.Where(s => s.Name == "growlength.workers.lost" && s.Run == "recovery-c").Sum(s => s.Value));
        Assert.Equal(3, seen.Where(s => s.Name == "growlength.recoveries" && s.Run == "recovery-c").Sum(s => s.Value));
        Assert.Equal(8192, seen.Where(s => s.Name == "growlength.tokens.retrained" && s.Run == "recovery-c").Sum(s => s.Value));
        Assert.DoesNotContain(seen, s => s.Run == "recovery-d" && s.Value != 0);

        seen.Clear();
        listener.RecordObservableInstruments();
        Assert.Equal(12.25, Single(seen, "growlength.recovery.last_duration", "recovery-c").Value);
        Assert.Equal(2, Single(seen, "growlength.world_size", "recovery-c").Value);
        Assert.Equal(0, Single(seen, "growlength.recovery.last_duration", "recovery-d").Value);
    }

    [Fact]
    public void AForgottenRunLeavesTheGaugesAndAMisuseIsRefused()
    {
        var seen = new List<Seen>();
        using var listener = Listen(seen);
        using var metrics = new TrainingMetrics();
        metrics.RecordWorldSize("recovery-e", 2);
        metrics.RecordRecovery("recovery-e", 3, 0);
        metrics.ForgetRun("recovery-e");

        seen.Clear();
        listener.RecordObservableInstruments();
        Assert.DoesNotContain(seen, s => s.Run == "recovery-e");

        Assert.Throws<ArgumentOutOfRangeException>(() => metrics.RecordWorkerLost("recovery-e", -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => metrics.RecordRecovery("recovery-e", 1, -5));
        Assert.Throws<ArgumentOutOfRangeException>(() => metrics.RecordWorldSize("recovery-e", -1));
    }

    private sealed record Seen(string Name, double Value, Dictionary<string, object?> Tags)
    {
        public string? Run => Tags.TryGetValue("run", out var run) ? run as string : null;
    }

    /// <summary>Every measurement of the project's meter, into <paramref name="seen"/>.</summary>
    private static MeterListener Listen(List<Seen> seen)
    {
        var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) => { if (instrument.Meter.Name == TrainingMetrics.MeterName) l.EnableMeasurementEvents(instrument); };
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) => seen.Add(new(i.Name, v, ToDictionary(tags))));
        listener.SetMeasurementEventCallback<int>((i, v, tags, _) => seen.Add(new(i.Name, v, ToDictionary(tags))));
        listener.SetMeasurementEventCallback<double>((i, v, tags, _) => seen.Add(new(i.Name, v, ToDictionary(tags))));
        listener.Start();
        return listener;
    }

    private static Seen Single(List<Seen> seen, string name, string run) => Assert.Single(seen, s => s.Name == name && s.Run == run);

    private static Dictionary<string, object?> ToDictionary(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var d = new Dictionary<string, object?>();
        foreach (var t in tags) d[t.Key] = t.Value;
        return d;
    }
}
