using GrowLength.Training.Distributed;
using GrowLength.Training.Engine;
using GrowLength.Training.Model;
using static TorchSharp.torch;

namespace GrowLength.Training.Tests.Distributed;

/// <summary>The buckets the exchange overlaps with backward: they tile the gradient, and backward announces each one only
/// once its gradient is final, the last block first.</summary>
public sealed class GradientBucketTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void BucketsTileTheWholeGradientWithOneBucketPerBlockAndTheEmbeddingLast(bool tied)
    {
        var config = ModelPresets.Tiny() with { VocabSize = 257, Layers = 3, TieEmbeddings = tied };
        using var engine = new StepEngine(config, seed: 1);
        var buckets = engine.Buckets;
        Assert.Equal(config.Layers + 1, buckets.Count);
        Assert.Equal(Enumerable.Range(0, buckets.Count), buckets.Select(b => b.Index));
        // In buffer order they are the reverse of their exchange order, and they cover every element exactly once.
        var inBufferOrder = buckets.OrderBy(b => b.Start).ToArray();
        Assert.Equal(0, inBufferOrder[0].Start);
        for (int i = 1; i < inBufferOrder.Length; i++) Assert.Equal(inBufferOrder[i - 1].Start + inBufferOrder[i - 1].Length, inBufferOrder[i].Start);
        Assert.Equal(engine.Parameters.Count, inBufferOrder[^1].Start + inBufferOrder[^1].Length);
        Assert.Equal(buckets.Reverse().Select(b => b.Start), inBufferOrder.Select(b => b.Start));
        // The embedding goes last, alone; the last bucket sent first also holds the final norm (and an untied LM head).
        var layout = engine.Parameters.Layout.ToList();
        Assert.Equal(["embed.weight"], layout.Where(p => p.Offset < buckets[^1].Length).Select(p => p.Name));
        var first = layout.Where(p => p.Offset >= buckets[0].Start).Select(p => p.Name).ToList();
        Assert.All(first, n => Assert.True(n.StartsWith($"blocks.{config.Layers - 1}.", StringComparison.Ordinal) || !n.StartsWith("blocks.", StringComparison.Ordinal), n));
        Assert.Contains("norm.weight", first);
        if (!tied) Assert.Contains("lm_head.weight", first);
    }

    [Fact]
    public void BackwardAnnouncesEveryBucketOnceInOrderAndOnlyWhenItsGradientIsFinal()
    {
        var config = ModelPresets.Tiny() with { VocabSize = 257, Layers = 3 };
        const int rows = 6, length = 16, microRows = 2;
        var random = new Random(4);
        var inputs = Enumerable.Range(0, rows * length).Select(_ => (long)random.Next(257)).ToArray();
        var targets = Enumerable.Range(0, rows * length).Select(_ => (long)random.Next(257)).ToArray();

        using var reference = new StepEngine(config, seed: 2);
        var referenceLoss = reference.AccumulateGradients(inputs, targets, rows, length, microRows, rows * length);
        var final = Floats(reference.Parameters.Gradients);

        using var engine = new StepEngine(config, seed: 2);
        var announced = new List<int>();
        var atAnnouncement = new Dictionary<int, float[]>();
        var loss = engine.AccumulateGradients(inputs, targets, rows, length, microRows, rows * length, bucket =>
        {
            announced.Add(bucket);
            var b = engine.Buckets[bucket];
            atAnnouncement[bucket] = Floats(engine.Parameters.Gradients).AsSpan((int)b.Start, (int)b.Length).ToArray();
        });

        // Three micro-batches, one announcement per bucket: only the last backward finishes a gradient.
        Assert.Equal(Enumerable.Range(0, config.Layers + 1), announced);
        foreach (var b in engine.Buckets)
            Assert.True(final.AsSpan((int)b.Start, (int)b.Length).SequenceEqual(atAnnouncement[b.Index]),
                $"bucket {b.Index} changed after it was announced");
        // The signals change nothing that is computed.
        Assert.Equal(referenceLoss, loss);
        Assert.Equal(final, Floats(engine.Parameters.Gradients));
    }

    [Fact]
    public void TheLastBlocksBucketIsAnnouncedWhileBackwardHasTheFirstBlockStillToDo()
    {
        // The point of the overlap: bucket 0 is handed over while backward still has blocks to go.
        var config = ModelPresets.Tiny() with { VocabSize = 257, Layers = 2 };
        using var engine = new StepEngine(config, seed: 3);
        var tokens = Enumerable.Range(0, 4 * 16).Select(i => (long)(i * 7 % 257)).ToArray();
        var firstBlock = engine.Buckets[GradientBuckets.OfBlock(0, config.Layers)];
        float[]? firstBlockThen = null;
        engine.AccumulateGradients(tokens, tokens, 4, 16, 4, tokens.Length, bucket =>
        {
            if (bucket == 0) firstBlockThen = Floats(engine.Parameters.Gradients).AsSpan((int)firstBlock.Start, (int)firstBlock.Length).ToArray();
        });
        Assert.NotNull(firstBlockThen);
        Assert.All(firstBlockThen, g => Assert.Equal(0f, g));
        Assert.Contains(Floats(engine.Parameters.Gradients).AsSpan((int)firstBlock.Start, (int)firstBlock.Length).ToArray(), g => g != 0f);
    }

    private static float[] Floats(Tensor flat)
    {
        var copy = new float[flat.numel()];
        HostTensors.WithSpan(flat, writeBack: false, span => span.CopyTo(copy));
        return copy;
    }
}
