using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using GrowLength.Training.Engine;

namespace GrowLength.Training.Telemetry;

/// <summary>The project's OpenTelemetry-compatible meter: per run and rank, what a training dashboard plots.</summary>
/// <remarks>
/// Built on System.Diagnostics.Metrics so the library needs no exporter; a host (the silo) adds the meter named
/// <see cref="MeterName"/> to its OpenTelemetry pipeline. Tags stay low-cardinality: run and rank on gauges (a
/// gauge per stage would leave the old stage's last value exported for ever), plus stage on counters and
/// histograms (so tokens/s and step time split by stage) — never the step. Recovery instruments (world size, losses,
/// recoveries, tokens retrained) are the coordinator's and carry the run only: a rank is not stable across epochs.
/// </remarks>
public sealed class TrainingMetrics : IDisposable
{
    /// <summary>The meter's name, for <c>AddMeter</c> in a host.</summary>
    public const string MeterName = "GrowLength";

    private readonly Meter meter;
    private readonly Counter<long> tokens;
    private readonly Counter<long> transitions;
    private readonly Gauge<double> loss;
    private readonly Gauge<double> validationLoss;
    private readonly Gauge<int> length;
    private readonly Gauge<int> stage;
    private readonly Gauge<double> tokensPerSecond;
    private readonly Gauge<double> mfu;
    private readonly Gauge<double> learningRate;
    private readonly Gauge<double> gradNorm;
    private readonly Histogram<double> stepSeconds;
    private readonly Histogram<double> exchangeSeconds;
    private readonly Histogram<double> dataWaitSeconds;
    private readonly Histogram<double> checkpointSeconds;
    private readonly Histogram<double> checkpointPauseSeconds;
    private readonly UpDownCounter<int> workersActive;
    private readonly Counter<long> recoveries;
    private readonly Counter<long> workersLost;
    private readonly Counter<long> tokensRetrained;
    // The coordinator's gauges, per run: observable, so ForgetRun can take a run off the export (a synchronous gauge's
    // last value would be exported by this silo for ever, even after the coordinator moved to another).
    private readonly ConcurrentDictionary<string, RunGauges> runs = new(StringComparer.Ordinal);

    public TrainingMetrics(IMeterFactory? factory = null)
    {
        meter = factory?.Create(MeterName) ?? new Meter(MeterName);
        // Dimensionless gauges carry no unit: Prometheus exporters turn units into name suffixes (e.g. "_ratio").
        tokens = meter.CreateCounter<long>("growlength.tokens", "{token}", "Tokens trained.");
        transitions = meter.CreateCounter<long>("growlength.stage.transitions", "{transition}", "Stage transitions (the sequence length grew).");
        loss = meter.CreateGauge<double>("growlength.loss", null, "Training loss of the last step (mean over the step's tokens).");
        validationLoss = meter.CreateGauge<double>("growlength.validation.loss", null, "Validation loss at schedule.maxLength of the last evaluation (eval.everySteps, and at the end).");
        length = meter.CreateGauge<int>("growlength.sequence.length", "{token}", "Sequence length of the last step.");
        stage = meter.CreateGauge<int>("growlength.stage", "{stage}", "Schedule stage of the last step.");
        tokensPerSecond = meter.CreateGauge<double>("growlength.tokens_per_second", null, "Training throughput of the last step.");
        mfu = meter.CreateGauge<double>("growlength.mfu", null, "Model FLOPs utilisation of the last step against the device's measured matmul rate.");
        learningRate = meter.CreateGauge<double>("growlength.learning_rate", null, "Learning rate of the last step.");
        gradNorm = meter.CreateGauge<double>("growlength.grad_norm", null, "Global gradient L2 norm before clipping.");
        stepSeconds = meter.CreateHistogram<double>("growlength.step.duration", "s", "Wall-clock time of an optimizer step.");
        exchangeSeconds = meter.CreateHistogram<double>("growlength.exchange.duration", "s", "Time a step spent exchanging gradients.");
        dataWaitSeconds = meter.CreateHistogram<double>("growlength.data_wait.duration", "s", "Time a step waited for its token rows.");
        checkpointSeconds = meter.CreateHistogram<double>("growlength.checkpoint.duration", "s",
            "Time to write, fsync and hash a checkpoint's files and commit its manifest (in the background, while training goes on).");
        checkpointPauseSeconds = meter.CreateHistogram<double>("growlength.checkpoint.pause", "s",
            "Time a checkpoint stopped the training thread: waiting for the previous checkpoint's write, then copying the state to host memory.");
        workersActive = meter.CreateUpDownCounter<int>("growlength.workers.active", "{worker}", "Worker training loops running.");
        recoveries = meter.CreateCounter<long>("growlength.recoveries", "{recovery}", "Losses of workers the run recovered from without an operator.");
        workersLost = meter.CreateCounter<long>("growlength.workers.lost", "{worker}", "Workers lost from a run's membership (silo dead, step past its deadline, failed exchange, loop ended).");
        tokensRetrained = meter.CreateCounter<long>("growlength.tokens.retrained", "{token}", "Tokens trained again because a recovery reloaded a checkpoint.");
        meter.CreateObservableGauge("growlength.world_size", ObserveWorldSize, "{worker}", "Workers in the run's current membership epoch.");
        meter.CreateObservableGauge("growlength.recovery.last_duration", ObserveLastRecovery, "s",
            "Seconds from the last loss's detection to the next completed step; 0 until the run's first recovery.");
    }

    /// <summary>Records one completed step of <paramref name="run"/> on <paramref name="rank"/>; <paramref name="flopsPerToken"/>
    /// and <paramref name="matmulFlopsPerSecond"/> give MFU (pass 0 for the rate when it is unknown).</summary>
    public void RecordStep(string run, int rank, StepMetrics m, double flopsPerToken, double matmulFlopsPerSecond)
    {
        var tags = Tags(run, rank, m.Stage);
        var worker = Tags(run, rank);
        tokens.Add(m.StepTokens, tags);
        loss.Record(m.Loss, worker);
        length.Record(m.Length, worker);
        stage.Record(m.Stage, worker);
        tokensPerSecond.Record(m.TokensPerSecond, worker);
        if (matmulFlopsPerSecond > 0) mfu.Record(flopsPerToken * m.TokensPerSecond / matmulFlopsPerSecond, worker);
        learningRate.Record(m.LearningRate, worker);
        gradNorm.Record(m.GradNorm, worker);
        stepSeconds.Record(m.StepSeconds, tags);
        exchangeSeconds.Record(m.ExchangeSeconds, tags);
        dataWaitSeconds.Record(m.DataWaitSeconds, tags);
    }

    /// <summary>Records a stage transition seen by <paramref name="rank"/>.</summary>
    public void RecordTransition(string run, int rank, StageTransition t)
    {
        transitions.Add(1, Tags(run, rank, t.Stage));
        length.Record(t.Length, Tags(run, rank));
        stage.Record(t.Stage, Tags(run, rank));
    }

    /// <summary>Records a validation loss measured by <paramref name="rank"/> (mean nats per token on the held-out windows).</summary>
    public void RecordEvaluation(string run, int rank, double loss) =>
        validationLoss.Record(loss, Tags(run, rank));

    /// <summary>Records a committed checkpoint's write time (files, fsync, hashes, manifest; off the training thread).</summary>
    public void RecordCheckpoint(string run, int rank, double seconds) =>
        checkpointSeconds.Record(seconds, Tags(run, rank));

    /// <summary>Records the pause a checkpoint left on the training thread (the wait for the previous write, and the copy to host memory).</summary>
    public void RecordCheckpointPause(string run, int rank, double seconds) =>
        checkpointPauseSeconds.Record(seconds, Tags(run, rank));

    /// <summary>A worker loop started (+1) or ended (−1).</summary>
    public void WorkerActive(string run, int rank, bool started) =>
        workersActive.Add(started ? 1 : -1, Tags(run, rank));

    /// <summary>The run's membership epoch has <paramref name="workers"/> workers (at a start, a loss, a rescale, a
    /// reload). The first call for a run also starts its recovery counters at 0, so a dashboard shows "no recoveries"
    /// rather than no data.</summary>
    public void RecordWorldSize(string run, int workers)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(workers);
        bool first = false;
        runs.AddOrUpdate(run, _ => { first = true; return new RunGauges(workers, 0); }, (_, g) => g with { WorldSize = workers });
        if (!first) return;
        var tags = Tags(run);
        recoveries.Add(0, tags);
        workersLost.Add(0, tags);
        tokensRetrained.Add(0, tags);
    }

    /// <summary><paramref name="count"/> workers left the run's membership unasked (one WorkerLost event's ranks).</summary>
    public void RecordWorkerLost(string run, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        workersLost.Add(count, Tags(run));
    }

    /// <summary>The first step after a loss completed, <paramref name="seconds"/> after the loss was detected (NaN when
    /// unknown: the recovery is counted and the last duration kept); <paramref name="tokensRetrained"/> were trained again
    /// (0 unless a checkpoint was reloaded).</summary>
    public void RecordRecovery(string run, double seconds, long tokensRetrained)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tokensRetrained);
        var tags = Tags(run);
        recoveries.Add(1, tags);
        this.tokensRetrained.Add(tokensRetrained, tags);
        if (double.IsFinite(seconds) && seconds >= 0)
            runs.AddOrUpdate(run, _ => new RunGauges(null, seconds), (_, g) => g with { LastRecoverySeconds = seconds });
    }

    /// <summary>Stops exporting the run's world size and last recovery duration from this process: its coordinator
    /// deactivated or moved, so another process (or none) speaks for the run now. Its counters stay, as counters must.</summary>
    public void ForgetRun(string run) => runs.TryRemove(run, out _);

    private IEnumerable<Measurement<int>> ObserveWorldSize()
    {
        foreach (var (run, gauges) in runs)
            if (gauges.WorldSize is int workers) yield return new Measurement<int>(workers, Tags(run));
    }

    private IEnumerable<Measurement<double>> ObserveLastRecovery()
    {
        foreach (var (run, gauges) in runs) yield return new Measurement<double>(gauges.LastRecoverySeconds, Tags(run));
    }

    private static TagList Tags(string run) => new() { { "run", run } };

    private static TagList Tags(string run, int rank) => new() { { "run", run }, { "rank", rank } };

    private static TagList Tags(string run, int rank, int stage) => new() { { "run", run }, { "rank", rank }, { "stage", stage } };

    public void Dispose() => meter.Dispose();

    /// <summary>A run's gauge values: its world size (null until the coordinator records one) and its last recovery's seconds.</summary>
    private sealed record RunGauges(int? WorldSize, double LastRecoverySeconds);
}
