using System.Text.Json.Nodes;

namespace GrowLength.Client.Tests;

/// <summary>`growlength run` end to end through the embedded silo, then status, list, resume and run again on its state.</summary>
[Collection(TrainedHomeCollection.Name)]
public sealed class RunTests(TrainedHome trained) : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    private static string Checkpoint(string home, long step) => Path.Combine(home, "checkpoints", "tiny", $"step-{step:D12}");

    private ProgramResult Program(params string[] args) => GrowLengthProgram.Run(temp.Path, 120, [.. args, "--home", trained.Home]);

    [Fact]
    public void ATinyRunTrainsThroughItsStagesAndReports()
    {
        var result = trained.Result;
        Assert.True(result.ExitCode == 0, result.ToString());
        var stdout = result.Stdout;
        Assert.Contains("run tiny on the embedded silo", stdout);
        int s0 = stdout.IndexOf("stage 0: length 16 from step 0", StringComparison.Ordinal);
        int s1 = stdout.IndexOf("stage 1: length 32 from step 8", StringComparison.Ordinal);
        int s2 = stdout.IndexOf("stage 2: length 64 from step 16", StringComparison.Ordinal);
        Assert.True(s0 >= 0 && s1 > s0 && s2 > s1, $"stage transitions missing or out of order; {result}");
        Assert.Contains("schedule growlength 16 → 32 → 64", stdout);
        Assert.Contains("step 24 stage 2 len 64", stdout);
        Assert.Contains("checkpoint at step 24", stdout);
        Assert.True(Directory.Exists(Checkpoint(trained.Home, 24)));

        // The stage table: 8 steps of 512 tokens in each stage, from the coordinator's transitions.
        int stages = stdout.IndexOf("Throughput per stage", StringComparison.Ordinal);
        Assert.True(stages > s2, result.ToString());
        foreach (var (stage, length) in new[] { (0, 16), (1, 32), (2, 64) })
            Assert.Matches($@"│ {stage}\s+│ {length}\s+│ 8\s+│ 4,096\s+│", stdout[stages..]);
        int eval = stdout.IndexOf("Validation perplexity per context length", StringComparison.Ordinal);
        Assert.True(eval > stages, result.ToString());
        Assert.Contains("evaluating the checkpoint at step 24", stdout);
        Assert.Contains("128 (beyond trained)", stdout[eval..]); // length 128 is past the trained 64
        Assert.Contains("NtkAware", stdout[eval..]);

        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(trained.Export, "config.json")))!;
        Assert.Equal(257, (int)config["vocab_size"]!);
        Assert.Equal(64, (int)config["growlength"]!["trained_length"]!);
        Assert.True(new FileInfo(Path.Combine(trained.Export, "model.safetensors")).Length > 35_000 * 4);
    }

    [Fact]
    public void StatusAndListShowTheRunCompletedAfterTheProgramEnded()
    {
        var status = Program("status", "tiny");
        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Contains("Completed", status.Stdout);
        Assert.Contains("step 24, stage 2, length 64, 12,288 tokens (100.0% of the budget)", status.Stdout);
        Assert.Contains("16 from step 0, 32 from step 8, 64 from step 16", status.Stdout);
        // The worker measured validation loss at schedule.maxLength at the end of the run.
        // With its standard error over the windows: the tiny preset measures 4.
        Assert.Matches(@"validation\s+loss \d+\.\d{4} ± \d+\.\d{4}, perplexity \d+\.\d{3} at length 64, step 24 \(4 windows\)", status.Stdout);

        var list = Program("list");
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Matches(@"│ tiny\s+│ Completed\s+│ 24\s+│", list.Stdout);
    }

    [Fact]
    public void ResumingACompletedRunIsRefused()
    {
        var result = Program("resume", "tiny");
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Equal("error: tiny: the run is completed; there is nothing to resume.", result.Stderr.Trim());
    }

    [Fact]
    public void AnUnknownRunIsNamed()
    {
        var result = Program("status", "no-such-run");
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.StartsWith("error: no-such-run: no run has this id", result.Stderr.Trim());
        Assert.DoesNotContain("   at ", result.Output);
    }

    [Fact]
    public void TrainingAgainReportsTheCompletedRunWithoutTrainingIt()
    {
        // `train` is `run`: the same id finds the completed run in the durable grain state and reports it.
        var result = Program("train", "--preset", "tiny", $"--data.path={trained.Corpus}");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("run tiny is already completed at step 24", result.Stdout);
        Assert.DoesNotContain("stage 0: length 16", result.Stdout);
        Assert.DoesNotContain("step 1 stage", result.Stdout);
        Assert.Matches(@"│ 2\s+│ 64\s+│ 8\s+│ 4,096\s+│", result.Stdout);
        Assert.Contains("Validation perplexity per context length", result.Stdout);
    }

    [Fact]
    public void ATinyRunTrainsOnAFolderOfPythonFiles()
    {
        // As much text as TinyCorpus (~21 KB in 24 files: more than the tiny preset's steps and validation windows need),
        // as Python sources, beside what a real checkout also holds: compiled bytecode and a .git folder.
        var source = temp.Combine("project");
        for (int d = 0; d < 24; d++)
        {
            var code = new System.Text.StringBuilder($"\"\"\"Module {d}.\"\"\"\n\n");
            for (int f = 0; f < 30; f++) code.Append($"def add_{f}(x):\n    return x + {f * d}\n\n");
            temp.Write($"project/pkg{d % 3}/module{d:D2}.py", code.ToString());
        }
        var bytecode = temp.Combine("project", "pkg0", "__pycache__", "module00.cpython-311.pyc");
        Directory.CreateDirectory(Path.GetDirectoryName(bytecode)!);
        File.WriteAllBytes(bytecode, [0xA7, 0x0D, 0x0D, 0x0A, 0, 0, 0, 0, 0xE3, 0, 0, 0]);
        temp.Write("project/.git/HEAD", "ref: refs/heads/main\n");

        var result = GrowLengthProgram.Run(temp.Path, 120, "run", "--preset", "tiny", $"--data.path={source}", "--home", temp.Combine("home"));
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("checkpoint at step 24", result.Stdout);
        Assert.Contains("Validation perplexity per context length", result.Stdout);
        // The packed corpus holds the 24 modules and nothing else: neither the bytecode nor .git/HEAD is a document.
        var manifest = JsonNode.Parse(File.ReadAllText(Assert.Single(
            Directory.GetFiles(temp.Combine("home", "corpus"), "corpus.json", SearchOption.AllDirectories))))!;
        Assert.Equal(source, (string?)manifest["source"]);
        Assert.Equal(24, (int)manifest["train"]!["documents"]! + (int)manifest["validation"]!["documents"]!);
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
