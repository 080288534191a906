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
        await interrupted.Create(new CreateRun(RunSpecJson.ToJson(first.Spec)));
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

        var coordinator = grains.GetGrain<IScheduleCoordinatorGrain>("interrupted");
        var status = await coordinator.Status();
        Assert.Equal(RunLifecycle.Failed, status.Lifecycle);
        Assert.Contains("interrupted", status.Reason);
        await coordinator.Resume(new StartRun(1));
        var resumed = await ClusterFixture.WaitWhileRunning(coordinator);
        Assert.True(resumed.Lifecycle == RunLifecycle.Completed, $"{resumed.Lifecycle}: {resumed.Reason}");
        Assert.Equal(24, resumed.Step);
    }
}
