using GrowLength.Grains;
using GrowLength.Tests.Shared;
using GrowLength.Training.Run;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit.Abstractions;

namespace GrowLength.Cluster.Tests;

/// <summary>Runs that heal themselves, on real silo processes on loopback with nothing typed after the start: a worker
/// SIGKILLed at any phase of a step (its silo's failpoint) leaves the survivors identical and the run finishes on them
/// with no token trained twice; a run left with no survivor reloads its checkpoint once a slot frees and ends bitwise
/// equal to an uninterrupted run; the coordinator's own silo dying does not end the run; a silo that joins adds a worker
/// that copies the state from a peer, and `scale` shrinks the run again. The silos keep membership and state in a real
/// PostgreSQL (a database per test), as a production cluster does: the first silo started is no different from the others.</summary>
public sealed class SelfHealingTests(SiloProcessFixture fixture, PostgresFixture postgres, ITestOutputHelper output)
    : IClassFixture<SiloProcessFixture>, IClassFixture<PostgresFixture>, IAsyncLifetime, IDisposable
{
    // Another worker count sums the gradient in another float order: the loss drifts from the uninterrupted run's by
    // float noise, not by a step trained twice or skipped (that moves it by far more, and the ledger says so exactly).
    private const double FinalLossTolerance = 1e-3;

    private readonly SiloCluster cluster = new(fixture.Root, output);

    public async Task InitializeAsync() => cluster.UsePostgres(await postgres.NewDatabase(nameof(SelfHealingTests)));

    public Task DisposeAsync() => Task.CompletedTask;

    [Theory]
    [InlineData("backward")]
    [InlineData("reduce")]
    [InlineData("gather")]
    [InlineData("reported")]
    [InlineData("commit")]
    public async Task AWorkerKilledAtAnyPhaseOfAStepLeavesTheSurvivorsIdenticalAndTheRunFinishes(string phase)
    {
        var root = cluster.Folder($"phase-{phase}");
        var first = await cluster.StartSilo("first", root);
        await cluster.StartSilo("survivor", root, first);
        var victim = await cluster.StartSilo("victim", root, first, 1, $"KillAt=6:{phase}");
        var grains = await cluster.Connect(first);
        await SiloCluster.WaitForSilos(grains, 3);
        var id = $"kill-{phase}";
        var coordinator = grains.GetGrain<IScheduleCoordinatorGrain>(id);
        await coordinator.Create(new CreateRun(RunSpecJson.ToJson(fixture.Long)));
        await coordinator.Start(new StartRun(3, MinWorkers: 1));

        var done = await cluster.WaitWhileRunning(coordinator, limit: TimeSpan.FromMinutes(3));
        cluster.Log($"run {done.Lifecycle} at step {done.Step}; victim exited: {victim.HasExited}");
        Assert.True(victim.HasExited, $"the failpoint did not fire\n{cluster.Outputs()}");
        Assert.True(done.Lifecycle == RunLifecycle.Completed, $"{done.Lifecycle}: {done.Reason}\n{cluster.Outputs()}");
        Assert.Equal(40, done.Step);
        var events = await coordinator.Events(0);
        cluster.Log($"events:\n{Events(events)}");
        var lost = Assert.Single(events, e => e.Kind == RunEventKind.WorkerLost);
        Assert.Equal((3, 2), (lost.Recovery!.WorldBefore, lost.Recovery.WorldAfter));
        var recovered = Assert.Single(events, e => e.Kind == RunEventKind.Recovered);
        Assert.Equal(0, recovered.Recovery!.TokensRetrained);
        cluster.Log($"recovered {recovered.Recovery.SecondsToNextStep:F1} s after the loss was noticed ({lost.Message})");
        Assert.Equal(1, done.Recoveries);

        // No block skipped or trained twice, and nothing rolled back.
        var ledger = await coordinator.Ledger();
        Assert.True(ledger.Exact, ledger.Problem);
        Assert.Equal((40L, 0L), (ledger.Steps, ledger.TokensRetrained));
        // Every step after the loss: the survivors' parameters were identical (the fold fails the run otherwise).
        var records = await coordinator.Steps(0);
        Assert.All(records, r => Assert.Single(r.Checksums.Distinct()));
        var (_, bare) = fixture.Reference("long", fixture.Long);
        var final = records.Single(r => r.Step == 39).Loss;
        Assert.True(Math.Abs(final - bare[^1].Loss) <= FinalLossTolerance * bare[^1].Loss,
            $"final loss {final} after the kill, {bare[^1].Loss} uninterrupted (relative tolerance {FinalLossTolerance})");
    }

    [Fact]
    public async Task ARunWithNoSurvivorReloadsItsCheckpointWhenASlotFreesAndEndsBitwiseEqual()
    {
        var (root, first, grains, coordinator, waiting) = await LoseTheOnlyWorker("reload", killAtStep: 12);
        // Checkpoints (every 5 steps) are written in the background: the one of step 10 may still have been in flight at
        // the kill, but the one of step 5 was recorded before it began (one write at a time). The run rolls back to the
        // newest recorded.
        var recorded = (await grains.GetGrain<ICheckpointGrain>("reload").List()).Select(r => r.Step).ToArray();
        Assert.Contains(5L, recorded);
        Assert.Equal(recorded.Max(), waiting.Step);
        Assert.Contains(await coordinator.Events(0), e => e.Kind == RunEventKind.Reloading);
        cluster.Log($"no survivor: the run waits at step {waiting.Step} for a slot");
        await cluster.StartSilo("replacement", root, first);

        var done = await cluster.WaitWhileRunning(coordinator, limit: TimeSpan.FromMinutes(2));
        Assert.True(done.Lifecycle == RunLifecycle.Completed, $"{done.Lifecycle}: {done.Reason}\n{cluster.Outputs()}");
        var ledger = await coordinator.Ledger();
        Assert.True(ledger.Exact, ledger.Problem);
        // The steps from the checkpoint to the kill (10 and 11, or 5 to 11) were trained before the kill and again after the reload.
        var retrained = (12 - waiting.Step) * 512;
        Assert.Equal((40L, retrained), (ledger.Steps, ledger.TokensRetrained));
        var recovered = Assert.Single(await coordinator.Events(0), e => e.Kind == RunEventKind.Recovered);
        Assert.Equal(retrained, recovered.Recovery!.TokensRetrained);
        var (trainer, _) = fixture.Reference("long", fixture.Long);
        Assert.Equal(0, await Compare.MaxWeightDifference(grains, "reload", trainer));
    }

    [Fact]
    public async Task StopCompletesAtOnceWhileTheRunWaitsForSlots()
    {
        // At step 11 the checkpoint of step 5 is recorded (the one of step 10 waited for it; that one may be in flight).
        var (_, _, grains, coordinator, _) = await LoseTheOnlyWorker("stop-waiting", killAtStep: 11);
        var recorded = (await grains.GetGrain<ICheckpointGrain>("stop-waiting").List()).Select(r => r.Step).ToArray();
        Assert.Contains(5L, recorded);

        // Nothing is training and no slot is free: the stop does not wait for either.
        var stopped = await coordinator.Stop();
        Assert.Equal(RunLifecycle.Stopped, stopped.Lifecycle);
        Assert.Equal(recorded.Max(), stopped.LastCheckpointStep);
        Assert.Equal(RunLifecycle.Stopped, (await coordinator.Status()).Lifecycle);
        var refused = await Assert.ThrowsAsync<RunRequestException>(() => coordinator.Resume(new StartRun(1)));
        Assert.Equal("--workers", refused.Subject);
        Assert.Equal(RunLifecycle.Stopped, (await coordinator.Status()).Lifecycle);
    }

    [Fact]
    public async Task ARunWhoseCheckpointsNoLongerVerifyFailsRatherThanReloadFromStepZero()
    {
        // At step 11 the checkpoint of step 5 is surely recorded (see above).
        var (root, first, grains, coordinator, waiting) = await LoseTheOnlyWorker("unreloadable", killAtStep: 11);
        var records = await grains.GetGrain<ICheckpointGrain>("unreloadable").List();
        Assert.NotEmpty(records);
        // Every recorded checkpoint's model part loses a byte's worth of its data while the run waits for a slot.
        foreach (var r in records)
        {
            var model = Path.Combine(r.Folder, GrowLength.Training.Engine.TrainingCheckpoint.ModelPart);
            var bytes = File.ReadAllBytes(model);
            bytes[bytes.Length / 2] ^= 0x01;
            File.WriteAllBytes(model, bytes);
        }
        await cluster.StartSilo("replacement", root, first);

        var failed = await cluster.WaitWhileRunning(coordinator, limit: TimeSpan.FromMinutes(2));
        Assert.True(failed.Lifecycle == RunLifecycle.Failed, $"{failed.Lifecycle} at step {failed.Step}: {failed.Reason}\n{cluster.Outputs()}");
        Assert.Contains("the run cannot reload a checkpoint: no recorded checkpoint verifies", failed.Reason);
        foreach (var r in records) Assert.Contains($"step {r.Step} ({r.Folder})", failed.Reason);
        Assert.Contains("growlength resume unreloadable --start-over", failed.Reason);
        // Nothing started again: the run is where it waited, and no epoch after the loss was started.
        Assert.Equal(waiting.Step, failed.Step);
        Assert.DoesNotContain(await coordinator.Events(0), e => e.Kind == RunEventKind.Started && e.Epoch > waiting.Epoch);
    }

    [Fact]
    public async Task TheCoordinatorsSiloDyingDoesNotEndTheRun()
    {
        var root = cluster.Folder("coordinator");
        var first = await cluster.StartSilo("first", root);
        await cluster.StartSilo("survivor", root, first);
        var host = await cluster.StartSilo("coordinator-host", root, first);
        // The coordinator is placed on the silo whose gateway the run was started through.
        var starter = await cluster.Connect(host);
        await SiloCluster.WaitForSilos(starter, 3);
        var watcher = await cluster.Connect(first);
        await starter.GetGrain<IScheduleCoordinatorGrain>("moved").Create(new CreateRun(RunSpecJson.ToJson(fixture.Long)));
        await starter.GetGrain<IScheduleCoordinatorGrain>("moved").Start(new StartRun(3, MinWorkers: 1));
        var coordinator = watcher.GetGrain<IScheduleCoordinatorGrain>("moved");
        var before = await cluster.WaitWhileRunning(coordinator, s => s.Step >= 8, TimeSpan.FromMinutes(2));
        Assert.Equal(RunLifecycle.Running, before.Lifecycle);
        host.Kill();
        cluster.Log($"SIGKILL of the coordinator's silo at step {before.Step}");

        var done = await cluster.WaitWhileRunning(coordinator, limit: TimeSpan.FromMinutes(3));
        Assert.True(done.Lifecycle == RunLifecycle.Completed, $"{done.Lifecycle}: {done.Reason}\n{cluster.Outputs()}");
        var events = await coordinator.Events(0);
        cluster.Log($"events:\n{Events(events)}");
        Assert.Contains(events, e => e.Kind == RunEventKind.Interrupted);
        Assert.Contains(events, e => e.Kind == RunEventKind.WorkerLost);
        var ledger = await coordinator.Ledger();
        Assert.True(ledger.Exact, ledger.Problem);
        Assert.Equal((40L, 0L), (ledger.Steps, ledger.TokensRetrained));
    }

    [Fact]
    public async Task ASiloThatJoinsAddsAWorkerFromAPeerAndScaleShrinksTheRunAgain()
    {
        var root = cluster.Folder("join");
        var first = await cluster.StartSilo("first", root);
        var grains = await cluster.Connect(first);
        var coordinator = grains.GetGrain<IScheduleCoordinatorGrain>("grows");
        // Far more steps than the test waits for: it stops the run itself once it has grown and shrunk, however fast the machine.
        var longer = fixture.Long with { Budget = new BudgetConfig { Tokens = 512L * 1_000_000 } };
        await coordinator.Create(new CreateRun(RunSpecJson.ToJson(longer)));
        // One free slot: the run starts on one worker and grows to its target when a silo joins.
        var started = await coordinator.Start(new StartRun(2, MinWorkers: 1));
        Assert.Equal((1, 2), (started.WorldSize, started.TargetWorkers));
        await cluster.WaitWhileRunning(coordinator, s => s.Step >= 2, TimeSpan.FromMinutes(2));
        await cluster.StartSilo("joiner", root, first);
        var grown = await cluster.WaitWhileRunning(coordinator, s => s.WorldSize == 2, TimeSpan.FromMinutes(2));
        Assert.True(grown.WorldSize == 2, $"the run did not grow: {grown.Lifecycle} at step {grown.Step}: {grown.Reason}\n{cluster.Outputs()}");
        cluster.Log($"events:\n{Events(await coordinator.Events(0))}");
        var joined = Assert.Single(await coordinator.Events(0), e => e.Kind == RunEventKind.Rescaled);
        cluster.Log($"joined: {joined.Message}");
        // A few steps on two workers: the joiner's first report proves its copy (the fold compares every rank's checksum).
        await cluster.WaitWhileRunning(coordinator, s => s.Step >= joined.Step + 5, TimeSpan.FromMinutes(2));

        var scaled = await coordinator.Scale(new ScaleRun(1));
        Assert.Equal(1, scaled.TargetWorkers);
        var shrunk = await cluster.WaitWhileRunning(coordinator, s => s.WorldSize == 1, TimeSpan.FromMinutes(2));
        Assert.True(shrunk.WorldSize == 1, $"the run did not shrink: {shrunk.Lifecycle} at step {shrunk.Step}: {shrunk.Reason}\n{cluster.Outputs()}");
        await coordinator.Stop();
        var done = await cluster.WaitWhileRunning(coordinator, limit: TimeSpan.FromMinutes(2));
        Assert.True(done.Lifecycle == RunLifecycle.Stopped, $"{done.Lifecycle}: {done.Reason}\n{cluster.Outputs()}");
        var rescales = (await coordinator.Events(0)).Where(e => e.Kind == RunEventKind.Rescaled).Select(e => (e.Recovery!.WorldBefore, e.Recovery.WorldAfter));
        Assert.Equal([(1, 2), (2, 1)], rescales);
        var records = await coordinator.Steps(0);
        Assert.Contains(records, r => r.Checksums.Length == 2);
        Assert.All(records, r => Assert.Single(r.Checksums.Distinct()));
        var ledger = await coordinator.Ledger();
        Assert.True(ledger.Exact, ledger.Problem);
        Assert.Equal((done.Step, 0L), (ledger.Steps, ledger.TokensRetrained));

        // Scaling a run that is not running is refused, and leaves it as it was.
        var refused = await Assert.ThrowsAsync<RunRequestException>(() => coordinator.Scale(new ScaleRun(2)));
        Assert.Equal("grows", refused.Subject);
        Assert.Equal(RunLifecycle.Stopped, (await coordinator.Status()).Lifecycle);
    }

    /// <summary>A one-worker run of the 40-step spec whose only worker (the first silo offers no slot) is SIGKILLed by its
    /// silo's failpoint at <paramref name="killAtStep"/>: it returns once the run waits, Running with no worker, for a slot.</summary>
    private async Task<(string Root, SiloProcess Primary, IClusterClient Grains, IScheduleCoordinatorGrain Coordinator, RunStatus Waiting)> LoseTheOnlyWorker(
        string runId, int killAtStep)
    {
        var root = cluster.Folder(runId);
        var first = await cluster.StartSilo("first", root, slots: 0);
        var victim = await cluster.StartSilo("victim", root, first, 1, $"KillAt={killAtStep}:backward");
        var grains = await cluster.Connect(first);
        await SiloCluster.WaitForSilos(grains, 2);
        var coordinator = grains.GetGrain<IScheduleCoordinatorGrain>(runId);
        await coordinator.Create(new CreateRun(RunSpecJson.ToJson(fixture.Long)));
        await coordinator.Start(new StartRun(1));
        var waiting = await cluster.WaitWhileRunning(coordinator, s => s.Workers.Length == 0 && victim.HasExited, TimeSpan.FromMinutes(2));
        Assert.True(waiting.Lifecycle == RunLifecycle.Running, $"the run must wait for a slot, not end: {waiting.Lifecycle}: {waiting.Reason}\n{cluster.Outputs()}");
        return (root, first, grains, coordinator, waiting);
    }

    private static string Events(IEnumerable<RunEvent> events) => string.Join("\n", events.Select(e => $"  {e.Sequence} {e.Kind} epoch {e.Epoch} step {e.Step}: {e.Message}"));

    public void Dispose() => cluster.Dispose();
}
