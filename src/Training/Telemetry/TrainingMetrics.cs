using System.Diagnostics;
using System.Diagnostics.Metrics;
using GrowLength.Training.Engine;

namespace GrowLength.Training.Telemetry;

/// <summary>The project's OpenTelemetry-compatible meter: per run and rank, what a training dashboard plots.</summary>
/// <remarks>
/// Built on System.Diagnostics.Metrics so the library needs no exporter; a host (the silo) adds the meter named
/// <see cref="MeterName"/> to its OpenTelemetry pipeline. Tags stay low-cardinality: run and rank on gauges (a
/// gauge per stage would leave the old stage's last value exported for ever), plus stage on counters and
/// histograms (so tokens/s and step time split by stage) — never the step.
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
    private readonly UpDownCounter<int> workersActive;

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
        checkpointSeconds = meter.CreateHistogram<double>("growlength.checkpoint.duration", "s", "Time to write and commit a checkpoint.");
        workersActive = meter.CreateUpDownCounter<int>("growlength.workers.active", "{worker}", "Worker training loops running.");
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

    /// <summary>Records a committed checkpoint's write time.</summary>
    public void RecordCheckpoint(string run, int rank, double seconds) =>
        checkpointSeconds.Record(seconds, Tags(run, rank));

    /// <summary>A worker loop started (+1) or ended (−1).</summary>
    public void WorkerActive(string run, int rank, bool started) =>
        workersActive.Add(started ? 1 : -1, Tags(run, rank));

    private static TagList Tags(string run, int rank) => new() { { "run", run }, { "rank", rank } };

    private static TagList Tags(string run, int rank, int stage) => new() { { "run", run }, { "rank", rank }, { "stage", stage } };

    public void Dispose() => meter.Dispose();
}
