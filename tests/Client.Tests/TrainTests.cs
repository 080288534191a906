using System.Text.Json.Nodes;

namespace GrowLength.Client.Tests;

/// <summary>One tiny run trained to completion with an export, shared by the tests that resume or damage copies of it.</summary>
public sealed class TrainedHome : IDisposable
{
    private readonly TempFolder temp = new();

    public TrainedHome()
    {
        Corpus = temp.WriteTinyCorpus();
        Result = GrowLengthProgram.Run(temp.Path, 120, "train", "--preset", "tiny", $"--data.path={Corpus}", "--home", Home, "--export", Export);
    }

    public string Corpus { get; }

    public string Home => temp.Combine("home");

    public string Export => temp.Combine("export");

    internal ProgramResult Result { get; }

    public void Dispose() => temp.Dispose();
}

/// <summary>`growlength train` end to end: the full run, resume, and checkpoints damaged on disk.</summary>
public sealed class TrainTests(TrainedHome trained) : IClassFixture<TrainedHome>, IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    private static string Checkpoint(string home, long step) => Path.Combine(home, "runs", "tiny", "checkpoints", $"step-{step:D12}");

    /// <summary>A copy of the trained home (corpus cache and checkpoints at steps 20 and 24).</summary>
    private string CopyHome()
    {
        var home = temp.Combine("home");
        TempFolder.CopyTree(trained.Home, home);
        return home;
    }

    private ProgramResult TrainAgain(string home, params string[] args) =>
        GrowLengthProgram.Run(temp.Path, 120, ["train", "--preset", "tiny", $"--data.path={trained.Corpus}", "--home", home, .. args]);

    [Fact]
    public void ATinyRunTrainsThroughItsStagesAndReports()
    {
        var result = trained.Result;
        Assert.True(result.ExitCode == 0, result.ToString());
        var stdout = result.Stdout;
        int s0 = stdout.IndexOf("stage 0: length 16 from step 0", StringComparison.Ordinal);
        int s1 = stdout.IndexOf("stage 1: length 32 from step 8", StringComparison.Ordinal);
        int s2 = stdout.IndexOf("stage 2: length 64 from step 16", StringComparison.Ordinal);
        Assert.True(s0 >= 0 && s1 > s0 && s2 > s1, $"stage transitions missing or out of order; {result}");
        Assert.Contains("schedule growlength 16 → 32 → 64", stdout);
        Assert.Contains("Throughput per stage", stdout);
        Assert.Contains("Validation perplexity per context length", stdout);
        Assert.Contains("(beyond", stdout); // length 128 is past the trained 64
        Assert.Contains("checkpoint at step 24", stdout);
        Assert.True(Directory.Exists(Checkpoint(trained.Home, 24)));

        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(trained.Export, "config.json")))!;
        Assert.Equal(257, (int)config["vocab_size"]!);
        Assert.Equal(64, (int)config["growlength"]!["trained_length"]!);
        Assert.True(new FileInfo(Path.Combine(trained.Export, "model.safetensors")).Length > 35_000 * 4);
    }

    [Fact]
    public void RunningAgainResumesAndCompletesAtOnce()
    {
        var home = CopyHome();
        var result = TrainAgain(home);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("resuming run tiny from step 24", result.Stdout);
        Assert.DoesNotContain("stage 0: length 16", result.Stdout);
        Assert.DoesNotContain("step 1 stage", result.Stdout);
        Assert.Contains("Validation perplexity per context length", result.Stdout);
    }

    [Theory]
    [InlineData(true, "size mismatch")]
    [InlineData(false, "checksum mismatch")]
    public void ADamagedNewestCheckpointFallsBackToThePreviousOne(bool truncate, string problem)
    {
        var home = CopyHome();
        var model = Path.Combine(Checkpoint(home, 24), "model.safetensors");
        if (truncate)
        {
            using var stream = new FileStream(model, FileMode.Open);
            stream.SetLength(stream.Length - 100);
        }
        else
        {
            var bytes = File.ReadAllBytes(model);
            bytes[^8] ^= 0x01;
            File.WriteAllBytes(model, bytes);
        }
        var result = TrainAgain(home);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains(problem, result.Output);
        Assert.Contains("step-000000000024/model.safetensors; falling back to step-000000000020", result.Output);
        Assert.Contains("resuming run tiny from step 20", result.Stdout);
        // Steps 21..24 are trained again and the run completes (stage 2 continues; no restart from stage 0).
        Assert.Contains("step 24 stage 2 len 64", result.Stdout);
        Assert.DoesNotContain("stage 0: length 16", result.Stdout);
        Assert.Contains("Validation perplexity per context length", result.Stdout);
    }

    [Fact]
    public void WhenEveryCheckpointIsDamagedTheRunSaysSoAndStartsOver()
    {
        var home = CopyHome();
        foreach (var step in new[] { 20L, 24L })
            File.AppendAllText(Path.Combine(Checkpoint(home, step), "optimizer.safetensors"), "garbage");
        // A smaller budget keeps the fresh start short; it applies because no checkpoint's spec is used.
        var result = TrainAgain(home, "--budget.tokens=4096");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("no earlier checkpoint to fall back to", result.Output);
        Assert.Contains("no checkpoint of run tiny passed verification; starting from step 0", result.Stdout);
        Assert.DoesNotContain("resuming", result.Stdout);
        Assert.Contains("stage 0: length 16 from step 0", result.Stdout);
        Assert.Contains("checkpoint at step 8", result.Stdout);
        // The damaged later checkpoints are gone, so a next run cannot trip over them again.
        Assert.False(Directory.Exists(Checkpoint(home, 24)));
        Assert.False(Directory.Exists(Checkpoint(home, 20)));
    }

    [Fact]
    public void SpecPrintsJsonThatSpecFileAcceptsBack()
    {
        var printed = GrowLengthProgram.Run(temp.Path, 60, "spec", "--preset", "tiny", "--budget.tokens=1M");
        Assert.True(printed.ExitCode == 0, printed.ToString());
        var json = JsonNode.Parse(printed.Stdout)!;
        Assert.Equal("tiny", (string?)json["name"]);
        Assert.Equal(1_000_000, (long)json["budget"]!["tokens"]!);

        var file = temp.Write("tiny.json", printed.Stdout);
        var again = GrowLengthProgram.Run(temp.Path, 60, "spec", "--spec", file);
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal(printed.Stdout, again.Stdout);
    }
}
