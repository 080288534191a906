using GrowLength.Training.Bench;
using GrowLength.Training.Model;
using GrowLength.Training.Schedules;
using static TorchSharp.torch;

namespace GrowLength.Training.Tests.Bench;

/// <summary>The throughput benchmark's step-cost breakdown: measured parts, and the figures derived from them.</summary>
public sealed class ThroughputBenchmarkTests
{
    private static ModelConfig Tiny => ModelPresets.Tiny() with { VocabSize = 50 };

    [Fact]
    public void ProbeTimesTheMatmulsAndAttentionOfEveryMicroBatchIncludingAShortLastOne()
    {
        // 6 rows of 32 in micro-batches of 4 rows: a full one and a short last one.
        var plan = BatchPlan.For(32, globalBatchTokens: 6 * 32, microBatchTokens: 4 * 32);
        Assert.Equal([4, 2], plan.MicroBatchesForRank(0, 1));
        var (dense, attention) = StepCostProbe.Measure(Tiny, plan, CPU, repeats: 2);
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
