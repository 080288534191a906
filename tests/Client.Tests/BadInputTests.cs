namespace GrowLength.Client.Tests;

/// <summary>Bad input: exit code 2, one stderr line naming the field or file, and no run or checkpoint started;
/// no cluster at --cluster: exit code 3 after a bounded number of tries.</summary>
public sealed class BadInputTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    private string Home => temp.Combine("home");

    private ProgramResult Train(params string[] args) =>
        GrowLengthProgram.Run(temp.Path, 60, ["run", "--preset", "tiny", "--home", Home, .. args]);

    private void AssertRejected(ProgramResult result, string named)
    {
        Assert.True(result.ExitCode == 2, $"expected exit 2; {result}");
        var error = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.StartsWith("error: ", error);
        Assert.Contains(named, error);
        Assert.DoesNotContain("   at ", result.Output); // a message, not a stack trace
        Assert.DoesNotContain("step 1 ", result.Stdout);
        Assert.DoesNotContain("run tiny on", result.Stdout); // the run was never created
        Assert.False(Directory.Exists(Path.Combine(Home, "checkpoints", "tiny")), $"a checkpoint folder was created; {result}");
    }

    [Theory]
    [InlineData("--schedule.kind=bogus", "error: schedule.kind:")]
    [InlineData("--schedule.minLength=128", "error: schedule.minLength:")]
    [InlineData("--schedule.maxLength=512", "error: schedule.")] // above the tiny model's 256 (the batch is too small too)
    [InlineData("--budget.tokens=0", "error: budget.tokens:")]
    [InlineData("--bogus.key=1", "error: bogus.key:")]
    [InlineData("--schedule.minLenght=32", "error: schedule.minLenght:")]
    [InlineData("--eval.lengths=0", "error: eval.lengths:")]
    [InlineData("--budget.tokens=lots", "error: budget.tokens:")]
    [InlineData("--schedule", "error: --schedule:")]
    public void ABadSettingIsNamed(string setting, string expected) => AssertRejected(Train(setting), expected);

    [Theory]
    [InlineData("../escape")]
    [InlineData("..")]
    [InlineData("a/b")]
    [InlineData("/tmp/x")]
    public void ARunIdThatWouldNameAnotherFolderIsRefused(string runId)
    {
        // A run id names the run's checkpoint folder under CheckpointFolder: it may not climb out of it.
        AssertRejected(Train("--run-id", runId), "error: runId: ");
        Assert.False(Directory.Exists(Path.Combine(Home, "escape")), "a folder beside the checkpoints was created");
        Assert.False(Directory.Exists(Path.Combine(Home, "checkpoints", "a")));
    }

    [Fact]
    public void AScheduleAboveTheModelsMaximumNamesScheduleMaxLength() =>
        AssertRejected(Train("--schedule.maxLength=512", "--schedule.globalBatchTokens=1024", "--schedule.microBatchTokens=512"),
            "error: schedule.maxLength: 512 is above model.maxLength (256)");

    [Fact]
    public void AMissingCorpusIsNamed()
    {
        var missing = temp.Combine("no-such-corpus");
        AssertRejected(Train($"--data.path={missing}"), $"error: data.path: '{missing}' does not exist");
    }

    [Fact]
    public void AnEmptyCorpusFolderIsNamed()
    {
        var empty = temp.Combine("empty");
        Directory.CreateDirectory(empty);
        AssertRejected(Train($"--data.path={empty}"), $"error: {empty}: holds no corpus files");
    }

    [Fact]
    public void ACorpusFolderOfOnlyBinaryFilesIsNamedWithTheCount()
    {
        var blobs = temp.Combine("blobs");
        Directory.CreateDirectory(blobs);
        File.WriteAllBytes(Path.Combine(blobs, "weights.safetensors"), [8, 0, 0, 0, 0, 0, 0, 0, (byte)'{', (byte)'}']);
        File.WriteAllBytes(Path.Combine(blobs, "logo.png"), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        AssertRejected(Train($"--data.path={blobs}"), $"error: {blobs}: holds no text: 2 binary files were skipped");
    }

    [Fact]
    public void ACorpusShorterThanOneStepIsNamed()
    {
        for (int i = 0; i < 3; i++) temp.Write($"short/doc{i}.txt", new string((char)('a' + i), 100));
        AssertRejected(Train($"--data.path={temp.Combine("short")}"), "error: data.path: the corpus has");
    }

    [Fact]
    public void ANonUtf8FileIsNamed()
    {
        var corpus = temp.WriteTinyCorpus();
        var bad = Path.Combine(corpus, "latin1.txt");
        File.WriteAllBytes(bad, [.. "caf"u8, 0xE9, (byte)' ', 0xFF, .. " au lait"u8]);
        AssertRejected(Train($"--data.path={corpus}"), $"error: {bad}: is not valid UTF-8 text");
        // The half-ingested corpus is not left in the cache to be mistaken for a good one.
        var cache = Path.Combine(Home, "corpus");
        Assert.True(!Directory.Exists(cache) || Directory.GetDirectories(cache).All(d => !File.Exists(Path.Combine(d, "corpus.json"))),
            "a corpus with a bad file was cached");
    }

    [Fact]
    public void AMalformedSpecFileIsNamed()
    {
        var spec = temp.Write("broken.json", "{ \"name\": \"tiny\", \"schedule\": { \"minLength\": 16, ");
        AssertRejected(GrowLengthProgram.Run(temp.Path, 60, "run", "--spec", spec, "--home", Home), $"error: {spec}: not a valid run spec");
    }

    [Fact]
    public void ASpecFileWithAnUnknownFieldIsNamed()
    {
        var spec = temp.Write("typo.json", "{ \"name\": \"tiny\", \"bugdet\": { \"tokens\": 1000 } }");
        var result = GrowLengthProgram.Run(temp.Path, 60, "spec", "--spec", spec);
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains($"error: {spec}:", result.Stderr);
        Assert.Contains("bugdet", result.Stderr);
    }

    [Fact]
    public void AnUnwritableCheckpointFolderIsNamed()
    {
        // A file where the checkpoint folder should be: no folder can be made in it, even for root.
        temp.Write("home/checkpoints", "not a folder");
        var corpus = temp.WriteTinyCorpus();
        var result = Train($"--data.path={corpus}");
        Assert.True(result.ExitCode == 2, $"expected exit 2; {result}");
        var error = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.StartsWith($"error: GrowLength:CheckpointFolder: '{Path.Combine(Home, "checkpoints", "tiny")}' is not writable", error);
        Assert.DoesNotContain("stage 0", result.Stdout);
    }

    [Fact]
    public void NoClusterAtTheGatewayExitsWith3()
    {
        int port;
        using (var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        } // closed again: nothing listens there now
        // The 60 s limit only guards against a hang; how soon the program gives up is the next test's question.
        var result = GrowLengthProgram.Run(temp.Path, 60, "run", "--preset", "tiny", "--cluster", $"127.0.0.1:{port}", "--home", Home);
        Assert.True(result.ExitCode == 3, $"expected exit 3; {result}");
        Assert.StartsWith($"error: no GrowLength cluster at 127.0.0.1:{port}: ", result.Stderr);
        Assert.DoesNotContain("   at ", result.Output);
        Assert.False(Directory.Exists(Path.Combine(Home, "state")), "an embedded silo was started although --cluster was given");
    }

    [Fact]
    public async Task AGatewayThatDropsEveryConnectionIsTriedABoundedNumberOfTimes()
    {
        // A socket that accepts and closes at once, so every connection attempt is counted: the program must give up
        // (exit 3, on its own) after a fixed number of tries, however fast or slow the machine. ClusterConnection.Connect
        // allows three (two retries), then GatewayTlsProbe connects once more to ask whether TLS was why; a machine so
        // loaded that a try spends its whole 4 s before connecting ends sooner, never later, so only the bound is asserted.
        using var gateway = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        gateway.Start();
        var port = ((System.Net.IPEndPoint)gateway.LocalEndpoint).Port;
        var attempts = 0;
        var accepting = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    using var connection = await gateway.AcceptSocketAsync();
                    Interlocked.Increment(ref attempts);
                }
            }
            catch (System.Net.Sockets.SocketException) { } // the listener stopped
            catch (ObjectDisposedException) { }
        });

        var result = GrowLengthProgram.Run(temp.Path, 60, "run", "--preset", "tiny", "--cluster", $"127.0.0.1:{port}", "--home", Home);
        gateway.Stop();
        await accepting.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(result.ExitCode == 3, $"expected exit 3; {result}");
        Assert.StartsWith($"error: no GrowLength cluster at 127.0.0.1:{port}: ", result.Stderr);
        Assert.InRange(Volatile.Read(ref attempts), 1, 4);
        Assert.False(Directory.Exists(Path.Combine(Home, "state")), "an embedded silo was started although --cluster was given");
    }

    [Fact]
    public void BenchRejectsAZeroLength()
    {
        var result = GrowLengthProgram.Run(temp.Path, 60, "bench", "--model", "tiny", "--lengths", "0", "--out", temp.Combine("bench.json"));
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("error: --lengths: '0' is not a length", result.Stderr);
        Assert.False(File.Exists(temp.Combine("bench.json")));
    }
}
