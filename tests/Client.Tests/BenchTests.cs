using System.Text.Json.Nodes;

namespace GrowLength.Client.Tests;

/// <summary>`growlength bench` measures each length and writes a JSON report.</summary>
public sealed class BenchTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    [Fact]
    public void BenchWritesTokensPerSecondAndMfuPerLength()
    {
        var output = temp.Combine("bench.json");
        var result = GrowLengthProgram.Run(temp.Path, 90, "bench", "--model", "tiny", "--vocab", "257", "--lengths", "16,32",
            "--seconds", "0.5", "--step-tokens", "1024", "--micro-tokens", "512", "--out", output);
        Assert.True(result.ExitCode == 0, result.ToString());
        var report = JsonNode.Parse(File.ReadAllText(output))!;
        Assert.Equal("tiny", (string?)report["model"]);
        // GROWLENGTH_ALLOCATOR=system: no tcmalloc re-exec, so the program tunes glibc malloc itself and says so.
        Assert.Equal("glibc malloc (tuned)", (string?)report["allocator"]);
        Assert.True((double)report["matmulGflops"]! > 0);
        var lengths = report["lengths"]!.AsArray();
        Assert.Equal([16, 32], lengths.Select(l => (int)l!["length"]!));
        foreach (var l in lengths)
        {
            Assert.True((double)l!["tokensPerSecond"]! > 0, l.ToJsonString());
            // MFU is the step's FLOP rate over the matmul rate measured in the same run: checked as that quotient, not
            // against 1, which a matmul measurement that other load slowed could exceed.
            var mfu = (double)l["mfu"]!;
            var expected = (double)l["tokensPerSecond"]! * (double)l["flopsPerToken"]! / ((double)report["matmulGflops"]! * 1e9);
            Assert.True(mfu > 0 && Math.Abs(mfu - expected) <= 1e-6 * expected, $"mfu {mfu}, expected {expected}: {l.ToJsonString()}");
        }
        Assert.Equal(1.0, (double)lengths[0]!["costPerTokenRelative"]!, 6);
        Assert.Contains("length    16:", result.Stdout);
        Assert.Contains("report written to", result.Stdout);
        Assert.DoesNotContain("Where a step goes", result.Stdout);
        Assert.All(lengths, l => Assert.Null(l!["breakdown"]));
    }

    [Fact]
    public void CheckpointRoundsReportTheSynchronousAndAsynchronousPauseAsAFractionOfAStep()
    {
        var output = temp.Combine("bench.json");
        var folder = temp.Combine("pause");
        var result = GrowLengthProgram.Run(temp.Path, 90, "bench", "--model", "tiny", "--vocab", "257", "--lengths", "16",
            "--seconds", "0.2", "--step-tokens", "512", "--micro-tokens", "512", "--checkpoint-rounds", "2", "--checkpoint-folder", folder, "--out", output);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("The pause a checkpoint leaves on the training thread", result.Stdout);
        Assert.Contains("round 2: synchronous", result.Stdout);
        var pause = JsonNode.Parse(File.ReadAllText(output))!["checkpointPause"]!;
        Assert.Equal(2, pause["rounds"]!.AsArray().Count);
        foreach (var figure in new[] { "stepSeconds", "syncPauseSeconds", "asyncPauseSeconds", "writeSeconds", "syncPauseFraction", "asyncPauseFraction" })
            Assert.True((double)pause[figure]! > 0, $"{figure}: {pause.ToJsonString()}");
        Assert.True(Directory.Exists(Path.Combine(folder, "sync")) && Directory.Exists(Path.Combine(folder, "async")));

        var bad = GrowLengthProgram.Run(temp.Path, 60, "bench", "--model", "tiny", "--lengths", "16", "--checkpoint-rounds", "-1");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--checkpoint-rounds", bad.Stderr);
    }

    [Theory]
    [InlineData(null, "tcmalloc (release rate 0)")]  // the program's own choice: keep freed memory
    [InlineData("5", "tcmalloc (release rate 5)")]   // a user's setting is theirs
    public void UnderTcmallocTheReportNamesItAndItsReleaseRate(string? userRate, string expected)
    {
        var output = temp.Combine("bench.json");
        var environment = new Dictionary<string, string?> { ["GROWLENGTH_ALLOCATOR"] = null, ["TCMALLOC_RELEASE_RATE"] = userRate };
        var result = GrowLengthProgram.RunWith(environment, temp.Path, 90, "bench", "--model", "tiny", "--vocab", "257", "--lengths", "16",
            "--seconds", "0.2", "--step-tokens", "256", "--micro-tokens", "256", "--out", output);
        Assert.True(result.ExitCode == 0, result.ToString());
        // test.sh installs libtcmalloc-minimal4; without it the program tunes glibc malloc instead and says so.
        var tcmallocInstalled = File.Exists("/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4") || File.Exists("/usr/lib/aarch64-linux-gnu/libtcmalloc_minimal.so.4");
        Assert.Equal(tcmallocInstalled ? expected : "glibc malloc (tuned)", (string?)JsonNode.Parse(File.ReadAllText(output))!["allocator"]);
    }

    [Fact]
    public void BreakdownShowsTheMatmulAndAttentionShareOfEachLength()
    {
        var output = temp.Combine("bench.json");
        var result = GrowLengthProgram.Run(temp.Path, 90, "bench", "--model", "tiny", "--vocab", "257", "--lengths", "16,32",
            "--seconds", "0.3", "--step-tokens", "512", "--micro-tokens", "512", "--breakdown", "--out", output);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("Where a step goes", result.Stdout);
        var lengths = JsonNode.Parse(File.ReadAllText(output))!["lengths"]!.AsArray();
        Assert.Equal(2, lengths.Count);
        foreach (var l in lengths)
        {
            var b = l!["breakdown"]!;
            Assert.True((double)b["denseMatmulSeconds"]! > 0, l.ToJsonString());
            Assert.True((double)b["attentionSeconds"]! > 0, l.ToJsonString());
            Assert.True((double)b["otherSeconds"]! >= 0, l.ToJsonString());
            Assert.True((double)b["mfuCeiling"]! > 0, l.ToJsonString());
        }
    }
}
