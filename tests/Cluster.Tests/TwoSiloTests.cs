using System.Net.Sockets;
using GrowLength.Grains;
using GrowLength.Grains.Workers;
using Microsoft.Extensions.DependencyInjection;

namespace GrowLength.Cluster.Tests;

/// <summary>Two silos with one device slot each: the two workers land on different silos and their gradients cross
/// between silos over the gradient data plane; the run still matches one worker and the workers stay identical.</summary>
public sealed class TwoSiloTests(TwoSiloCluster fixture) : IClassFixture<TwoSiloCluster>
{
    [Fact]
    public async Task TwoWorkersOnTwoSilosTrainLikeOne()
    {
        var (trainer, steps, _) = fixture.TrainBare();
        using var _ = trainer;
        var accepted = Listeners().Select(l => l.AcceptedSenders).ToArray();
        var status = await fixture.RunToEnd("two-silos", 2);
        ClusterFixture.AssertCompleted(status);
        Assert.Equal(2, status.Workers.Select(w => w.Silo).Distinct().Count());

        var records = await fixture.Grains.GetGrain<IScheduleCoordinatorGrain>("two-silos").Steps(0);
        Assert.Equal(24, records.Length);
        Assert.All(records, r => Assert.True(r.Checksums[0] == r.Checksums[1], $"step {r.Step}: workers' parameters differ"));
        foreach (var (bare, cluster) in steps.Zip(records))
            Assert.True(Math.Abs(bare.Loss - cluster.Loss) <= 5e-5 * Math.Abs(bare.Loss), $"step {bare.Step}: loss {cluster.Loss} on 2 silos, {bare.Loss} bare");
        var weights = await Compare.MaxWeightDifference(fixture.Grains, "two-silos", trainer);
        Assert.True(weights <= 5e-5, $"largest weight difference {weights:E2}");
        // Each worker's left neighbour is on the other silo: both silos took their chunks over the data plane.
        Assert.All(Listeners().Zip(accepted), l => Assert.True(l.First.AcceptedSenders > l.Second, "a silo's data plane took no sender"));
        // The exchange reports its own time, so its rate can be read from the records.
        Assert.All(records, r => Assert.True(r.ExchangeWorkSeconds > 0, $"step {r.Step}: no exchange time"));
    }

    [Fact]
    public async Task TheDataPlaneTakesChunksOnlyFromASenderWithTheWorkersToken()
    {
        var coordinator = fixture.Grains.GetGrain<IScheduleCoordinatorGrain>("intruded");
        await coordinator.Create(new CreateRun(Training.Run.RunSpecJson.ToJson(fixture.Spec with { Budget = new Training.Run.BudgetConfig { Tokens = 512L * 100_000 } })));
        await coordinator.Start(new StartRun(2));
        try
        {
            var status = await ClusterFixture.WaitWhileRunning(coordinator, s => s.Step >= 1);
            Assert.Equal(RunLifecycle.Running, status.Lifecycle);
            // A ring member learns the token through a cluster-internal call (ClusterInternalCallTests: a client cannot).
            var worker = WorkerKeys.For("intruded", 0);
            var endpoint = await fixture.InsideGrains.GetGrain<IWorkerGrain>(worker).ExchangeEndpoint();
            var wrong = (byte[])endpoint.Token.Clone();
            wrong[0] ^= 1;

            Assert.Equal(ChunkWire.Refused, Handshake(endpoint, "not a gradient sender at all"u8.ToArray()));
            Assert.Equal(ChunkWire.Refused, Handshake(endpoint, ChunkWire.Hello(worker, wrong)));
            Assert.Equal(ChunkWire.Refused, Handshake(endpoint, ChunkWire.Hello(WorkerKeys.For("intruded", 7), endpoint.Token)));
            Assert.Equal(ChunkWire.Accepted, Handshake(endpoint, ChunkWire.Hello(worker, endpoint.Token)));

            // The refused senders changed nothing: the run trains on, its workers identical.
            status = await ClusterFixture.WaitWhileRunning(coordinator, s => s.Step >= status.Step + 2);
            Assert.Equal(RunLifecycle.Running, status.Lifecycle);
            var records = await coordinator.Steps(0);
            Assert.All(records, r => Assert.True(r.Checksums.Distinct().Count() == 1, $"step {r.Step}: workers' parameters differ"));
        }
        finally
        {
            await coordinator.Stop();
            await ClusterFixture.WaitWhileRunning(coordinator);
        }
    }

    private IEnumerable<GradientListener> Listeners() =>
        fixture.Cluster.Silos.Select(s => fixture.Cluster.GetSiloServiceProvider(s.SiloAddress).GetRequiredService<GradientListener>());

    /// <summary>Opens a connection to the listener, writes <paramref name="hello"/>, and returns its one-byte answer.</summary>
    private static byte Handshake(ExchangeEndpoint endpoint, byte[] hello)
    {
        using var client = new TcpClient();
        client.Connect(endpoint.Host, endpoint.Port);
        client.ReceiveTimeout = 15_000;
        var stream = client.GetStream();
        // A hello shorter than the listener reads is padded, as an intruder's would be, so it answers rather than waits.
        stream.Write(hello.Length >= 6 ? hello : [.. hello, .. new byte[64]]);
        var answer = stream.ReadByte();
        Assert.NotEqual(-1, answer);
        return (byte)answer;
    }
}
