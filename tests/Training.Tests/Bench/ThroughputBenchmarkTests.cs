using GrowLength.Training.Bench;
using GrowLength.Training.Model;
using static TorchSharp.torch;

namespace GrowLength.Training.Tests.Bench;

/// <summary>The throughput benchmark's step-cost breakdown: measured parts, and the figures derived from them.</summary>
public sealed class ThroughputBenchmarkTests
{
    private static ModelConfig Tiny => ModelPresets.Tiny() with { VocabSize = 50 };

    [Fact]
    public void ProbeTimesTheMatmulsAndAttentionOfEveryMicroBatchIncludingAShortLastOne()
    {
        var (dense, attention) = StepCostProbe.Measure(Tiny, length: 32, rows: 6, microBatchRows: 4, CPU, repeats: 2);
        Assert.True(dense > 0 && double.IsFinite(dense), $"dense {dense}");
        Assert.True(attention > 0 && double.IsFinite(attention), $"attention {attention}");
    }

    [Fact]
    public void BreakdownAddsUpToTheStepAndItsCeilingIsTheMfuWithoutTheRest()
    {
        var settings = new ThroughputSettings(Tiny, [16, 32], StepTokens: 256, MicroBatchTokens: 128, WarmupSteps: 1, Seconds: 0.2, MinSteps: 2, Breakdown: true);
        var report = ThroughputBenchmark.Run(settings, CPU);
        foreach (var r in report.Lengths)
        {
            var b = Assert.IsType<StepCostBreakdown>(r.Breakdown);
            Assert.Equal(Math.Max(0, r.StepSeconds - b.DenseMatmulSeconds - b.AttentionSeconds), b.OtherSeconds, 12);
            // The ceiling is the MFU of a step that took only the matmuls and the attention.
            var stepTokens = r.TokensPerSecond * r.StepSeconds;
            Assert.Equal(r.FlopsPerToken * stepTokens / (report.MatmulFlopsPerSecond * (b.DenseMatmulSeconds + b.AttentionSeconds)), b.MfuCeiling, 9);
            Assert.Equal(r.Mfu * r.StepSeconds / (b.DenseMatmulSeconds + b.AttentionSeconds), b.MfuCeiling, 9);
        }
    }

    [Fact]
    public void NoBreakdownUnlessAskedFor()
    {
        var settings = new ThroughputSettings(Tiny, [16], StepTokens: 128, MicroBatchTokens: 128, WarmupSteps: 1, Seconds: 0.1, MinSteps: 1);
        Assert.All(ThroughputBenchmark.Run(settings, CPU).Lengths, r => Assert.Null(r.Breakdown));
    }
}
