using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using GrowLength.Grains;
using GrowLength.Tests.Shared;
using GrowLength.Training.Run;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
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
/// a large corpus exceeds by hours.</summary>
public sealed class CorpusPackingTests(ImpatientClientCluster fixture) : IClassFixture<ImpatientClientCluster>
{
    [Fact]
    public async Task CreateWaitsForTheCorpusToBePackedWhateverTheResponseTimeout()
    {
        var responseTimeout = fixture.Cluster.Client.ServiceProvider.GetRequiredService<IOptions<ClientMessagingOptions>>().Value.ResponseTimeout;
        Assert.True(responseTimeout <= TimeSpan.FromMilliseconds(50), $"the client's response timeout is {responseTimeout}, not the fixture's");

        // A corpus whose last document is a named pipe: packing reads it, and cannot finish, until this test writes it.
        // So the call is still packing after any wait the test chooses, however fast the machine: no timing premise.
        var folder = TinyCorpus.Write(Path.Combine(fixture.Root, "piped-corpus"));
        var pipe = Path.Combine(folder, "zz-last.txt");
        Assert.True(mkfifo(pipe, Convert.ToUInt32("600", 8)) == 0, $"mkfifo {pipe} failed: errno {Marshal.GetLastPInvokeError()}");
        var spec = fixture.Spec with { Name = "packing", Data = fixture.Spec.Data with { Path = folder } };
        Assert.Empty(PackedCorpora(folder));

        var create = fixture.Grains.GetGrain<IScheduleCoordinatorGrain>("packing").Create(new CreateRun(RunSpecJson.ToJson(spec)));
        // Task.Delay waits at least this long on any machine: twenty response timeouts, enough for the client's timeout
        // check to have failed the call if the call were held to it.
        await Task.Delay(20 * responseTimeout);
        var packingWhenTheTimeoutHadPassed = !create.IsCompleted;
        var packedEarly = PackedCorpora(folder).Count;

        // Write the pipe before asserting, so a failing run leaves no silo thread blocked on it. A Create that failed
        // before packing never opens the pipe: then a few seconds are enough to tell.
        var write = Task.Run(() =>
        {
            using var writer = new FileStream(pipe, FileMode.Open, FileAccess.Write); // waits for packing to open the pipe
            writer.Write("the last document arrives late. "u8);
        });
        await Task.WhenAny(write, Task.Delay(TimeSpan.FromSeconds(create.IsCompleted ? 5 : 60)));
        Assert.True(packingWhenTheTimeoutHadPassed, $"Create ended while its corpus could not be packed yet: {create.Exception}");
        Assert.Equal(0, packedEarly);
        Assert.True(write.IsCompletedSuccessfully, $"packing never read the pipe: {write.Exception}");
        var status = await create.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(RunLifecycle.Created, status.Lifecycle);
        // TinyCorpus's 24 documents and the piped one.
        var packed = Assert.Single(PackedCorpora(folder));
        Assert.Equal(25, (int)packed["train"]!["documents"]! + (int)packed["validation"]!["documents"]!);
    }

    /// <summary>The manifests of the corpora in the silo's cache packed from <paramref name="source"/>.</summary>
    private List<JsonNode> PackedCorpora(string source)
    {
        var cache = fixture.Options.CorpusCacheFolder;
        if (!Directory.Exists(cache)) return [];
        return [.. Directory.GetFiles(cache, "corpus.json", SearchOption.AllDirectories)
            .Select(m => JsonNode.Parse(File.ReadAllText(m))!)
            .Where(m => (string?)m["source"] == source)];
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int mkfifo(string path, uint mode);
}
