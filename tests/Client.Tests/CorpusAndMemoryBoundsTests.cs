namespace GrowLength.Client.Tests;

/// <summary>The silo's bounds on what a run spec may make it hold, through the real program on the embedded silo: one
/// document's size, the corpus cache's size and the model's memory. Each is refused when the run is created: exit 2, one
/// line naming the file or setting, no run recorded and nothing left in the corpus cache.</summary>
public sealed class CorpusAndMemoryBoundsTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    private string Home => temp.Combine("home");

    private ProgramResult Train(Dictionary<string, string?>? environment, params string[] args) =>
        GrowLengthProgram.RunWith(environment, temp.Path, 60, ["run", "--preset", "tiny", "--home", Home, .. args]);

    private void AssertRefusedWithNothingLeft(ProgramResult result, params string[] named)
    {
        Assert.True(result.ExitCode == 2, $"expected exit 2; {result}");
        var error = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.StartsWith("error: ", error);
        foreach (var text in named) Assert.Contains(text, error);
        Assert.DoesNotContain("run tiny on", result.Stdout);
        var cache = Path.Combine(Home, "corpus");
        var left = Directory.Exists(cache) ? Directory.GetDirectories(cache).Select(Path.GetFileName).ToList() : [];
        Assert.True(left.All(d => d!.StartsWith("default-corpus-", StringComparison.Ordinal)), $"left in the cache: {string.Join(", ", left)}");
        Assert.False(Directory.Exists(Path.Combine(Home, "checkpoints", "tiny")), "a checkpoint folder was created");
        var list = GrowLengthProgram.Run(temp.Path, 60, "list", "--home", Home);
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Contains("no runs yet", list.Stdout);
    }

    [Fact]
    public void AJsonlLineOverTheSilosDocumentLimitIsNamedByFileAndLine()
    {
        var lines = Enumerable.Range(0, 200).Select(i => $"{{\"text\":\"the cat sat on the mat, line {i}. a dog ran in the park.\"}}").ToList();
        lines[6] = $"{{\"text\":\"{new string('x', 5000)}\"}}";
        var corpus = temp.Write("corpus.jsonl", string.Join('\n', lines) + "\n");
        var result = Train(new() { ["GROWLENGTH__MAXDOCUMENTBYTES"] = "1024" }, $"--data.path={corpus}");
        AssertRefusedWithNothingLeft(result, $"error: {corpus}:7: is longer than 1", "GrowLength:MaxDocumentBytes");
    }

    [Fact]
    public void ACorpusThatMayNotFitTheSilosCacheLimitIsRefusedWithThePruneCommand()
    {
        var corpus = temp.WriteTinyCorpus();
        var result = Train(new() { ["GROWLENGTH__CORPUSCACHEMAXBYTES"] = "10000" }, $"--data.path={corpus}");
        AssertRefusedWithNothingLeft(result, $"error: {corpus}: would pack into up to", "GrowLength:CorpusCacheMaxBytes", "growlength cache prune");
    }

    [Theory]
    [InlineData("GROWLENGTH__MAXDOCUMENTBYTES", "0", "error: GrowLength:MaxDocumentBytes: must be 1 to")]
    [InlineData("GROWLENGTH__CORPUSCACHEMAXBYTES", "-1", "error: GrowLength:CorpusCacheMaxBytes: must be 0 (no limit) or more")]
    public void AnOutOfRangeBoundIsNamedBeforeTheSiloStarts(string variable, string value, string expected)
    {
        var result = Train(new() { [variable] = value }, $"--data.path={temp.WriteTinyCorpus()}");
        Assert.True(result.ExitCode == 2, $"expected exit 2; {result}");
        Assert.StartsWith(expected, result.Stderr.Trim());
        Assert.False(Directory.Exists(Path.Combine(Home, "corpus")), "the corpus cache was written by a silo that should not have started");
    }

    [Fact]
    public void AModelTooLargeForTheSilosMemoryIsRefusedNamingTheModelSettings()
    {
        // About 69 billion parameters: over a terabyte of training state, whatever machine runs the test.
        var corpus = temp.WriteTinyCorpus();
        var result = Train(null, $"--data.path={corpus}", "--model.dim=16384", "--model.layers=64");
        AssertRefusedWithNothingLeft(result, "error: model: a worker of this run needs at least", "model.dim=16384", "model.layers=64", "available");
    }
}
