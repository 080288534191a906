using System.Reflection;
using GrowLength.Grains;
using GrowLength.Training.Run;

namespace GrowLength.Cluster.Tests;

/// <summary>The worker protocol, gradient chunks and checkpoint records are the cluster's own: a client that reaches a
/// gateway cannot start a worker on a folder of its choosing, record or prune checkpoints, inject gradients or report steps.</summary>
public sealed class ClusterInternalCallTests(OneSiloCluster fixture) : IClassFixture<OneSiloCluster>
{
    [Fact]
    public async Task EveryInternalMethodRefusesAClientAndDoesNothing()
    {
        var victim = Path.Combine(fixture.Root, "victim");
        var kept = Path.Combine(victim, "step-00000010");
        Directory.CreateDirectory(kept);
        var spec = RunSpecJson.ToJson(fixture.Spec);
        var record = new CheckpointRecord(99, Path.Combine(victim, "step-00000099"), "{}", KeepLast: 1);
        var worker = fixture.Grains.GetGrain<IWorkerGrain>("intruder/0");
        var coordinator = fixture.Grains.GetGrain<IScheduleCoordinatorGrain>("intruder");
        var calls = new (string Method, Func<Task> Call)[]
        {
            ("IWorkerGrain.Start", () => worker.Start(new WorkerAssignment("intruder", 0, null, spec, victim, null, 4096))),
            ("IWorkerGrain.ReceiveChunk", () => worker.ReceiveChunk(new GradientChunk(1, 1, 0, 0, 0, 0, new byte[16]))),
            ("IWorkerGrain.ExchangeEndpoint", () => worker.ExchangeEndpoint()),
            ("IWorkerGrain.Abort", () => worker.Abort(1, "intruder")),
            ("IWorkerGrain.EndEpoch", () => worker.EndEpoch(1)),
            ("IWorkerGrain.FetchState", () => worker.FetchState(1, 0)),
            ("ICheckpointGrain.Commit", () => fixture.Grains.GetGrain<ICheckpointGrain>("intruder").Commit(record)),
            ("IDataShardGrain.Open", () => fixture.Grains.GetGrain<IDataShardGrain>("intruder/0").Open(spec)),
            ("IDataShardGrain.GetRows", () => fixture.Grains.GetGrain<IDataShardGrain>("intruder/0").GetRows(new RowRequest(0, 16, 1, 0, 1))),
            ("IDataShardGrain.GetValidationWindows", () => fixture.Grains.GetGrain<IDataShardGrain>("intruder/0").GetValidationWindows(16, 1)),
            ("IRunRegistryGrain.Add", () => fixture.Grains.GetGrain<IRunRegistryGrain>(IRunRegistryGrain.Key).Add("intruder")),
            ("IScheduleCoordinatorGrain.NextStep", () => coordinator.NextStep(0, 1, 0, false)),
            ("IScheduleCoordinatorGrain.Report", () => coordinator.Report(new StepReport(0, 1, 1, 16, 1, 16, 1, 0, 0, 1, 0, 0, 0, 1, 1))),
            ("IScheduleCoordinatorGrain.StepFailed", () => coordinator.StepFailed(0, 1, 1, "intruder")),
            ("IScheduleCoordinatorGrain.JoinReady", () => coordinator.JoinReady(0)),
            ("IScheduleCoordinatorGrain.ReportEvaluation", () => coordinator.ReportEvaluation(1, 1, 16, 1.0, 1, 0.1)),
            ("IScheduleCoordinatorGrain.CheckpointCommitted", () => coordinator.CheckpointCommitted(record)),
            ("IScheduleCoordinatorGrain.WorkerDone", () => coordinator.WorkerDone(0, 1)),
            ("IScheduleCoordinatorGrain.WorkerFailed", () => coordinator.WorkerFailed(0, 1, "intruder", false)),
        };
        foreach (var (method, call) in calls)
        {
            var refused = await Assert.ThrowsAsync<RunRequestException>(call);
            Assert.Equal(method, refused.Subject);
            Assert.Contains("internal to the cluster", refused.Problem);
        }

        // The list above is every method marked internal, so none was left out of the test.
        var marked = typeof(IWorkerGrain).Assembly.GetTypes().Where(t => t.IsInterface)
            .SelectMany(t => t.GetMethods().Select(m => (Type: t, Method: m)))
            .Where(x => x.Method.IsDefined(typeof(ClusterInternalAttribute)) || x.Type.IsDefined(typeof(ClusterInternalAttribute)))
            .Select(x => $"{x.Type.Name}.{x.Method.Name}").Order();
        Assert.Equal(marked, calls.Select(c => c.Method).Order());

        Assert.True(Directory.Exists(kept), "a refused commit pruned a folder");
        Assert.False(Directory.Exists(Path.Combine(victim, "run.marker")));
        Assert.DoesNotContain("intruder", await fixture.Grains.GetGrain<IRunRegistryGrain>(IRunRegistryGrain.Key).List());
        Assert.Empty(await fixture.Grains.GetGrain<ICheckpointGrain>("intruder").List());
    }

    [Fact]
    public async Task TheMethodsAClientUsesStayOpenToIt()
    {
        // What growlength's commands call: none of it is marked internal, and a client reaches it.
        Assert.DoesNotContain(typeof(IScheduleCoordinatorGrain).GetMethods(), m =>
            m.Name is "Create" or "Start" or "Stop" or "Resume" or "Status" or "Steps" or "Events" or "Subscribe" or "Unsubscribe"
                or "Evaluations" or "Scale" or "Ledger" && m.IsDefined(typeof(ClusterInternalAttribute)));
        Assert.Empty(await fixture.Grains.GetGrain<ICheckpointGrain>("nothing-here").List());
        Assert.Null((await fixture.Grains.GetGrain<ICheckpointGrain>("nothing-here").Choose()).Latest);
        _ = await fixture.Grains.GetGrain<IRunRegistryGrain>(IRunRegistryGrain.Key).List();
    }

    [Fact]
    public async Task CodeOnASiloCallsThemAsTheClusterDoes()
    {
        // As a worker's training loop does (a silo's code outside any grain): accepted. EndEpoch of a worker with no
        // loop does nothing.
        await fixture.InsideGrains.GetGrain<IWorkerGrain>("inside/0").EndEpoch(1);
        var refused = await Assert.ThrowsAsync<RunRequestException>(() => fixture.Grains.GetGrain<IWorkerGrain>("inside/0").EndEpoch(1));
        Assert.Equal("IWorkerGrain.EndEpoch", refused.Subject);
    }
}
