using System.Text.Json.Nodes;

namespace GrowLength.Client.Tests;

/// <summary>`growlength cache list|prune` on the corpus cache a tiny run packed.</summary>
public sealed class CacheCommandTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    private string Home => temp.Combine("home");

    private ProgramResult Program(params string[] args) => GrowLengthProgram.Run(temp.Path, 60, args);

    private static void AssertBadInput(ProgramResult result, string expected)
    {
        Assert.True(result.ExitCode == 2, $"expected exit 2; {result}");
        Assert.StartsWith(expected, result.Stderr.Trim());
    }

    [Fact]
    public void ListShowsTheCorpusATinyRunPackedAndPruneAllDeletesIt()
    {
        var corpus = temp.WriteTinyCorpus();
        var run = GrowLengthProgram.Run(temp.Path, 120, "run", "--preset", "tiny", $"--data.path={corpus}", "--home", Home, "--budget.tokens=2048");
        Assert.True(run.ExitCode == 0, run.ToString());

        var list = Program("cache", "list", "--home", Home);
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Contains($"corpus cache {Path.Combine(Home, "corpus")}: 1 packed corpus", list.Stdout);
        var line = Assert.Single(list.Stdout.Split('\n'), l => l.StartsWith("corpus-bytes-", StringComparison.Ordinal));
        Assert.Contains("packed  bytes  ", line);
        Assert.Contains($"source {corpus}", line);
        Assert.Contains("last used", line);

        var json = JsonNode.Parse(Program("cache", "list", "--json", "--home", Home).Stdout)!;
        var folder = Assert.Single(json["folders"]!.AsArray())!;
        Assert.Equal(corpus, (string)folder["source"]!);
        Assert.Equal("bytes", (string)folder["tokenizer"]!);
        Assert.True((long)folder["tokens"]! > 20_000);
        Assert.True((long)folder["bytes"]! >= 2 * (long)folder["tokens"]!);

        // Just used: not older than a day, so nothing goes.
        var recent = Program("cache", "prune", "--older-than", "1d", "--home", Home);
        Assert.True(recent.ExitCode == 0, recent.ToString());
        Assert.Contains("freed 0 B in 0 folders", recent.Stdout);
        Assert.True(Directory.Exists((string)folder["folder"]!));

        var prune = Program("cache", "prune", "--all", "--home", Home);
        Assert.True(prune.ExitCode == 0, prune.ToString());
        Assert.Contains($"deleted {Path.GetFileName((string)folder["folder"]!)}", prune.Stdout);
        Assert.Contains("freed ", prune.Stdout);
        Assert.Contains("packs it again", prune.Stdout);
        Assert.False(Directory.Exists((string)folder["folder"]!));
        Assert.Contains("0 packed corpora", Program("cache", "list", "--home", Home).Stdout);
    }

    [Fact]
    public void PruneKeepsWhatIsNotACacheFolderAndActsOnAnyCacheGivenWithCache()
    {
        var cache = temp.Combine("silo-cache");
        temp.Write("silo-cache/corpus-bytes-0123/corpus.json", "{}");
        temp.Write("silo-cache/corpus-bytes-0123/train.tokens", new string('t', 3000));
        temp.Write("silo-cache/default-corpus-abcd/000000.txt", "the default corpus's text");
        temp.Write("silo-cache/notes/keep.txt", "not the cache's");

        var some = Program("cache", "prune", "--keep-bytes", "1k", "--cache", cache);
        Assert.True(some.ExitCode == 0, some.ToString());
        Assert.Contains("deleted corpus-bytes-0123", some.Stdout);
        Assert.True(Directory.Exists(Path.Combine(cache, "default-corpus-abcd")), "the default corpus's text went without --all");

        var all = Program("cache", "prune", "--all", "--cache", cache);
        Assert.True(all.ExitCode == 0, all.ToString());
        Assert.Contains("deleted default-corpus-abcd", all.Stdout);
        Assert.Equal(["notes"], Directory.GetDirectories(cache).Select(Path.GetFileName));
    }

    [Fact]
    public void BadOptionsAreNamed()
    {
        Directory.CreateDirectory(temp.Combine("cache"));
        AssertBadInput(Program("cache", "prune", "--older-than", "soon", "--cache", temp.Combine("cache")), "error: --older-than: 'soon' is not a duration");
        AssertBadInput(Program("cache", "prune", "--keep-bytes", "lots", "--cache", temp.Combine("cache")), "error: --keep-bytes: 'lots' is not a size");
        AssertBadInput(Program("cache", "prune", "--cache", temp.Combine("cache")), "error: prune: say what to delete");
        AssertBadInput(Program("cache", "prune", "--all", "--older-than", "7d", "--cache", temp.Combine("cache")), "error: --all:");
        AssertBadInput(Program("cache", "list", "--cache", temp.Combine("nowhere")), $"error: --cache: '{temp.Combine("nowhere")}' is not a folder");
        AssertBadInput(Program("cache", "list", "--home", temp.Combine("no-home")), "error: --home:");
        AssertBadInput(Program("cache", "prune", "--bogus"), "error: prune:");
    }
}
