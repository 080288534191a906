using GrowLength.Grains;
using GrowLength.Grains.Hosting;
using GrowLength.Training.Engine;
using GrowLength.Training.Run;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.TestingHost;
using GrowLength.Tests.Shared;

namespace GrowLength.Cluster.Tests;

/// <summary>An in-process test cluster of GrowLength silos (one device slot each) over a temp folder holding a tiny
/// learnable corpus, the state, checkpoint and corpus-cache folders.</summary>
public abstract class ClusterFixture : IAsyncLifetime
{
    private readonly short silos;
    private readonly int slots;

    protected ClusterFixture(short silos, int slots) => (this.silos, this.slots) = (silos, slots);

    public string Root { get; } = Path.Combine(Path.GetTempPath(), $"growlength-cluster-{Guid.NewGuid():N}");

    public GrowLengthSiloOptions Options => new()
    {
        StateFolder = Path.Combine(Root, "state"),
        CheckpointFolder = Path.Combine(Root, "checkpoints"),
        CorpusCacheFolder = Path.Combine(Root, "corpus-cache"),
        DeviceSlots = slots,
        // Small chunks so the tiny model's gradient still crosses the ring in several pipelined pieces.
        GradientChunkBytes = 16 << 10,
    };

    public InProcessTestCluster Cluster { get; private set; } = null!;

    /// <summary>Grains as a client of the cluster sees them (the cluster-internal methods refuse it).</summary>
    public IGrainFactory Grains => Cluster.Client;

    /// <summary>Grains as code running on the first silo sees them, as a worker's training loop does: inside the cluster.</summary>
    public IGrainFactory InsideGrains => Cluster.GetSiloServiceProvider(Cluster.Silos[0].SiloAddress).GetRequiredService<IGrainFactory>();

    /// <summary>The tiny preset (2 layers, d = 32, lengths 16 → 32 → 64, 24 steps of 512 tokens) on this fixture's corpus.</summary>
    public RunSpec Spec { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var corpus = TinyCorpus.Write(Path.Combine(Root, "corpus"));
        Spec = RunSpecPresets.Tiny() with { Data = new DataConfig { Path = corpus, ValidationFraction = 0.1 } };
        var options = Options;
        var builder = new InProcessTestClusterBuilder(silos);
        builder.ConfigureSilo((_, silo) => silo.AddGrowLength(options));
        Configure(builder);
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    /// <summary>A fixture's own settings for the test cluster (its client, its silos).</summary>
    protected virtual void Configure(InProcessTestClusterBuilder builder)
    {
    }

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }

    /// <summary>The bare single-process Trainer on the same spec and corpus cache: the reference.</summary>
    public (Trainer Trainer, List<StepMetrics> Steps, List<StageTransition> Stages) TrainBare(RunSpec? spec = null)
    {
        using var run = PreparedRun.Open(spec ?? Spec, Options.CorpusCacheFolder, NullLogger.Instance);
        var recorder = new Recorder();
        var trainer = new Trainer(run, null, recorder, NullLogger.Instance);
        Assert.Equal(TrainingOutcome.Completed, trainer.Train(CancellationToken.None));
        return (trainer, recorder.Steps, recorder.Stages);
    }

    /// <summary>The bare Trainer's validation-loss points (eval.everySteps of <paramref name="spec"/>): steps completed and loss.</summary>
    public (Trainer Trainer, List<(long Steps, double Loss)> Evaluations) TrainBareWithEvaluations(RunSpec spec)
    {
        using var run = PreparedRun.Open(spec, Options.CorpusCacheFolder, NullLogger.Instance);
        var recorder = new Recorder();
        var trainer = new Trainer(run, null, recorder, NullLogger.Instance);
        Assert.Equal(TrainingOutcome.Completed, trainer.Train(CancellationToken.None));
        return (trainer, recorder.Evaluations);
    }

    /// <summary>Creates and starts a run on the cluster and waits until it leaves Running.</summary>
    public async Task<RunStatus> RunToEnd(string runId, int workers, RunSpec? spec = null)
    {
        var coordinator = Grains.GetGrain<IScheduleCoordinatorGrain>(runId);
        await coordinator.Create(new CreateRun(RunSpecJson.ToJson(spec ?? Spec)));
        await coordinator.Start(new StartRun(workers));
        return await WaitWhileRunning(coordinator);
    }

    /// <summary>Asserts that a run ended Completed; when it did not, the message gives its lifecycle and reason.</summary>
    public static void AssertCompleted(RunStatus status) =>
        Assert.True(status.Lifecycle == RunLifecycle.Completed, $"{status.Lifecycle}: {status.Reason}");

    public static async Task<RunStatus> WaitWhileRunning(IScheduleCoordinatorGrain coordinator, Func<RunStatus, bool>? until = null)
    {
        var deadline = DateTime.UtcNow.AddMinutes(3);
        while (true)
        {
            var status = await coordinator.Status();
            if (status.Lifecycle is not (RunLifecycle.Running or RunLifecycle.Stopping) || until?.Invoke(status) == true) return status;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"run {status.RunId} still {status.Lifecycle} at step {status.Step}");
            await Task.Delay(20);
        }
    }

    private sealed class Recorder : ITrainingObserver
    {
        public List<StepMetrics> Steps { get; } = [];
        public List<StageTransition> Stages { get; } = [];
        public void OnStageStarted(StageTransition transition) => Stages.Add(transition);
        public void OnStep(StepMetrics metrics) => Steps.Add(metrics);
        public void OnCheckpoint(long step, string folder, double seconds) { }
        public List<(long Steps, double Loss)> Evaluations { get; } = [];
        public void OnEvaluation(long step, long tokens, double elapsedSeconds, IReadOnlyList<Training.Evaluation.EvalResult> results) =>
            Evaluations.AddRange(results.Select(r => (step, r.Loss)));
    }
}

/// <summary>One silo with two device slots.</summary>
public sealed class OneSiloCluster() : ClusterFixture(1, 2);

/// <summary>Two silos, one device slot each: a two-worker run puts one worker on each.</summary>
public sealed class TwoSiloCluster() : ClusterFixture(2, 1);
