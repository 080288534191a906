using static TorchSharp.torch;

namespace GrowLength.Training.Distributed;

/// <summary>Sums every worker's flat gradient in place, so after the call all workers hold the same buffer.</summary>
/// <remarks>
/// One seam, several engines: over Orleans messages between worker grains (any cluster, CPU), and NCCL for GPUs
/// (a later engine; it would take the device tensor as is). Gradients from <see cref="Engine.StepEngine"/> are
/// already scaled by 1 / (tokens of the whole step), so a sum is the token-weighted average.
/// </remarks>
public interface IGradientExchange
{
    /// <summary>Workers taking part.</summary>
    int WorldSize { get; }

    /// <summary>Sums <paramref name="gradients"/> (flat fp32) over all workers for step <paramref name="step"/>; blocks the calling (training) thread.</summary>
    void SumInPlace(long step, Tensor gradients, CancellationToken cancel);
}

/// <summary>The exchange of a single worker: nothing to add.</summary>
public sealed class SingleWorkerExchange : IGradientExchange
{
    public int WorldSize => 1;

    public void SumInPlace(long step, Tensor gradients, CancellationToken cancel) { }
}
