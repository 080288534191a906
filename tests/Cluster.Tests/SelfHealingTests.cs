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
/// that copies the state from a peer, and `scale` shrinks the run again.</summary>
public sealed class SelfHealingTests(SiloProcessFixture fixture, ITestOutputHelper output) : IClassFixture<SiloProcessFixture>, IDisposable
{
    // Another worker count sums the gradient in another float order: the loss drifts from the uninterrupted run's by
    // float noise, not by a step trained twice or skipped (that moves it by far more, and the ledger says so exactly).
    private const double FinalLossTolerance = 1e-3;

    private readonly List<SiloProcess> silos = [];
    private readonly List<IHost> clients = [];
    private readonly string clusterId = $"gl-{Guid.NewGuid():N}"[..16];
    private readonly System.Diagnostics.Stopwatch clock = System.Diagnostics.Stopwatch.StartNew();

    private void Log(string message) => output.WriteLine($"{clock.Elapsed.TotalSeconds,6:F1} s  {message}");

    [Theory]
    [InlineData("backward")]
    [InlineData("reduce")]
    [InlineData("gather")]
    [InlineData("reported")]
    [InlineData("commit")]
    public async Task AWorkerKilledAtAnyPhaseOfAStepLeavesTheSurvivorsIdenticalAndTheRunFinishes(string phase)
    {
        var root = Folder($"phase-{phase}");
        var primary = await StartSilo("primary", root);
        await StartSilo("survivor", root, primary);
        var victim = await StartSilo("victim", root, primary, 1, $"KillAt=6:{phase}");
        var grains = await Connect(primary);
        await WaitForSilos(grains, 3);
        var id = $"kill-{phase}";
        var coordinator = grains.GetGrain<IScheduleCoordinatorGrain>(id);
        await coordinator.Create(new CreateRun(RunSpecJson.ToJson(fixture.Long)));
        await coordinator.Start(new StartRun(3, MinWorkers: 1));

        var done = await WaitWhileRunning(coordinator, TimeSpan.FromMinutes(3));
        Log($"run {done.Lifecycle} at step {done.Step}; victim exited: {victim.HasExited}");
        Assert.True(victim.HasExited, $"the failpoint did not fire\n{Outputs()}");
        Assert.True(done.Lifecycle == RunLifecycle.Completed, $"{done.Lifecycle}: {done.Reason}\n{Outputs()}");
        Assert.Equal(40, done.Step);
        var events = await coordinator.Events(0);
        Log($"events:\n{Events(events)}");
        var lost = Assert.Single(events, e => e.Kind == RunEventKind.WorkerLost);
        Assert.Equal((3, 2), (lost.Recovery!.WorldBefore, lost.Recovery.WorldAfter));
        var recovered = Assert.Single(events, e => e.Kind == RunEventKind.Recovered);
        Assert.Equal(0, recovered.Recovery!.TokensRetrained);
        Log($"recovered {recovered.Recovery.SecondsToNextStep:F1} s after the loss was noticed ({lost.Message})");
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
        var root = Folder("reload");
        // The primary offers no slot: the one worker runs on the victim, and nothing survives it.
        var primary = await StartSilo("primary", root, slots: 0);
        var victim = await StartSilo("victim", root, primary, 1, "KillAt=12:backward");
        var grains = await Connect(primary);
        await WaitForSilos(grains, 2);
        var coordinator = grains.GetGrain<IScheduleCoordinatorGrain>("reload");
        await coordinator.Create(new CreateRun(RunSpecJson.ToJson(fixture.Long)));
        await coordinator.Start(new StartRun(1));

        var waiting = await WaitWhileRunning(coordinator, TimeSpan.FromMinutes(2), s => s.Workers.Length == 0 && victim.HasExited);
        Assert.True(waiting.Lifecycle == RunLifecycle.Running, $"the run must wait for a slot, not end: {waiting.Lifecycle}: {waiting.Reason}\n{Outputs()}");
        Assert.Equal(10, waiting.Step);
        Assert.Contains(await coordinator.Events(0), e => e.Kind == RunEventKind.Reloading);
        Log($"no survivor: the run waits at step {waiting.Step} for a slot");
        await StartSilo("replacement", root, primary);

        var done = await WaitWhileRunning(coordinator, TimeSpan.FromMinutes(2));
        Assert.True(done.Lifecycle == RunLifecycle.Completed, $"{done.Lifecycle}: {done.Reason}\n{Outputs()}");
        var ledger = await coordinator.Ledger();
        Assert.True(ledger.Exact, ledger.Problem);
        // Steps 10 and 11 were trained before the kill and again after the reload.
        Assert.Equal((40L, 2L * 512), (ledger.Steps, ledger.TokensRetrained));
        var recovered = Assert.Single(await coordinator.Events(0), e => e.Kind == RunEventKind.Recovered);
        Assert.Equal(2L * 512, recovered.Recovery!.TokensRetrained);
        var (trainer, _) = fixture.Reference("long", fixture.Long);
        Assert.Equal(0, await Compare.MaxWeightDifference(grains, "reload", trainer));
    }

    [Fact]
    public async Task StopCompletesAtOnceWhileTheRunWaitsForSlots()
    {
        var root = Folder("stop-waiting");
        var primary = await StartSilo("primary", root, slots: 0);
        var victim = await StartSilo("victim", root, primary, 1, "KillAt=7:backward");
        var grains = await Connect(primary);
        await WaitForSilos(grains, 2);
        var coordinator = grains.GetGrain<IScheduleCoordinatorGrain>("stop-waiting");
        await coordinator.Create(new CreateRun(RunSpecJson.ToJson(fixture.Long)));
        await coordinator.Start(new StartRun(1));
        var waiting = await WaitWhileRunning(coordinator, TimeSpan.FromMinutes(2), s => s.Workers.Length == 0 && victim.HasExited);
        Assert.True(waiting.Lifecycle == RunLifecycle.Running, $"{waiting.Lifecycle}: {waiting.Reason}\n{Outputs()}");

        // Nothing is training and no slot is free: the stop does not wait for either.
        var stopped = await coordinator.Stop();
        Assert.Equal(RunLifecycle.Stopped, stopped.Lifecycle);
        Assert.Equal(5, stopped.LastCheckpointStep);
        Assert.Equal(RunLifecycle.Stopped, (await coordinator.Status()).Lifecycle);
        var refused = await Assert.ThrowsAsync<RunRequestException>(() => coordinator.Resume(new StartRun(1)));
        Assert.Equal("--workers", refused.Subject);
        Assert.Equal(RunLifecycle.Stopped, (await coordinator.Status()).Lifecycle);
    }

    [Fact]
    public async Task TheCoordinatorsSiloDyingDoesNotEndTheRun()
    {
        var root = Folder("coordinator");
        var primary = await StartSilo("primary", root);
        await StartSilo("survivor", root, primary);
        var host = await StartSilo("coordinator-host", root, primary);
        // The coordinator is placed on the silo whose gateway the run was started through.
        var starter = await Connect(host);
        await WaitForSilos(starter, 3);
        var watcher = await Connect(primary);
        await starter.GetGrain<IScheduleCoordinatorGrain>("moved").Create(new CreateRun(RunSpecJson.ToJson(fixture.Long)));
        await starter.GetGrain<IScheduleCoordinatorGrain>("moved").Start(new StartRun(3, MinWorkers: 1));
        var coordinator = watcher.GetGrain<IScheduleCoordinatorGrain>("moved");
        var before = await WaitWhileRunning(coordinator, TimeSpan.FromMinutes(2), s => s.Step >= 8);
        Assert.Equal(RunLifecycle.Running, before.Lifecycle);
        host.Kill();
        Log($"SIGKILL of the coordinator's silo at step {before.Step}");

        var done = await WaitWhileRunning(coordinator, TimeSpan.FromMinutes(3));
        Assert.True(done.Lifecycle == RunLifecycle.Completed, $"{done.Lifecycle}: {done.Reason}\n{Outputs()}");
        var events = await coordinator.Events(0);
        Log($"events:\n{Events(events)}");
        Assert.Contains(events, e => e.Kind == RunEventKind.Interrupted);
        Assert.Contains(events, e => e.Kind == RunEventKind.WorkerLost);
        var ledger = await coordinator.Ledger();
        Assert.True(ledger.Exact, ledger.Problem);
        Assert.Equal((40L, 0L), (ledger.Steps, ledger.TokensRetrained));
    }

    [Fact]
    public async Task ASiloThatJoinsAddsAWorkerFromAPeerAndScaleShrinksTheRunAgain()
    {
        var root = Folder("join");
        var primary = await StartSilo("primary", root);
        var grains = await Connect(primary);
        var coordinator = grains.GetGrain<IScheduleCoordinatorGrain>("grows");
        // Far more steps than the test waits for: it stops the run itself once it has grown and shrunk, however fast the machine.
        var longer = fixture.Long with { Budget = new BudgetConfig { Tokens = 512L * 1_000_000 } };
        await coordinator.Create(new CreateRun(RunSpecJson.ToJson(longer)));
        // One free slot: the run starts on one worker and grows to its target when a silo joins.
        var started = await coordinator.Start(new StartRun(2, MinWorkers: 1));
        Assert.Equal((1, 2), (started.WorldSize, started.TargetWorkers));
        await WaitWhileRunning(coordinator, TimeSpan.FromMinutes(2), s => s.Step >= 2);
        await StartSilo("joiner", root, primary);
        var grown = await WaitWhileRunning(coordinator, TimeSpan.FromMinutes(2), s => s.WorldSize == 2);
        Assert.True(grown.WorldSize == 2, $"the run did not grow: {grown.Lifecycle} at step {grown.Step}: {grown.Reason}\n{Outputs()}");
        Log($"events:\n{Events(await coordinator.Events(0))}");
        var joined = Assert.Single(await coordinator.Events(0), e => e.Kind == RunEventKind.Rescaled);
        Log($"joined: {joined.Message}");
        // A few steps on two workers: the joiner's first report proves its copy (the fold compares every rank's checksum).
        await WaitWhileRunning(coordinator, TimeSpan.FromMinutes(2), s => s.Step >= joined.Step + 5);

        var scaled = await coordinator.Scale(new ScaleRun(1));
        Assert.Equal(1, scaled.TargetWorkers);
        var shrunk = await WaitWhileRunning(coordinator, TimeSpan.FromMinutes(2), s => s.WorldSize == 1);
        Assert.True(shrunk.WorldSize == 1, $"the run did not shrink: {shrunk.Lifecycle} at step {shrunk.Step}: {shrunk.Reason}\n{Outputs()}");
        await coordinator.Stop();
        var done = await WaitWhileRunning(coordinator, TimeSpan.FromMinutes(2));
        Assert.True(done.Lifecycle == RunLifecycle.Stopped, $"{done.Lifecycle}: {done.Reason}\n{Outputs()}");
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

    private string Folder(string name)
    {
        var root = Path.Combine(fixture.Root, name);
        Directory.CreateDirectory(root);
        return root;
    }

    private async Task<SiloProcess> StartSilo(string name, string root, SiloProcess? primary = null, int slots = 1, params string[] settings)
    {
        var silo = await SiloProcess.Start(name, clusterId, root, primary, slots, settings);
        silos.Add(silo);
        Log($"silo {name} started (pid {silo.Id}, port {silo.SiloPort})");
        return silo;
    }

    private async Task<IClusterClient> Connect(params SiloProcess[] gateways)
    {
        var host = new HostBuilder()
            .UseOrleansClient(client => client.UseLocalhostClustering(gateways.Select(s => s.GatewayPort).ToArray(), clusterId, clusterId))
            .Build();
        clients.Add(host);
        await host.StartAsync();
        return host.Services.GetRequiredService<IClusterClient>();
    }

    private static async Task WaitForSilos(IGrainFactory grains, int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((await grains.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true)).Count < count)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"fewer than {count} active silos after 60 s");
            await Task.Delay(100);
        }
    }

    /// <summary>Polls until the run ends or <paramref name="until"/> holds; a status call lost to a dying silo is asked again.</summary>
    private async Task<RunStatus> WaitWhileRunning(IScheduleCoordinatorGrain coordinator, TimeSpan limit, Func<RunStatus, bool>? until = null)
    {
        var deadline = DateTime.UtcNow + limit;
        RunStatus? status = null;
        while (true)
        {
            try
            {
                status = await coordinator.Status();
                if (status.Lifecycle is not (RunLifecycle.Running or RunLifecycle.Stopping) || until?.Invoke(status) == true) return status;
            }
            catch (Exception e) when (e is OrleansException or TimeoutException)
            {
                Log($"status: {e.Message}");
            }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"run still {status?.Lifecycle} at step {status?.Step} after {limit.TotalSeconds:F0} s\n{Outputs()}");
            await Task.Delay(50);
        }
    }

    private static string Events(IEnumerable<RunEvent> events) => string.Join("\n", events.Select(e => $"  {e.Sequence} {e.Kind} epoch {e.Epoch} step {e.Step}: {e.Message}"));

    private string Outputs() => string.Join("\n", silos.Select(s => $"---- silo {s.Name} (pid {s.Id}) ----\n{string.Join('\n', s.Output.Split('\n').TakeLast(60))}"));

    public void Dispose()
    {
        foreach (var silo in silos) silo.Dispose();
        foreach (var client in clients)
        {
            try
            {
                client.StopAsync().Wait(TimeSpan.FromSeconds(5));
            }
            catch (AggregateException)
            {
                // Its gateways are gone; nothing to stop cleanly.
            }
            client.Dispose();
        }
    }
}
