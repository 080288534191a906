using GrowLength.Grains;
using GrowLength.Training.Checkpoints;
using GrowLength.Training.Engine;
using GrowLength.Training.Run;
using GrowLength.Training.Schedules;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit.Abstractions;
using GrowLength.Tests.Shared;

namespace GrowLength.Cluster.Tests;

/// <summary>A temp folder with the tiny corpus and the bare Trainer's reference runs, shared by the silo-process tests.</summary>
public sealed class SiloProcessFixture : IDisposable
{
    private readonly Dictionary<string, (Trainer Trainer, List<StepMetrics> Steps)> references = [];

    public SiloProcessFixture()
    {
        var corpus = TinyCorpus.Write(Path.Combine(Root, "corpus"));
        Tiny = RunSpecPresets.Tiny() with { Data = new DataConfig { Path = corpus, ValidationFraction = 0.1 } };
        // Long enough (40 steps, a checkpoint every 5, 16 → 32 → 64) that a kill lands after some checkpoints and before the end.
        Long = Tiny with { Budget = new BudgetConfig { Tokens = 512 * 40 }, Checkpoint = new CheckpointConfig { EverySteps = 5, KeepLast = 4 } };
        // A kill chosen by polling the run's status needs a wide window: on an idle machine 40 tiny steps take about 2 s, and
        // the poll once saw the run completed before it saw the checkpoint it waited for.
        KilledMidRun = Long with { Budget = new BudgetConfig { Tokens = 512 * KilledMidRunSteps } };
    }

    public string Root { get; } = Path.Combine(Path.GetTempPath(), $"growlength-procs-{Guid.NewGuid():N}");

    /// <summary>The tiny preset: 24 steps of 512 tokens, 16 → 32 → 64 at steps 0, 8, 16.</summary>
    public RunSpec Tiny { get; }

    /// <summary>Steps of <see cref="KilledMidRun"/>.</summary>
    public const int KilledMidRunSteps = 160;

    /// <summary><see cref="Long"/> over <see cref="KilledMidRunSteps"/> steps, for the tests that SIGKILL a silo mid-run.</summary>
    public RunSpec KilledMidRun { get; }

    /// <summary>The tiny model and schedule over 40 steps, checkpointing every 5 steps.</summary>
    public RunSpec Long { get; }

    /// <summary>An uninterrupted bare Trainer run of <paramref name="spec"/> (computed once; its own corpus cache).</summary>
    public (Trainer Trainer, List<StepMetrics> Steps) Reference(string name, RunSpec spec)
    {
        lock (references)
        {
            if (references.TryGetValue(name, out var done)) return done;
            using var run = PreparedRun.Open(spec, Path.Combine(Root, "bare-cache"), NullLogger.Instance);
            var steps = new StepList();
            var trainer = new Trainer(run, null, steps, NullLogger.Instance);
            Assert.Equal(TrainingOutcome.Completed, trainer.Train(CancellationToken.None));
            return references[name] = (trainer, steps.Steps);
        }
    }

    public void Dispose()
    {
        foreach (var (trainer, _) in references.Values) trainer.Dispose();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }

    private sealed class StepList : ITrainingObserver
    {
        public List<StepMetrics> Steps { get; } = [];
        public void OnStep(StepMetrics metrics) => Steps.Add(metrics);
        public void OnStageStarted(StageTransition transition) { }
        public void OnCheckpoint(long step, string folder, double seconds) { }
        public void OnEvaluation(long step, long tokens, double elapsedSeconds, IReadOnlyList<Training.Evaluation.EvalResult> results) { }
    }
}

/// <summary>The cluster trainer on real <c>GrowLength.Silo</c> processes on localhost, driven by an Orleans client:
/// two processes train like the bare Trainer; a SIGKILLed silo's run resumes from its last complete checkpoint and ends
/// bitwise equal to an uninterrupted run; a half-written or corrupt checkpoint is never used.</summary>
public sealed class SiloProcessTests(SiloProcessFixture fixture, ITestOutputHelper output) : IClassFixture<SiloProcessFixture>, IDisposable
{
    // As ClusterTrainingTests: 2 workers sum gradients in another float order than 1; measured ~7e-6, bound ~10x that.
    private const double LossTolerance = 5e-5;
    private const double WeightTolerance = 5e-5;

    private readonly SiloCluster cluster = new(fixture.Root, output);

    [Fact]
    public async Task TwoSiloProcessesWithOneWorkerEachTrainLikeTheBareTrainer()
    {
        var root = cluster.Folder("two-procs");
        var first = await cluster.StartSilo("first", root);
        var second = await cluster.StartSilo("second", root, first);
        var grains = await cluster.Connect(first, second);
        await SiloCluster.WaitForSilos(grains, 2);
        var (trainer, steps) = fixture.Reference("tiny", fixture.Tiny);
        cluster.Log("bare reference ready");

        var coordinator = grains.GetGrain<IScheduleCoordinatorGrain>("two-procs");
        await coordinator.Create(new CreateRun(RunSpecJson.ToJson(fixture.Tiny)));
        await coordinator.Start(new StartRun(2));
        var status = await cluster.WaitWhileRunning(coordinator);
        cluster.Log($"run {status.Lifecycle} at step {status.Step}");
        Assert.True(status.Lifecycle == RunLifecycle.Completed, $"{status.Lifecycle}: {status.Reason}\n{cluster.Outputs()}");
        Assert.Equal(2, status.Workers.Select(w => w.Silo).Distinct().Count());

        var records = await coordinator.Steps(0);
        Assert.Equal(24, records.Length);
        Assert.All(records, r => Assert.Equal(2, r.Checksums.Length));
        Assert.All(records, r => Assert.True(r.Checksums[0] == r.Checksums[1], $"step {r.Step}: ranks' parameters differ ({r.Checksums[0]:x16} vs {r.Checksums[1]:x16})"));
        Assert.Equal(records.Length, records.Select(r => r.Checksums[0]).Distinct().Count());
        // Across the length transitions 16 → 32 → 64 at steps 8 and 16.
        Assert.Equal([(16, 0L), (32, 8L), (64, 16L)], status.Transitions.Select(t => (t.Length, t.Step)));
        foreach (var (bare, cluster) in steps.Zip(records))
        {
            Assert.Equal((bare.Step, bare.Length), (cluster.Step, cluster.Length));
            Assert.True(Math.Abs(bare.Loss - cluster.Loss) <= LossTolerance * Math.Abs(bare.Loss),
                $"step {bare.Step}: loss {cluster.Loss} on 2 silo processes, {bare.Loss} bare (relative tolerance {LossTolerance})");
        }
        var weights = await Compare.MaxWeightDifference(grains, "two-procs", trainer);
        output.WriteLine($"2 processes vs bare: largest relative loss difference {steps.Zip(records).Max(p => Math.Abs(p.First.Loss - p.Second.Loss) / p.First.Loss):E2}, largest weight difference {weights:E2}");
        Assert.True(weights <= WeightTolerance, $"largest weight difference {weights:E2} (tolerance {WeightTolerance:E0})");
        foreach (var rank in new[] { 0, 1 })
            Assert.True((await grains.GetGrain<IWorkerGrain>(WorkerKeys.For("two-procs", rank)).Status()).PreflightSeconds > 0);
    }

    [Fact]
    public async Task ASigkilledSiloResumesFromItsLastCompleteCheckpointAndEndsBitwiseEqual()
    {
        var root = cluster.Folder("sigkill");
        var silo = await cluster.StartSilo("before-kill", root);
        var grains = await cluster.Connect(silo);
        var coordinator = grains.GetGrain<IScheduleCoordinatorGrain>("killed");
        await coordinator.Create(new CreateRun(RunSpecJson.ToJson(fixture.KilledMidRun)));
        await coordinator.Start(new StartRun(1));
        var beforeKill = await cluster.WaitWhileRunning(coordinator, s => s.LastCheckpointStep >= 10);
        Assert.True(beforeKill.Lifecycle == RunLifecycle.Running, $"the run must still be running at the kill: {beforeKill.Lifecycle} at step {beforeKill.Step}");
        silo.Kill();
        cluster.Log($"SIGKILL with step {beforeKill.Step} reported and the checkpoint of step {beforeKill.LastCheckpointStep} committed");

        var after = await cluster.StartSilo("after-kill", root);
        grains = await cluster.Connect(after);
        coordinator = grains.GetGrain<IScheduleCoordinatorGrain>("killed");
        var interrupted = await coordinator.Status();
        Assert.Equal(RunLifecycle.Failed, interrupted.Lifecycle);
        Assert.Contains("interrupted", interrupted.Reason);
        var recorded = (await grains.GetGrain<ICheckpointGrain>("killed").List()).Select(r => r.Step).ToArray();
        Assert.Contains(beforeKill.LastCheckpointStep, recorded);

        var resumed = await coordinator.Resume(new StartRun(1));
        cluster.Log($"recorded checkpoints {string.Join(", ", recorded)}; resumed from step {resumed.Step}");
        // The newest recorded checkpoint (all of them verify here), at or after the last one seen committed before the kill.
        Assert.Equal(recorded.Max(), resumed.Step);
        Assert.Equal(resumed.Step, resumed.LastCheckpointStep);
        Assert.True(resumed.Step >= beforeKill.LastCheckpointStep && resumed.Step < SiloProcessFixture.KilledMidRunSteps, $"resumed from step {resumed.Step}");
        Assert.True(File.Exists(Path.Combine(root, "checkpoints", "killed", $"step-{resumed.Step:D12}", "manifest.json")));

        await FinishAndCompare(grains, coordinator, "killed", resumed.Step);
    }

    [Fact]
    public async Task AHalfWrittenOrCorruptCheckpointIsNeverUsed()
    {
        var root = cluster.Folder("half-written");
        var silo = await cluster.StartSilo("before-kill", root);
        var grains = await cluster.Connect(silo);
        var coordinator = grains.GetGrain<IScheduleCoordinatorGrain>("torn");
        await coordinator.Create(new CreateRun(RunSpecJson.ToJson(fixture.KilledMidRun)));
        await coordinator.Start(new StartRun(1));
        var beforeKill = await cluster.WaitWhileRunning(coordinator, s => s.LastCheckpointStep >= 15);
        Assert.True(beforeKill.Lifecycle == RunLifecycle.Running, $"the run must still be running at the kill: {beforeKill.Lifecycle} at step {beforeKill.Step}");
        silo.Kill();
        cluster.Log($"SIGKILL with step {beforeKill.Step} reported");

        var after = await cluster.StartSilo("after-kill", root);
        grains = await cluster.Connect(after);
        coordinator = grains.GetGrain<IScheduleCoordinatorGrain>("torn");
        var recorded = (await grains.GetGrain<ICheckpointGrain>("torn").List()).Select(r => r.Step).Order().ToArray();
        Assert.True(recorded.Length >= 2, $"recorded checkpoints: {string.Join(", ", recorded)}");
        var (previous, newest) = (recorded[^2], recorded[^1]);
        var runFolder = Path.Combine(root, "checkpoints", "torn");
        string StepFolder(long step) => Path.Combine(runFolder, $"step-{step:D12}");

        // 1. The newest recorded checkpoint's model part is cut short, as if the disk lost its tail: the manifest is
        //    recorded but the files do not verify.
        var model = Path.Combine(StepFolder(newest), TrainingCheckpoint.ModelPart);
        var bytes = File.ReadAllBytes(model);
        File.WriteAllBytes(model, bytes[..(bytes.Length / 2)]);
        // 2. A write in progress at the kill: a .partial- folder holding half a model part and no manifest.
        var partial = Path.Combine(runFolder, $"step-{newest + 5:D12}.partial-{Guid.NewGuid():N}");
        Directory.CreateDirectory(partial);
        File.WriteAllBytes(Path.Combine(partial, TrainingCheckpoint.ModelPart), bytes[..(bytes.Length / 3)]);
        // 3. A step folder with a part but no manifest (never committed, never recorded).
        var noManifest = StepFolder(newest + 10);
        Directory.CreateDirectory(noManifest);
        File.WriteAllBytes(Path.Combine(noManifest, TrainingCheckpoint.ModelPart), bytes);

        var latest = await grains.GetGrain<ICheckpointGrain>("torn").Latest();
        Assert.NotNull(latest);
        Assert.Equal(previous, latest.Step);
        var resumed = await coordinator.Resume(new StartRun(1));
        cluster.Log($"recorded checkpoints {string.Join(", ", recorded)}; step {newest} truncated; resumed from step {resumed.Step}");
        Assert.Equal(previous, resumed.Step);

        await FinishAndCompare(grains, coordinator, "torn", previous);
        Assert.Empty(Directory.GetDirectories(runFolder, "*.partial-*"));
    }

    [Fact]
    public async Task TheExchangesSettingsChangeWhenGradientsAreSummedNotTheSums()
    {
        // Every switch of the exchange off (buckets after backward, one at a time, a fresh array per chunk, grain calls
        // between the silos) against every one on: the same losses and the same parameters at every step, bit for bit.
        async Task<StepRecord[]> Train(string name, params string[] settings)
        {
            var root = cluster.Folder(name);
            var first = await cluster.StartSilo($"{name}-1", root, null, 1, settings);
            var second = await cluster.StartSilo($"{name}-2", root, first, 1, settings);
            var grains = await cluster.Connect(first, second);
            await SiloCluster.WaitForSilos(grains, 2);
            var coordinator = grains.GetGrain<IScheduleCoordinatorGrain>(name);
            await coordinator.Create(new CreateRun(RunSpecJson.ToJson(fixture.Tiny)));
            await coordinator.Start(new StartRun(2));
            var status = await cluster.WaitWhileRunning(coordinator);
            Assert.True(status.Lifecycle == RunLifecycle.Completed, $"{status.Lifecycle}: {status.Reason}\n{cluster.Outputs()}");
            Assert.Equal(2, status.Workers.Select(w => w.Silo).Distinct().Count());
            var records = await coordinator.Steps(0);
            // The next pair forms a cluster of its own (the same cluster id, a new primary).
            first.Kill();
            second.Kill();
            return records;
        }
        var on = await Train("exchange-on");
        var off = await Train("exchange-off", "OverlapGradientExchange=false", "InterleaveGradientBuckets=false", "PoolGradientChunks=false", "ExchangePort=-1");
        Assert.Equal(24, on.Length);
        Assert.Equal(on.Select(r => (r.Step, r.Length, r.Loss, r.Checksums[0], r.Checksums[1])), off.Select(r => (r.Step, r.Length, r.Loss, r.Checksums[0], r.Checksums[1])));
    }

    [Fact]
    public async Task ARunStartedJustAfterASiloWasKilledStartsAllItsWorkers()
    {
        // Orleans' grain directory refuses new activations, for up to half a minute, in the hash ranges a silo that died
        // without a word owned (it cannot know which grains were there). A start asked for in that window must wait for
        // its workers' activations, not report the slots as missing.
        var root = cluster.Folder("after-a-loss");
        var first = await cluster.StartSilo("first", root, slots: 4);
        var victim = await cluster.StartSilo("victim", root, first);
        var grains = await cluster.Connect(first);
        await SiloCluster.WaitForSilos(grains, 2);
        var coordinator = grains.GetGrain<IScheduleCoordinatorGrain>("after-a-loss");
        await coordinator.Create(new CreateRun(RunSpecJson.ToJson(fixture.Tiny)));
        victim.Kill();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await ActiveSilos.WaitUntil(grains, active => active == 1, "waiting for the killed silo to be declared dead");
        cluster.Log($"victim declared dead {clock.Elapsed.TotalSeconds:F1} s after its SIGKILL");

        // Four workers: each lands in the dead silo's former ranges with even odds, so some almost surely wait.
        clock.Restart();
        var started = await coordinator.Start(new StartRun(4, MinWorkers: 4));
        cluster.Log($"started {started.Workers.Length} workers in {clock.Elapsed.TotalSeconds:F1} s");
        Assert.Equal(RunLifecycle.Running, started.Lifecycle);
        Assert.Equal(4, started.Workers.Length);
        var done = await cluster.WaitWhileRunning(coordinator);
        Assert.True(done.Lifecycle == RunLifecycle.Completed, $"{done.Lifecycle}: {done.Reason}\n{cluster.Outputs()}");
        Assert.Equal(24, done.Step);
    }

    /// <summary>Waits for the resumed run to complete; the steps after the resume point have the bare Trainer's losses and
    /// the final checkpoint's weights are bitwise the bare Trainer's.</summary>
    private async Task FinishAndCompare(IGrainFactory grains, IScheduleCoordinatorGrain coordinator, string runId, long resumedFrom)
    {
        var (trainer, steps) = fixture.Reference("killed-mid-run", fixture.KilledMidRun);
        cluster.Log("bare reference ready");
        var done = await cluster.WaitWhileRunning(coordinator);
        cluster.Log($"run {runId} {done.Lifecycle} at step {done.Step}");
        Assert.True(done.Lifecycle == RunLifecycle.Completed, $"{done.Lifecycle}: {done.Reason}\n{cluster.Outputs()}");
        Assert.Equal(SiloProcessFixture.KilledMidRunSteps, done.Step);
        var records = await coordinator.Steps(0);
        Assert.Equal(steps.Where(s => s.Step >= resumedFrom).Select(s => (s.Step, s.Length, s.Loss)), records.Select(r => (r.Step, r.Length, r.Loss)));
        var latest = await grains.GetGrain<ICheckpointGrain>(runId).Latest();
        Assert.Equal(SiloProcessFixture.KilledMidRunSteps, latest?.Step);
        Assert.Equal(0, await Compare.MaxWeightDifference(grains, runId, trainer));
    }

    public void Dispose() => cluster.Dispose();
}
