using GrowLength.Grains;
using GrowLength.Training.Run;
using Orleans.Configuration;
using Orleans.TestingHost;

namespace GrowLength.Cluster.Tests;

/// <summary>A cluster whose client gives up on a call after 50 ms, far less than packing any corpus takes.</summary>
public sealed class ImpatientClientCluster() : ClusterFixture(silos: 1, slots: 1)
{
    protected override void Configure(InProcessTestClusterBuilder builder) =>
        builder.ConfigureClient(client => client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromMilliseconds(50)));
}

/// <summary>Creating a run packs its corpus inside the call: the call must outlast the client's response timeout, which
/// a large corpus exceeds by hours (here a small one exceeds a 50 ms timeout the same way).</summary>
public sealed class CorpusPackingTests(ImpatientClientCluster fixture) : IClassFixture<ImpatientClientCluster>
{
    [Fact]
    public async Task CreateWaitsForTheCorpusToBePackedWhateverTheResponseTimeout()
    {
        // Two megabytes of text the silo has never packed.
        var folder = Path.Combine(fixture.Root, "big-corpus");
        Directory.CreateDirectory(folder);
        var random = new Random(7);
        var words = new[] { "the", "length", "grows", "in", "stages", "and", "training", "goes", "on", "faster" };
        for (int d = 0; d < 40; d++)
        {
            var text = new System.Text.StringBuilder();
            while (text.Length < 50_000) text.Append(words[random.Next(words.Length)]).Append(' ');
            File.WriteAllText(Path.Combine(folder, $"doc{d:D2}.txt"), text.ToString());
        }
        var spec = fixture.Spec with { Name = "packing", Data = fixture.Spec.Data with { Path = folder } };

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var status = await fixture.Grains.GetGrain<IScheduleCoordinatorGrain>("packing").Create(new CreateRun(RunSpecJson.ToJson(spec)));
        Assert.Equal(RunLifecycle.Created, status.Lifecycle);
        Assert.True(clock.Elapsed > TimeSpan.FromMilliseconds(50), $"packing took only {clock.Elapsed.TotalMilliseconds:F0} ms: the test proves nothing");
        Assert.NotEmpty(Directory.GetFiles(fixture.Options.CorpusCacheFolder, "corpus.json", SearchOption.AllDirectories));
    }
}
