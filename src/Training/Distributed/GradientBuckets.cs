using GrowLength.Training.Optim;

namespace GrowLength.Training.Distributed;

/// <summary>A contiguous range [Start, Start + Length) of the flat gradient buffer that is exchanged as one unit.</summary>
/// <param name="Index">its place in <see cref="GradientBuckets.ByBlock"/>'s order, which is the order backward completes them.</param>
public sealed record GradientBucket(int Index, long Start, long Length);

/// <summary>Cuts the flat gradient into one bucket per Transformer block, in the order the backward pass finishes them, so
/// the exchange of the last block's gradient can run while backward computes the earlier blocks' (as PyTorch DDP's
/// buckets do).</summary>
public static class GradientBuckets
{
    /// <summary>Bucket 0 is the last block with every parameter after it (final norm, LM head), whose gradients are complete
    /// before that block's; bucket k is block L − 1 − k; bucket L is everything before block 0 (the embedding, complete only
    /// when backward ends, since a tied LM head shares it). Together they tile the buffer exactly.</summary>
    /// <param name="layout">the flat buffer's parameters in order (<see cref="FlatParameters.Layout"/>).</param>
    /// <param name="count">elements in the buffer.</param>
    /// <param name="layers">Transformer blocks, named <c>blocks.{i}.…</c>.</param>
    public static IReadOnlyList<GradientBucket> ByBlock(IEnumerable<(string Name, long Offset, long[] Shape)> layout, long count, int layers)
    {
        var entries = layout.ToList();
        var starts = new long[layers + 1];
        for (int i = 0; i < layers; i++)
        {
            var prefix = $"blocks.{i}.";
            var first = entries.FindIndex(e => e.Name.StartsWith(prefix, StringComparison.Ordinal));
            if (first < 0) throw new ArgumentException($"the model has no parameters named {prefix}*", nameof(layout));
            starts[i] = entries[first].Offset;
            if (i > 0 && starts[i] <= starts[i - 1])
                throw new ArgumentException($"block {i}'s parameters do not follow block {i - 1}'s in the flat buffer", nameof(layout));
        }
        starts[layers] = count;
        var buckets = new List<GradientBucket>(layers + 1);
        for (int k = 0; k < layers; k++)
        {
            int block = layers - 1 - k;
            long end = k == 0 ? count : starts[block + 1];
            buckets.Add(new GradientBucket(k, starts[block], end - starts[block]));
        }
        buckets.Add(new GradientBucket(layers, 0, starts[0]));
        return buckets;
    }

    /// <summary>The bucket holding block <paramref name="block"/>'s gradients.</summary>
    public static int OfBlock(int block, int layers) => layers - 1 - block;
}
