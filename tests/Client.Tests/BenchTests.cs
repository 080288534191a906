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
            var mfu = (double)l["mfu"]!;
            Assert.True(mfu > 0 && mfu < 1, l.ToJsonString());
        }
        Assert.Equal(1.0, (double)lengths[0]!["costPerTokenRelative"]!, 6);
        Assert.Contains("length    16:", result.Stdout);
        Assert.Contains("report written to", result.Stdout);
    }
}
