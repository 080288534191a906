using GrowLength.Grains;
using GrowLength.Grains.Hosting;
using GrowLength.Training.Run;
using Orleans.TestingHost;

namespace GrowLength.Cluster.Tests;

/// <summary>Durable grain state: a silo started again on the same state folder finds its runs.</summary>
public sealed class RestartTests : IAsyncLifetime
{
    private readonly OneSiloCluster first = new();

    public Task InitializeAsync() => first.InitializeAsync();

    public Task DisposeAsync() => first.DisposeAsync();

    [Fact]
    public async Task ARestartedSiloFindsItsRunsAndMarksAnInterruptedOneResumable()
    {
        var done = await first.RunToEnd("finished", 1);
        Assert.Equal(RunLifecycle.Completed, done.Lifecycle);
        var interrupted = first.Grains.GetGrain<IScheduleCoordinatorGrain>("interrupted");
        // With a validation-loss point every 2 steps, a kill between checkpoints (5, 8, 10, 15, 16, 20) leaves points the
        // resume trains again.
        await interrupted.Create(new CreateRun(RunSpecJson.ToJson(first.Spec with { Eval = first.Spec.Eval with { EverySteps = 2 } })));
        await interrupted.Start(new StartRun(1));
        await ClusterFixture.WaitWhileRunning(interrupted, s => s.Step >= 6);
        // Kill the whole cluster mid-run (no graceful stop), then start a new one on the same folders.
        await first.Cluster.StopAllSilosAsync();

        var options = first.Options;
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) => silo.AddGrowLength(options));
        await using var second = builder.Build();
        await second.DeployAsync();
        var grains = second.Client;

        Assert.Equal(["finished", "interrupted"], (await grains.GetGrain<IRunRegistryGrain>(IRunRegistryGrain.Key).List()).Order());
        var finished = await grains.GetGrain<IScheduleCoordinatorGrain>("finished").Status();
        Assert.Equal(RunLifecycle.Completed, finished.Lifecycle);
        Assert.Equal(24, finished.Step);
        Assert.Equal(3, finished.Transitions.Length);
        Assert.Equal(24, Assert.Single(await grains.GetGrain<IScheduleCoordinatorGrain>("finished").Evaluations()).Steps);

        var coordinator = grains.GetGrain<IScheduleCoordinatorGrain>("interrupted");
        var status = await coordinator.Status();
        Assert.Equal(RunLifecycle.Failed, status.Lifecycle);
        Assert.Contains("interrupted", status.Reason);
        var checkpoint = await grains.GetGrain<ICheckpointGrain>("interrupted").Latest();
        Assert.NotNull(checkpoint);
        var stale = (await coordinator.Evaluations()).Where(e => e.Steps > checkpoint.Step).ToArray();
        await coordinator.Resume(new StartRun(1));
        // Points of steps the resume trains again are of a model that no longer exists: gone at once (the worker still has
        // to load, preflight and train before it reports a point of its own, and a new point would be a new record).
        Assert.DoesNotContain(await coordinator.Evaluations(), e => stale.Contains(e));
        var resumed = await ClusterFixture.WaitWhileRunning(coordinator);
        ClusterFixture.AssertCompleted(resumed);
        Assert.Equal(24, resumed.Step);
        var points = await coordinator.Evaluations();
        Assert.Equal(Enumerable.Range(0, 13).Select(i => 2L * i), points.Select(p => p.Steps));
        Assert.All(points, p => Assert.Equal(512 * p.Steps, p.Tokens));
    }
}
