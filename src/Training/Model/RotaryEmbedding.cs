using TorchSharp;
using static TorchSharp.torch;

namespace GrowLength.Training.Model;

/// <summary>How RoPE treats positions beyond the length the model was trained at.</summary>
public enum RopeScaling
{
    /// <summary>Direct extrapolation: the same frequencies at every position (the GrowLength paper's choice while training).</summary>
    Extrapolate,

    /// <summary>Position interpolation (Chen et al. 2023): positions squeezed by trained/target into the trained range.</summary>
    Interpolate,

    /// <summary>NTK-aware scaling: the base θ raised by (target/trained)^(d/(d−2)), stretching low frequencies more than high.</summary>
    NtkAware,
}

/// <summary>Rotary position embedding tables (cos/sin) for one length, rebuilt when the length grows.</summary>
/// <remarks>Uses the GPT-NeoX "rotate half" layout: a head vector's first and second halves form the rotated pairs.</remarks>
public sealed class RotaryEmbedding : IDisposable
{
    private readonly int headDim;
    private readonly double theta;
    private readonly Device device;
    private Tensor? cos; // [T, headDim], fp32
    private Tensor? sin; // [T, headDim], fp32, with the first half negated: rotate_half's sign lives in the table

    public RotaryEmbedding(int headDim, double theta, Device device)
    {
        this.headDim = headDim;
        this.theta = theta;
        this.device = device;
    }

    /// <summary>Length the current tables cover.</summary>
    public int Length { get; private set; }

    /// <summary>Scaling mode of the current tables.</summary>
    public RopeScaling Scaling { get; private set; }

    /// <summary>Trained length the scaling is relative to.</summary>
    public int TrainedLength { get; private set; }

    /// <summary>Builds tables for <paramref name="length"/> positions unless the current ones already serve it.</summary>
    /// <param name="length">positions needed.</param>
    /// <param name="scaling">how to treat positions beyond <paramref name="trainedLength"/>.</param>
    /// <param name="trainedLength">the longest length seen in training; scaling only acts when length exceeds it.</param>
    public void Prepare(int length, RopeScaling scaling = RopeScaling.Extrapolate, int trainedLength = int.MaxValue)
    {
        // Extrapolation tables for a longer length contain the shorter ones, so a shrink keeps them.
        bool reusable = cos is not null && scaling == Scaling && TrainedLength == trainedLength
            && (length == Length || (scaling == RopeScaling.Extrapolate && length < Length));
        if (reusable) return;

        double factor = Math.Max(1.0, (double)length / trainedLength);
        double baseTheta = scaling == RopeScaling.NtkAware && factor > 1
            ? theta * Math.Pow(factor, headDim / (headDim - 2.0))
            : theta;
        double positionScale = scaling == RopeScaling.Interpolate ? 1.0 / factor : 1.0;

        using var scope = NewDisposeScope();
        var half = headDim / 2;
        // Inverse frequencies θ^(−2i/d), i = 0 … d/2−1, and the positions, in float64 so long tables stay exact. Made in
        // managed code: the tensor forms (pow of a Scalar, a product with a Scalar) passed implicit Scalars that a GC
        // could free during the native call, which failed a long run with "Unknown scalar type".
        var inv = tensor(Enumerable.Range(0, half).Select(i => Math.Pow(baseTheta, -(double)i * (2.0 / headDim))).ToArray(), ScalarType.Float64);
        var positions = tensor(Enumerable.Range(0, length).Select(p => p * positionScale).ToArray(), ScalarType.Float64);
        var angles = outer(positions, inv);                 // [T, d/2]
        var both = cat([angles, angles], dim: 1);           // [T, d]: the rotate-half layout pairs i and i + d/2
        var newCos = both.cos().to(ScalarType.Float32).to(device);
        var sines = both.sin();
        sines.narrow(1, 0, half).neg_();                   // so Apply needs no negation pass (see there)
        var newSin = sines.to(ScalarType.Float32).to(device);
        cos?.Dispose();
        sin?.Dispose();
        cos = newCos.MoveToOuterDisposeScope();
        sin = newSin.MoveToOuterDisposeScope();
        Length = length;
        Scaling = scaling;
        TrainedLength = trainedLength;
    }

    /// <summary>Rotates query or key heads. x: [..., T, headDim] (e.g. [B, H, T, hd]); T must not exceed <see cref="Length"/>.</summary>
    public Tensor Apply(Tensor x)
    {
        if (cos is null || sin is null) throw new InvalidOperationException("RotaryEmbedding.Prepare must run before Apply.");
        var t = x.shape[^2];
        if (t > Length) throw new InvalidOperationException($"RoPE tables cover {Length} positions; the batch has {t}.");
        var c = cos.narrow(0, 0, t).to(x.dtype);            // [T, d], broadcast over B and H
        var s = sin.narrow(0, 0, t).to(x.dtype);
        var half = headDim / 2;
        // rotate_half(x)·sin = [−x2, x1]·sin = [x2, x1]·[−sin₁, sin₂]; with the sign in the table this is
        // one cat and one addcmul besides x·cos, three passes instead of five (neg, cat, mul, mul, add).
        // Measured 1.06–1.6x faster forward + backward on q and k of a 4096-token micro-batch (d = 256, 2 loaded cores).
        var swapped = cat([x.narrow(-1, half, half), x.narrow(-1, 0, half)], dim: -1);
        return addcmul(x * c, swapped, s, 1);
    }

    public void Dispose()
    {
        cos?.Dispose();
        sin?.Dispose();
    }
}
