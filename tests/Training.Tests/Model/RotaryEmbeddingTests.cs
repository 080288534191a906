using GrowLength.Training.Model;
using static TorchSharp.torch;

namespace GrowLength.Training.Tests.Model;

/// <summary>RoPE's defining property and its scaling modes.</summary>
public sealed class RotaryEmbeddingTests
{
    private const int HeadDim = 16;

    // Places the same q at position m and the same k at position n; returns q·k after rotation.
    private static double Score(RotaryEmbedding rope, Tensor q, Tensor k, int m, int n)
    {
        using var scope = NewDisposeScope();
        var length = rope.Length;
        var qs = zeros([1, 1, length, HeadDim]);
        var ks = zeros([1, 1, length, HeadDim]);
        qs[0, 0, m] = q;
        ks[0, 0, n] = k;
        var rq = rope.Apply(qs)[0, 0, m];
        var rk = rope.Apply(ks)[0, 0, n];
        return rq.to(ScalarType.Float64).dot(rk.to(ScalarType.Float64)).item<double>();
    }

    [Fact]
    public void MatchesTheTextbookRotateHalfFormula()
    {
        // Apply folds rotate_half's sign into the sine table; check it against x·cos + rotate_half(x)·sin
        // computed from scratch in float64, on a strided (permuted) input as the attention passes it.
        using var scope = NewDisposeScope();
        const int length = 37;
        using var rope = new RotaryEmbedding(HeadDim, 10_000, CPU);
        rope.Prepare(length);
        var x = randn([2, length, 3, HeadDim]).permute(0, 2, 1, 3);          // [B, H, T, hd], not contiguous
        var half = HeadDim / 2;
        var inv = pow(10_000.0, -arange(0, half, dtype: ScalarType.Float64) * (2.0 / HeadDim));
        var angles = outer(arange(0, length, dtype: ScalarType.Float64), inv);
        var both = cat([angles, angles], 1);
        var x64 = x.to(ScalarType.Float64);
        var rotateHalf = cat([-x64.narrow(-1, half, half), x64.narrow(-1, 0, half)], -1);
        var expected = x64 * both.cos() + rotateHalf * both.sin();
        Assert.True(rope.Apply(x).to(ScalarType.Float64).allclose(expected, rtol: 1e-5, atol: 1e-5));
    }

    [Fact]
    public void DotProductDependsOnlyOnTheOffset()
    {
        using var rope = new RotaryEmbedding(HeadDim, 10_000, CPU);
        rope.Prepare(600);
        var gen = new Generator(11, CPU);
        var q = randn(HeadDim, generator: gen);
        var k = randn(HeadDim, generator: gen);
        foreach (var offset in new[] { 0, 3, 17 })
        {
            var reference = Score(rope, q, k, offset, 0);
            foreach (var start in new[] { 5, 100, 580 })
                Assert.Equal(reference, Score(rope, q, k, start + offset, start), 3);
        }
        // And it really does depend on the offset: otherwise the property above proves nothing.
        Assert.NotEqual(Score(rope, q, k, 0, 0), Score(rope, q, k, 5, 0), 3);
    }

    [Fact]
    public void RotationKeepsVectorNorms()
    {
        using var rope = new RotaryEmbedding(HeadDim, 10_000, CPU);
        rope.Prepare(64);
        var x = randn([2, 3, 64, HeadDim], generator: new Generator(5, CPU));
        var y = rope.Apply(x);
        Assert.True(x.norm(dim: -1).allclose(y.norm(dim: -1), rtol: 1e-5, atol: 1e-5));
    }

    [Fact]
    public void ExtrapolationTablesForLongerLengthsExtendShorterOnes()
    {
        using var shortRope = new RotaryEmbedding(HeadDim, 10_000, CPU);
        using var longRope = new RotaryEmbedding(HeadDim, 10_000, CPU);
        shortRope.Prepare(128);
        longRope.Prepare(1024);
        var x = randn([1, 1, 128, HeadDim], generator: new Generator(3, CPU));
        Assert.True(shortRope.Apply(x).allclose(longRope.Apply(x), rtol: 1e-6, atol: 1e-6));
    }

    [Fact]
    public void InterpolationSqueezesPositionsIntoTheTrainedRange()
    {
        using var interpolated = new RotaryEmbedding(HeadDim, 10_000, CPU);
        using var plain = new RotaryEmbedding(HeadDim, 10_000, CPU);
        interpolated.Prepare(256, RopeScaling.Interpolate, trainedLength: 128);
        plain.Prepare(256);
        var q = randn(HeadDim, generator: new Generator(9, CPU));
        var k = randn(HeadDim, generator: new Generator(10, CPU));
        // Offset 2 interpolated at factor 2 equals offset 1 unscaled.
        Assert.Equal(Score(plain, q, k, 1, 0), Score(interpolated, q, k, 2, 0), 4);
    }

    [Fact]
    public void NtkScalingLeavesTheHighestFrequencyAndChangesTheLowest()
    {
        using var ntk = new RotaryEmbedding(HeadDim, 10_000, CPU);
        using var plain = new RotaryEmbedding(HeadDim, 10_000, CPU);
        ntk.Prepare(512, RopeScaling.NtkAware, trainedLength: 128);
        plain.Prepare(512);
        var x = zeros([1, 1, 512, HeadDim]);
        x[0, 0, TensorIndex.Colon, 0] = ones(512);            // pair 0: highest frequency (θ^0)
        x[0, 0, TensorIndex.Colon, HeadDim / 2 - 1] = ones(512); // last pair: lowest frequency
        var a = ntk.Apply(x)[0, 0];
        var b = plain.Apply(x)[0, 0];
        Assert.True(a[TensorIndex.Colon, 0].allclose(b[TensorIndex.Colon, 0], atol: 1e-5));
        Assert.False(a[TensorIndex.Colon, HeadDim / 2 - 1].allclose(b[TensorIndex.Colon, HeadDim / 2 - 1], atol: 1e-3));
    }

    [Fact]
    public void ScalingDoesNothingWithinTheTrainedLength()
    {
        using var ntk = new RotaryEmbedding(HeadDim, 10_000, CPU);
        using var plain = new RotaryEmbedding(HeadDim, 10_000, CPU);
        ntk.Prepare(128, RopeScaling.NtkAware, trainedLength: 128);
        plain.Prepare(128);
        var x = randn([1, 2, 128, HeadDim], generator: new Generator(4, CPU));
        Assert.True(ntk.Apply(x).equal(plain.Apply(x)).all().item<bool>());
    }
}
